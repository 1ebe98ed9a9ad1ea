"""CreateGrant's refusals on the wire (https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html)."""
import pytest

GRANTEE = "arn:aws:iam::111122223333:role/app"


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _grants(wire, key):
    return wire.call("kms", "ListGrants", {"KeyId": key}).body["Grants"]


@pytest.mark.parametrize("operations", [["CreateGrant"], ["CreateGrant", "CreateGrant"]])
def test_a_grant_of_create_grant_alone_is_refused(wire, operations):
    """"ValidationException ... CreateGrant operation: Grants must not contain only the CreateGrant
    operation." (AWS's answer quoted in ansible/ansible#31960); no grant is made."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": GRANTEE, "Operations": operations})
    assert (r.status, r.body) == (400, {"__type": "ValidationException",
                                        "message": "Grants must not contain only the CreateGrant operation."})
    assert _grants(wire, key) == []


def test_create_grant_with_another_operation_is_a_grant(wire):
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": GRANTEE,
                                         "Operations": ["CreateGrant", "Decrypt"]})
    assert r.status == 200 and set(r.body) == {"GrantId", "GrantToken"}
    assert [g["GrantId"] for g in _grants(wire, key)] == [r.body["GrantId"]]


def test_an_operation_the_key_cannot_perform_is_refused(wire):
    """"The grant operations must be ones that the KMS key supports" (Operations): Sign on a symmetric
    encryption key; the text is keyplane's."""
    key = _key(wire)
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": GRANTEE, "Operations": ["Sign"]})
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert _grants(wire, key) == []


def test_a_grant_on_a_key_pending_deletion_is_invalid_state(wire):
    key = _key(wire)
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7})
    r = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": GRANTEE, "Operations": ["Decrypt"]})
    assert (r.status, r.body) == (400, {"__type": "KMSInvalidStateException", "message": f"{key} is pending deletion."})


@pytest.mark.parametrize("operations,message", [
    ([], "1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: "
         "Member must have length greater than or equal to 1"),
    (["CreateGrant"], "Grants must not contain only the CreateGrant operation."),
])
def test_the_operations_are_checked_before_the_key(wire, operations, message):
    """A request-only check comes before the key lookup: a missing key with bad Operations gets the
    Operations' error."""
    missing = _key(wire).rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    r = wire.call("kms", "CreateGrant", {"KeyId": missing, "GranteePrincipal": GRANTEE, "Operations": operations})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": message})
