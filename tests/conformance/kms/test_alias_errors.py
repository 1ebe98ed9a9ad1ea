"""Alias operations' refusals on the wire: names, targets, AWS's reserved aliases.

https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html,
https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html and
https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteAlias.html list the errors of each:
InvalidAliasNameException is CreateAlias's alone.
"""
import pytest


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _alias(wire, name, key):
    r = wire.call("kms", "CreateAlias", {"AliasName": name, "TargetKeyId": key})
    assert r.status == 200, r.body


def _target(wire, name):
    aliases = wire.call("kms", "ListAliases").body["Aliases"]
    return next(a.get("TargetKeyId") for a in aliases if a["AliasName"] == name)


def test_an_existing_alias_name_is_already_exists(wire):
    """"AlreadyExistsException: An alias with the name arn:aws:kms:us-east-1:...:alias/... already
    exists" (AWS's answer quoted in cloudbees-oss/terraform-aws-cloudbees-ci-eks-addon#66 and
    crossplane-contrib/provider-aws#1741)."""
    key = _key(wire)
    _alias(wire, "alias/app", key)
    r = wire.call("kms", "CreateAlias", {"AliasName": "alias/app", "TargetKeyId": _key(wire)})
    arn = key.split(":key/")[0] + ":alias/app"
    assert (r.status, r.body) == (400, {"__type": "AlreadyExistsException",
                                        "message": f"An alias with the name {arn} already exists"})
    assert _target(wire, "alias/app") == key.rsplit("/", 1)[1]


def test_create_alias_under_the_aws_prefix_is_invalid_alias_name(wire):
    """"The alias name cannot begin with alias/aws/. The alias/aws/ prefix is reserved for AWS
    managed keys" (CreateAlias, AliasName); the text of the refusal is not published."""
    r = wire.call("kms", "CreateAlias", {"AliasName": "alias/aws/mine", "TargetKeyId": _key(wire)})
    assert (r.status, r.error_type) == (400, "InvalidAliasNameException")


def test_an_alias_of_an_aws_managed_key_is_refused_by_its_key_policy(wire):
    """AWS managed keys' policies allow no alias operation ("You don't have permission to associate
    an alias with an AWS managed key", UpdateAlias, TargetKeyId): CreateAlias, UpdateAlias to it and
    DeleteAlias of its alias are AccessDeniedException, from the key policy."""
    managed = wire.call("kms", "DescribeKey", {"KeyId": "alias/aws/ssm"}).body["KeyMetadata"]["Arn"]
    mine = _key(wire)
    _alias(wire, "alias/mine", mine)
    for op, params in (("CreateAlias", {"AliasName": "alias/other", "TargetKeyId": managed}),
                       ("UpdateAlias", {"AliasName": "alias/mine", "TargetKeyId": managed}),
                       ("DeleteAlias", {"AliasName": "alias/aws/ssm"}),
                       ("UpdateAlias", {"AliasName": "alias/aws/ssm", "TargetKeyId": mine})):
        r = wire.call("kms", op, params)
        assert (r.status, r.error_type) == (400, "AccessDeniedException"), (op, r.body)
        assert r.body["message"].startswith("User: ") and f"kms:{op}" in r.body["message"], r.body
    assert _target(wire, "alias/mine") == mine.rsplit("/", 1)[1]
    assert _target(wire, "alias/aws/ssm") == managed.rsplit("/", 1)[1]


def test_delete_of_a_predefined_alias_not_yet_made_is_not_found(wire):
    """ListAliases shows AWS's predefined aliases before their managed keys exist; there is no alias
    of the caller's to delete."""
    key = _key(wire)
    arn = key.split(":key/")[0] + ":alias/aws/ebs"
    r = wire.call("kms", "DeleteAlias", {"AliasName": "alias/aws/ebs"})
    assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": f"Alias {arn} is not found."})


def test_update_of_a_missing_alias_is_not_found(wire):
    key = _key(wire)
    arn = key.split(":key/")[0] + ":alias/none"
    r = wire.call("kms", "UpdateAlias", {"AliasName": "alias/none", "TargetKeyId": key})
    assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": f"Alias {arn} is not found."})


@pytest.mark.parametrize("operation", ["UpdateAlias", "DeleteAlias"])
def test_alias_name_rules_hold_for_update_and_delete(wire, operation):
    key = _key(wire)
    params = {"TargetKeyId": key} if operation == "UpdateAlias" else {}
    r = wire.call("kms", operation, {"AliasName": "app", **params})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        'Alias must start with the prefix "alias/". Please see '
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")})


# ---- UpdateAlias: "the new target KMS key must be the same type as the current target KMS key (both
# symmetric or both asymmetric or both HMAC) and they must have the same key usage"
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html#KMS-UpdateAlias-request-TargetKeyId)

@pytest.mark.parametrize("old,new", [
    ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}),
    ({"KeySpec": "ECC_NIST_P384", "KeyUsage": "SIGN_VERIFY"}, {"KeySpec": "RSA_4096", "KeyUsage": "SIGN_VERIFY"}),
    ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
     {"KeySpec": "HMAC_512", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    ({}, {}),
])
def test_update_alias_to_a_key_of_the_same_type_and_usage(wire, old, new):
    """RSA and ECC keys are both asymmetric: an alias moves between them when the usage is the same."""
    _alias(wire, "alias/app", _key(wire, **old))
    target = _key(wire, **new)
    r = wire.call("kms", "UpdateAlias", {"AliasName": "alias/app", "TargetKeyId": target})
    assert (r.status, r.body) == (200, {}), r.body
    assert _target(wire, "alias/app") == target.rsplit("/", 1)[1]


@pytest.mark.parametrize("old,new", [
    ({}, {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}),
    ({}, {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
    ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}),
    ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
     {"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}),
])
def test_update_alias_to_another_type_or_usage_is_refused_and_changes_nothing(wire, old, new):
    """The text of this refusal is not published; its code (ValidationException, a common error:
    UpdateAlias lists no other that fits) and that the alias stays are asserted."""
    first = _key(wire, **old)
    _alias(wire, "alias/app", first)
    r = wire.call("kms", "UpdateAlias", {"AliasName": "alias/app", "TargetKeyId": _key(wire, **new)})
    assert (r.status, r.error_type) == (400, "ValidationException"), r.body
    assert _target(wire, "alias/app") == first.rsplit("/", 1)[1]


def test_update_alias_to_a_key_pending_deletion_is_invalid_state(wire):
    _alias(wire, "alias/app", _key(wire))
    doomed = _key(wire)
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": doomed, "PendingWindowInDays": 7})
    r = wire.call("kms", "UpdateAlias", {"AliasName": "alias/app", "TargetKeyId": doomed})
    assert (r.status, r.body) == (400, {"__type": "KMSInvalidStateException",
                                        "message": f"{doomed} is pending deletion."})
