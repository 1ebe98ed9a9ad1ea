"""KMS checks and their wording on the wire: tags, alias names, rotation, RSA plaintext limits."""
import pytest


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["KeyId"]


def _tags(n, prefix="k"):
    return [{"TagKey": f"{prefix}{i}", "TagValue": "v"} for i in range(n)]


# ---- tags: https://docs.aws.amazon.com/kms/latest/APIReference/API_TagResource.html#API_TagResource_Errors
# and https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html (50 tags, unique keys,
# aws: reserved)

def test_51_tags_on_create_key_is_too_many_tags(wire):
    """CreateKey with 51 tags: TagException "Too many tags" (not LimitExceededException)."""
    r = wire.call("kms", "CreateKey", {"Tags": _tags(51)})
    assert (r.status, r.body) == (400, {"__type": "TagException", "message": "Too many tags"})
    assert wire.call("kms", "ListKeys").body["Keys"] == []


def test_tag_resource_past_50_is_too_many_tags_and_adds_none(wire):
    key = _key(wire, Tags=_tags(45))
    r = wire.call("kms", "TagResource", {"KeyId": key, "Tags": _tags(6, "n")})
    assert (r.status, r.body) == (400, {"__type": "TagException", "message": "Too many tags"})
    assert len(wire.call("kms", "ListResourceTags", {"KeyId": key}).body["Tags"]) == 45


def test_duplicate_tag_keys_are_refused(wire):
    """Tag keys are unique per key: a request naming one twice is TagException "Duplicate tag keys"."""
    key = _key(wire)
    r = wire.call("kms", "TagResource", {"KeyId": key, "Tags": [{"TagKey": "a", "TagValue": "1"},
                                                                 {"TagKey": "a", "TagValue": "2"}]})
    assert (r.status, r.body) == (400, {"__type": "TagException", "message": "Duplicate tag keys"})
    r = wire.call("kms", "CreateKey", {"Tags": [{"TagKey": "a", "TagValue": "1"}, {"TagKey": "a", "TagValue": "1"}]})
    assert r.body == {"__type": "TagException", "message": "Duplicate tag keys"}


@pytest.mark.parametrize("tag_key", ["aws:owner", "AWS:owner"])
def test_aws_prefix_is_reserved(wire, tag_key):
    key = _key(wire)
    r = wire.call("kms", "TagResource", {"KeyId": key, "Tags": [{"TagKey": tag_key, "TagValue": "x"}]})
    assert (r.status, r.body) == (400, {"__type": "TagException",
                                        "message": "Tags beginning with aws: are reserved"})
    assert wire.call("kms", "ListResourceTags", {"KeyId": key}).body["Tags"] == []


def test_tags_are_checked_before_the_key_is_looked_up(wire):
    """The request's tags are checked first: a missing key with a reserved tag gets the TagException."""
    missing = _key(wire).rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
    r = wire.call("kms", "TagResource", {"KeyId": missing, "Tags": [{"TagKey": "aws:x", "TagValue": "x"}]})
    assert (r.status, r.body) == (400, {"__type": "TagException",
                                        "message": "Tags beginning with aws: are reserved"})
    r = wire.call("kms", "TagResource", {"KeyId": missing, "Tags": [{"TagKey": "fine", "TagValue": "x"}]})
    assert (r.status, r.error_type) == (400, "NotFoundException")


# ---- alias names: https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html

def test_alias_name_with_colon_is_refused(wire):
    """The model's pattern admits ':', AWS does not: "alias/Service:Test contains invalid characters
    for an alias" (AWS's answer quoted in hashicorp/terraform-provider-aws#12891)."""
    key = _key(wire)
    r = wire.call("kms", "CreateAlias", {"AliasName": "alias/Service:Test", "TargetKeyId": key})
    assert (r.status, r.body) == (400, {"__type": "ValidationException",
                                        "message": "alias/Service:Test contains invalid characters for an alias"})
    assert all(a["AliasName"] != "alias/Service:Test" for a in wire.call("kms", "ListAliases").body["Aliases"])


def test_alias_without_prefix_is_validation(wire):
    key = _key(wire)
    r = wire.call("kms", "CreateAlias", {"AliasName": "app", "TargetKeyId": key})
    assert r.status == 400 and r.body == {"__type": "ValidationException", "message": (
        'Alias must start with the prefix "alias/". Please see '
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")}


# ---- rotation: https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html

def test_rotate_on_demand_checks_state_before_key_type(wire):
    """A disabled RSA key: DisabledException, not UnsupportedOperationException."""
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    wire.call("kms", "DisableKey", {"KeyId": key})
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert r.status == 400 and r.error_type == "DisabledException"


def test_rotate_on_demand_of_an_enabled_rsa_key_is_unsupported(wire):
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert r.status == 400 and r.error_type == "UnsupportedOperationException"


def test_on_demand_rotations_are_limited_to_25(wire):
    """"You can perform on-demand key rotation a maximum of 25 times per KMS key" (the current
    RotateKeyOnDemand reference and https://docs.aws.amazon.com/kms/latest/developerguide/rotating-keys-on-demand.html)."""
    key = _key(wire)
    for _ in range(25):
        assert wire.call("kms", "RotateKeyOnDemand", {"KeyId": key}).status == 200
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert r.status == 400 and r.error_type == "LimitExceededException"


# ---- RSA: https://docs.aws.amazon.com/kms/latest/developerguide/asymmetric-key-specs.html#key-spec-rsa
# (RSA_2048 with RSAES_OAEP_SHA_1 encrypts at most 214 bytes, with RSAES_OAEP_SHA_256 190)

@pytest.mark.parametrize("algorithm,limit", [("RSAES_OAEP_SHA_1", 214), ("RSAES_OAEP_SHA_256", 190)])
def test_rsa_plaintext_limit_wording(wire, algorithm, limit):
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    ok = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x" * limit, "EncryptionAlgorithm": algorithm})
    assert ok.status == 200
    r = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x" * (limit + 1), "EncryptionAlgorithm": algorithm})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        f"Algorithm {algorithm} and key spec RSA_2048 cannot encrypt data larger than {limit} bytes.")})
