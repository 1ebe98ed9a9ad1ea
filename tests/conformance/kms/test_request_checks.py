"""Checks of the request itself, and which comes first when the key is wrong too.

A check that needs only the request (a window out of range, members that exclude each other) is
made before the key is looked up: a request wrong in both ways gets the request's error.
"""
import uuid

import pytest


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _missing(key):
    return key.rsplit("/", 1)[0] + f"/{uuid.uuid4()}"


# ---- KeyId that is no key id: https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html

@pytest.mark.parametrize("key_id", ["testkmskey", "my-app-key"])
def test_a_key_id_that_is_no_id_arn_or_alias_is_invalid_key_id(wire, key_id):
    """"NotFoundException: Invalid keyId testkmskey" (AWS's answer to DescribeKey quoted in
    crossplane-contrib/provider-aws#1056): the value as given, not quoted."""
    for op, params in (("DescribeKey", {}), ("Encrypt", {"Plaintext": b"x"}), ("EnableKey", {})):
        r = wire.call("kms", op, {"KeyId": key_id, **params})
        assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": f"Invalid keyId {key_id}"})


# ---- ScheduleKeyDeletion: "If you include a value, it must be between 7 and 30, inclusive"
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_ScheduleKeyDeletion.html#KMS-ScheduleKeyDeletion-request-PendingWindowInDays;
# the model admits 1-365, KMS enforces 7-30, as the KMS documentation team explains in
# awsdocs/aws-cloudformation-user-guide#326)

@pytest.mark.parametrize("days,constraint", [(6, "greater than or equal to 7"), (1, "greater than or equal to 7"),
                                             (31, "less than or equal to 30"), (365, "less than or equal to 30")])
def test_pending_window_outside_7_to_30_days(wire, days, constraint):
    key = _key(wire)
    expected = {"__type": "ValidationException", "message": (
        f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: "
        f"Member must have value {constraint}")}
    r = wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": days})
    assert (r.status, r.body) == (400, expected)
    assert wire.call("kms", "DescribeKey", {"KeyId": key}).body["KeyMetadata"]["KeyState"] == "Enabled"
    # the window is checked before the key: a missing key with a bad window gets the window's error
    r = wire.call("kms", "ScheduleKeyDeletion", {"KeyId": _missing(key), "PendingWindowInDays": days})
    assert (r.status, r.body) == (400, expected)


@pytest.mark.parametrize("days", [7, 30])
def test_pending_window_bounds_are_accepted(wire, days):
    key = _key(wire)
    r = wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": days})
    assert r.status == 200 and r.body["PendingWindowInDays"] == days and r.body["KeyState"] == "PendingDeletion"


def test_schedule_deletion_twice_is_pending_deletion(wire):
    """"KMSInvalidStateException: arn:aws:kms:...:key/... is pending deletion." (AWS's answer to a
    second ScheduleKeyDeletion, quoted in hashicorp/terraform-provider-aws#17889)."""
    key = _key(wire)
    first = wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7})
    assert first.status == 200
    r = wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 30})
    assert (r.status, r.body) == (400, {"__type": "KMSInvalidStateException", "message": f"{key} is pending deletion."})
    assert wire.call("kms", "DescribeKey", {"KeyId": key}).body["KeyMetadata"]["DeletionDate"] == \
        first.body["DeletionDate"]


@pytest.mark.parametrize("state", ["Enabled", "Disabled"])
def test_cancel_deletion_of_a_key_not_pending_deletion_is_invalid_state(wire, state):
    """CancelKeyDeletion applies to keys in PendingDeletion only
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html); the text is keyplane's."""
    key = _key(wire)
    if state == "Disabled":
        wire.call("kms", "DisableKey", {"KeyId": key})
    r = wire.call("kms", "CancelKeyDeletion", {"KeyId": key})
    assert (r.status, r.error_type) == (400, "KMSInvalidStateException"), r.body
    assert wire.call("kms", "DescribeKey", {"KeyId": key}).body["KeyMetadata"]["KeyState"] == state


# ---- GenerateDataKey: "You must specify either the KeySpec or the NumberOfBytes parameter (but not
# both) in every GenerateDataKey request"
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKey.html)

