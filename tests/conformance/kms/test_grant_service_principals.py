"""Grants for AWS service principals (botocore 1.44's KMS model): CreateGrant's
GranteeServicePrincipal / RetiringServicePrincipal and the SourceArn grant constraint, and what
ListGrants, ListRetirableGrants and the grant check make of them.

Sources: https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html ("You must specify
either GranteePrincipal or GranteeServicePrincipal, but not both"; "You can specify either
RetiringPrincipal or RetiringServicePrincipal, but not both"; "When you specify a
GranteeServicePrincipal, you must also specify a SourceArn grant constraint. In addition, you must
specify either a RetiringPrincipal or a RetiringServicePrincipal"),
https://docs.aws.amazon.com/kms/latest/developerguide/create-grant-overview.html#grant-constraints
and https://docs.aws.amazon.com/kms/latest/developerguide/grants.html.

AWS does not publish the message texts of these ValidationExceptions: keyplane words them with the
documentation's own sentences, and the tests assert code, status and that nothing was created.
"""
import pytest

from keyplane.engine.identity import Principal

SERVICE = "dynamodb.us-east-1.amazonaws.com"
SOURCE = "arn:aws:dynamodb:us-east-1:111122223333:table/Orders"
READER = "arn:aws:iam::111122223333:role/reader"
READER_SESSION = "arn:aws:sts::111122223333:assumed-role/reader/app"


def _key(wire):
    r = wire.call("kms", "CreateKey", {})
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["KeyId"]


def _grants(wire, key, **filters):
    r = wire.call("kms", "ListGrants", {"KeyId": key, **filters})
    assert r.status == 200, r.body
    return r.body["Grants"]


def _service_grant(**extra):
    return {"GranteeServicePrincipal": SERVICE, "RetiringServicePrincipal": SERVICE,
            "Operations": ["Encrypt", "Decrypt", "DescribeKey"], "Constraints": {"SourceArn": SOURCE}, **extra}


# ---- CreateGrant: which members name the grantee and the retiring principal -------------------

@pytest.mark.parametrize("grantee", [
    {},                                                           # neither
    {"GranteePrincipal": READER, "GranteeServicePrincipal": SERVICE},   # both
])
def test_create_grant_needs_exactly_one_grantee(wire, grantee):
    """API_CreateGrant: "You must specify either GranteePrincipal or GranteeServicePrincipal, but not
    both." (the model leaves both optional). AWS's message text is not documented."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "Operations": ["Decrypt"], **grantee})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both.")})
    assert _grants(wire, key) == []


def test_create_grant_takes_at_most_one_retiring_principal(wire):
    """API_CreateGrant: "You can specify either RetiringPrincipal or RetiringServicePrincipal, but
    not both." AWS's message text is not documented."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "Operations": ["Decrypt"], "GranteePrincipal": READER,
                                         "RetiringPrincipal": READER, "RetiringServicePrincipal": SERVICE})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")})
    assert _grants(wire, key) == []


def test_service_grant_needs_a_source_arn_constraint(wire):
    """API_CreateGrant, GranteeServicePrincipal: "you must also specify a SourceArn grant constraint"."""
    key = _key(wire)
    for constraints in (None, {"EncryptionContextSubset": {"k": "v"}}):
        params = _service_grant(Constraints=constraints) if constraints else {
            k: v for k, v in _service_grant().items() if k != "Constraints"}
        r = wire.call("kms", "CreateGrant", {"KeyId": key, **params})
        assert r.status == 400 and r.error_type == "ValidationException", r.body
        assert "SourceArn" in r.body["message"]
    assert _grants(wire, key) == []


def test_service_grant_needs_a_retiring_principal(wire):
    """API_CreateGrant, GranteeServicePrincipal: "you must specify either a RetiringPrincipal or a
    RetiringServicePrincipal"."""
    key = _key(wire)
    params = {k: v for k, v in _service_grant().items() if k != "RetiringServicePrincipal"}
    r = wire.call("kms", "CreateGrant", {"KeyId": key, **params})
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert "RetiringPrincipal or a RetiringServicePrincipal" in r.body["message"]
    assert _grants(wire, key) == []
    # a RetiringPrincipal (an AWS principal) retires it just as well
    r = wire.call("kms", "CreateGrant", {"KeyId": key, **params, "RetiringPrincipal": READER})
    assert r.status == 200, r.body


def test_service_principal_must_have_the_service_principal_form(wire):
    """ServicePrincipalType's pattern: a dotted service name, not an ARN (model constraint)."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant(GranteeServicePrincipal=READER)})
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert "granteeServicePrincipal" in r.body["message"]


def test_both_encryption_context_constraints_are_refused(wire):
    """create-grant-overview.html#grant-constraints: "you can specify either EncryptionContextEquals
    or EncryptionContextSubset, but not both"."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": READER, "Operations": ["Decrypt"],
                                         "Constraints": {"EncryptionContextEquals": {"a": "1"},
                                                         "EncryptionContextSubset": {"a": "1"}}})
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert _grants(wire, key) == []


# ---- what the grant looks like ----------------------------------------------------------------

def test_service_grant_is_listed_under_the_service_members(wire):
    """grants.html / ListGrants: "When a grant is created with the GranteeServicePrincipal field, the
    ListGrants response always includes a GranteeServicePrincipal" (instead of GranteePrincipal);
    the create-grant-overview example shows RetiringServicePrincipal and Constraints.SourceArn."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant()})
    assert r.status == 200, r.body
    [entry] = _grants(wire, key)
    assert entry["GrantId"] == r.body["GrantId"]
    assert entry["GranteeServicePrincipal"] == SERVICE and "GranteePrincipal" not in entry
    assert entry["RetiringServicePrincipal"] == SERVICE and "RetiringPrincipal" not in entry
    assert entry["Constraints"] == {"SourceArn": SOURCE}
    assert entry["Operations"] == ["Decrypt", "Encrypt", "DescribeKey"]


def test_service_grant_name_makes_a_retry_idempotent(wire):
    """API_CreateGrant, Name: a retry with identical parameters returns the original GrantId; a
    grant that differs only in naming the grantee as a service principal is a different grant."""
    key = _key(wire)
    first = wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant(Name="orders")}).body["GrantId"]
    again = wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant(Name="orders")}).body["GrantId"]
    assert again == first
    other = wire.call("kms", "CreateGrant", {
        "KeyId": key, "Name": "orders", "GranteePrincipal": SERVICE, "RetiringServicePrincipal": SERVICE,
        "Operations": ["Encrypt", "Decrypt", "DescribeKey"], "Constraints": {"SourceArn": SOURCE}})
    assert other.status == 200 and other.body["GrantId"] != first


# ---- ListGrants / ListRetirableGrants filters ------------------------------------------------

def test_list_grants_filters_by_grantee_kind(wire):
    """ListGrants: GranteePrincipal returns grants whose grantee principal it is; a service grant is
    not one (its grantee is a GranteeServicePrincipal). "You can specify either GranteePrincipal or
    GranteeServicePrincipal, but not both" (message text not documented)."""
    key = _key(wire)
    wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant()})
    mine = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": READER,
                                            "Operations": ["Decrypt"]}).body["GrantId"]
    assert [g["GrantId"] for g in _grants(wire, key, GranteePrincipal=READER)] == [mine]
    assert _grants(wire, key, GranteePrincipal=SERVICE) == []
    r = wire.call("kms", "ListGrants", {"KeyId": key, "GranteePrincipal": READER, "GranteeServicePrincipal": SERVICE})
    assert (r.status, r.error_type) == (400, "ValidationException")


def test_service_principal_filters_are_for_service_callers_only(wire):
    """API_ListGrants / API_ListRetirableGrants: "This filter is only usable by callers in a service
    principal." keyplane's callers are IAM identities, so the filter is refused as access denied
    (AWS's exact answer to a non-service caller is not documented)."""
    key = _key(wire)
    wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant()})
    r = wire.call("kms", "ListGrants", {"KeyId": key, "GranteeServicePrincipal": SERVICE})
    assert (r.status, r.error_type) == (400, "AccessDeniedException")
    assert "only usable by callers in a service principal" in r.body["message"]
    r = wire.call("kms", "ListRetirableGrants", {"RetiringServicePrincipal": SERVICE})
    assert (r.status, r.error_type) == (400, "AccessDeniedException")


@pytest.mark.parametrize("body", [{}, {"RetiringPrincipal": READER, "RetiringServicePrincipal": SERVICE}])
def test_list_retirable_grants_needs_exactly_one_retiring_principal(wire, body):
    """API_ListRetirableGrants: "You must specify either RetiringPrincipal or RetiringServicePrincipal,
    but not both." (both optional in the model; AWS's message text is not documented)."""
    r = wire.call("kms", "ListRetirableGrants", body)
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both.")})