DATA_SIZE = {"__type": "ValidationException", "message": "Please specify either number of bytes or key spec."}


@pytest.mark.parametrize("operation", ["GenerateDataKey", "GenerateDataKeyWithoutPlaintext"])
@pytest.mark.parametrize("size", [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}])
def test_data_key_needs_exactly_one_of_key_spec_and_number_of_bytes(wire, operation, size):
    """AWS's words for a request that names no size ("Please specify either number of bytes or key
    spec.", real KMS's answer to GenerateRandom with an empty body, reported in nsmithuk/local-kms#6);
    checked before the key: a missing key gets the same answer."""
    key = _key(wire)
    r = wire.call("kms", operation, {"KeyId": key, **size})
    assert (r.status, r.body) == (400, DATA_SIZE)
    r = wire.call("kms", operation, {"KeyId": _missing(key), **size})
    assert (r.status, r.body) == (400, DATA_SIZE)


def test_data_key_of_an_asymmetric_key_is_invalid_key_usage(wire):
    """GenerateDataKey needs a symmetric encryption key ("you cannot use an asymmetric KMS key ... to
    generate data keys"): an RSA encryption key and an HMAC key are InvalidKeyUsageException."""
    for spec, usage in (("RSA_2048", "ENCRYPT_DECRYPT"), ("HMAC_256", "GENERATE_VERIFY_MAC")):
        key = _key(wire, KeySpec=spec, KeyUsage=usage)
        r = wire.call("kms", "GenerateDataKey", {"KeyId": key, "KeySpec": "AES_256"})
        assert (r.status, r.error_type) == (400, "InvalidKeyUsageException"), r.body
    key = _key(wire, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    r = wire.call("kms", "GenerateDataKey", {"KeyId": key, "KeySpec": "AES_256"})
    assert r.body["message"] == f"{key} key usage is GENERATE_VERIFY_MAC which is not valid for GenerateDataKey."


# ---- imported key material on a key whose material KMS made:
# https://docs.aws.amazon.com/kms/latest/APIReference/API_DeleteImportedKeyMaterial.html and
# https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html (UnsupportedOperation)

@pytest.mark.parametrize("operation,params", [
    ("DeleteImportedKeyMaterial", {}),
    ("GetParametersForImport", {"WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048"}),
])
def test_import_operations_on_a_key_of_origin_aws_kms_are_refused_by_origin(wire, operation, params):
    """AWS's words for an operation a key's origin does not allow, "<key ARN> origin is AWS_KMS which
    is not valid for this operation." (the wording of its GetKeyRotationStatus answer for origin
    EXTERNAL, quoted in ansible-collections/community.aws#311)."""
    key = _key(wire)
    r = wire.call("kms", operation, {"KeyId": key, **params})
    assert (r.status, r.body) == (400, {"__type": "UnsupportedOperationException",
                                        "message": f"{key} origin is AWS_KMS which is not valid for this operation."})
    assert wire.call("kms", "DescribeKey", {"KeyId": key}).body["KeyMetadata"]["KeyState"] == "Enabled"


# ---- ImportKeyMaterial: "This parameter [ValidTo] is required when the value of the ExpirationModel
# parameter is KEY_MATERIAL_EXPIRES. Otherwise it is not valid."
# (https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html#KMS-ImportKeyMaterial-request-ValidTo)

@pytest.mark.parametrize("params", [{}, {"ExpirationModel": "KEY_MATERIAL_EXPIRES"},
                                    {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", "ValidTo": 4102444800}])
def test_import_expiration_model_and_valid_to_are_checked_before_the_key(wire, params):
    """The expiration members are checked before the key (or its token): ValidationException for a
    key that does not exist as for one that does; the texts are keyplane's."""
    key = _key(wire, Origin="EXTERNAL")
    for key_id in (key, _missing(key)):
        r = wire.call("kms", "ImportKeyMaterial", {"KeyId": key_id, "ImportToken": b"t" * 16,
                                                   "EncryptedKeyMaterial": b"m" * 16, **params})
        assert (r.status, r.error_type) == (400, "ValidationException"), r.body
    assert wire.call("kms", "DescribeKey", {"KeyId": key}).body["KeyMetadata"]["KeyState"] == "PendingImport"