def test_list_retirable_grants_by_retiring_principal_skips_service_retirers(wire):
    """API_ListRetirableGrants returns the grants "where the retiring principal specified in the
    request is the same retiring principal on the grant"."""
    key = _key(wire)
    wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant()})
    params = {k: v for k, v in _service_grant().items() if k != "RetiringServicePrincipal"}
    grant_id = wire.call("kms", "CreateGrant", {"KeyId": key, **params, "RetiringPrincipal": READER}).body["GrantId"]
    r = wire.call("kms", "ListRetirableGrants", {"RetiringPrincipal": READER})
    assert r.status == 200
    assert [(g["GrantId"], g["RetiringPrincipal"]) for g in r.body["Grants"]] == [(grant_id, READER)]
    assert wire.call("kms", "ListRetirableGrants", {"RetiringPrincipal": SERVICE}).body["Grants"] == []


# ---- SourceArn: a constraint that narrows, never widens ---------------------------------------

def _as_reader(engine, operation, params):
    """A call by the `reader` role's session (no identity policy: only a grant can let it in)."""
    ctx = engine.context(Principal.from_arn(READER_SESSION))
    return engine.invoke("kms", operation, params, ctx)


def test_source_arn_grant_allows_nothing_to_a_caller_without_a_source_arn(wire, engine):
    """grants.html: SourceArn "is effectively putting an aws:SourceArn global condition key into the
    grant"; create-grant-overview.html: it "is only evaluated when the request is made by an AWS
    service". A request with no aws:SourceArn (every keyplane caller's) does not satisfy it, as an
    aws:SourceArn condition is not met when the key is absent, so the grant allows it nothing —
    including DescribeKey ("can also be applied to the DescribeKey operation")."""
    from keyplane.engine.errors import AwsError
    key = _key(wire)
    wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": READER,
                                     "Operations": ["Encrypt", "DescribeKey"],
                                     "Constraints": {"SourceArn": SOURCE}})
    for operation, params in (("Encrypt", {"KeyId": key, "Plaintext": b"x"}), ("DescribeKey", {"KeyId": key})):
        with pytest.raises(AwsError) as e:
            _as_reader(engine, operation, params)
        assert e.value.code == "AccessDeniedException"
    # the same grant without the constraint does allow it
    wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": READER, "Operations": ["Encrypt"]})
    assert _as_reader(engine, "Encrypt", {"KeyId": key, "Plaintext": b"x"})["KeyId"].endswith(key)


def test_service_grant_allows_no_keyplane_caller(wire, engine):
    """A grant to a service principal gives nothing to IAM identities (grants.html: the grantee is
    "an AWS service principal")."""
    from keyplane.engine.errors import AwsError
    key = _key(wire)
    wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant(GranteeServicePrincipal="reader.amazonaws.com")})
    with pytest.raises(AwsError) as e:
        _as_reader(engine, "Encrypt", {"KeyId": key, "Plaintext": b"x"})
    assert e.value.code == "AccessDeniedException"


def test_retire_grant_of_a_service_grant_by_the_issuing_account(wire):
    """grant-delete.html: a grant can be retired by its retiring (service) principal, its grantee if
    the grant allows RetireGrant, or the account in which it was created."""
    key = _key(wire)
    grant_id = wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant()}).body["GrantId"]
    r = wire.call("kms", "RevokeGrant", {"KeyId": key, "GrantId": grant_id})
    assert r.status == 200, r.body
    assert _grants(wire, key) == []


def test_create_grant_condition_keys_for_service_grants(wire):
    """grant-authorization.html: kms:GranteeServicePrincipal, kms:RetiringServicePrincipal and
    kms:GrantConstraintSourceArn filter CreateGrant. A key policy allowing CreateGrant only for one
    service and source lets that grant through and refuses another."""
    import json
    key = _key(wire)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"StringNotEquals": {"kms:GranteeServicePrincipal": SERVICE}}},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"StringNotEquals": {"kms:GrantConstraintSourceArn": SOURCE}}}]}
    assert wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": json.dumps(policy)}).status == 200
    assert wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant()}).status == 200
    other = wire.call("kms", "CreateGrant", {"KeyId": key, **_service_grant(
        Constraints={"SourceArn": "arn:aws:dynamodb:us-east-1:111122223333:table/Other"})})
    assert (other.status, other.error_type) == (400, "AccessDeniedException")
