"""KMS error answers on the wire: HTTP status and message presence.

https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html lists the common errors with
their statuses; each operation's "Errors" section lists HTTP 400 for every client error and 500 only
for DependencyTimeoutException, KeyUnavailableException and KMSInternalException.
"""
import uuid

import pytest

MISSING = f"arn:aws:kms:us-east-1:111122223333:key/{uuid.uuid4()}"


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["KeyId"]


def test_not_found_is_400(wire):
    """NotFoundException is HTTP 400:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html#API_DescribeKey_Errors"""
    r = wire.call("kms", "DescribeKey", {"KeyId": MISSING})
    assert r.status == 400 and r.error_type == "NotFoundException"
    assert r.headers["content-type"] == "application/x-amz-json-1.1"
    assert r.headers["x-amzn-requestid"]


def test_disabled_key_is_400(wire):
    """DisabledException is HTTP 400:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_Errors"""
    key = _key(wire)
    assert wire.call("kms", "DisableKey", {"KeyId": key}).status == 200
    r = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"})
    assert r.status == 400 and r.error_type == "DisabledException"


def test_invalid_state_is_400(wire):
    """KMSInvalidStateException is HTTP 400:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html#API_EnableKey_Errors"""
    key = _key(wire)
    assert wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7}).status == 200
    r = wire.call("kms", "EnableKey", {"KeyId": key})
    assert r.status == 400 and r.error_type == "KMSInvalidStateException"


def test_dry_run_is_400(wire):
    """DryRunOperationException is HTTP 400:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_Errors"""
    key = _key(wire)
    r = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x", "DryRun": True})
    assert r.status == 400 and r.error_type == "DryRunOperationException"


def test_already_exists_is_400(wire):
    """AlreadyExistsException is HTTP 400:
    https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html#API_CreateAlias_Errors"""
    key = _key(wire)
    assert wire.call("kms", "CreateAlias", {"AliasName": "alias/dup", "TargetKeyId": key}).status == 200
    r = wire.call("kms", "CreateAlias", {"AliasName": "alias/dup", "TargetKeyId": key})
    assert r.status == 400 and r.error_type == "AlreadyExistsException"


def test_invalid_ciphertext_has_no_message_member(wire):
    """Decrypt of a tampered ciphertext: InvalidCiphertextException, 400, and a body with no
    message member (AWS says nothing about why an integrity check failed).
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors"""
    key = _key(wire)
    blob = bytearray(__import__("base64").b64decode(
        wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"secret"}).body["CiphertextBlob"]))
    blob[-1] ^= 1
    r = wire.call("kms", "Decrypt", {"CiphertextBlob": bytes(blob)})
    assert r.status == 400 and r.body == {"__type": "InvalidCiphertextException"}


def test_invalid_signature_has_no_message_member(wire):
    """Verify with a wrong signature: KMSInvalidSignatureException, 400, no message member.
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html#API_Verify_Errors"""
    key = _key(wire, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    r = wire.call("kms", "Verify", {"KeyId": key, "Message": b"m", "Signature": b"\x30\x06\x02\x01\x01\x02\x01\x01",
                                    "SigningAlgorithm": "ECDSA_SHA_256"})
    assert r.status == 400 and r.body == {"__type": "KMSInvalidSignatureException"}


def test_invalid_mac_has_no_message_member(wire):
    """VerifyMac with a wrong MAC: KMSInvalidMacException, 400, no message member.
    https://docs.aws.amazon.com/kms/latest/APIReference/API_VerifyMac.html#API_VerifyMac_Errors"""
    key = _key(wire, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    r = wire.call("kms", "VerifyMac", {"KeyId": key, "Message": b"m", "Mac": b"\0" * 32,
                                       "MacAlgorithm": "HMAC_SHA_256"})
    assert r.status == 400 and r.body == {"__type": "KMSInvalidMacException"}


@pytest.mark.parametrize("code", ["KMSInternalException", "KeyUnavailableException", "DependencyTimeoutException"])
def test_only_the_models_faults_are_500(code):
    """The status table gives 500 exactly to the shapes botocore's KMS model marks as faults,
    which are the errors the API reference lists with HTTP 500."""
    from keyplane.engine.apimodel import botocore_session
    from keyplane.engine.errors import http_status
    shapes = botocore_session().get_service_data("kms")["shapes"]
    errors = {name for name, shape in shapes.items() if shape.get("exception")}
    faults = {name for name in errors if shapes[name].get("fault")}
    assert code in faults
    assert {name for name in errors if http_status(name, "kms") == 500} == faults


def test_a_ciphertext_whose_key_is_not_in_this_region_is_access_denied(wire):
    """A well-formed ciphertext whose key the Region does not hold gets AccessDeniedException, HTTP
    400, "The ciphertext refers to a customer master key that does not exist, does not exist in
    this region, or you are not allowed to access." -- AWS's answer as quoted with its status and
    code in https://github.com/Droplr/aws-env/issues/29 and
    https://github.com/aws/aws-encryption-sdk-javascript/issues/1005. Garbage stays
    InvalidCiphertextException, with no message member (test_error_bodies above)."""
    key = _key(wire)
    blob = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"}).body["CiphertextBlob"]
    import base64
    r = wire.call("kms", "Decrypt", {"CiphertextBlob": base64.b64decode(blob)}, region="eu-west-1")
    assert (r.status, r.error_type) == (400, "AccessDeniedException"), r.body
    assert r.body["message"] == ("The ciphertext refers to a customer master key that does not exist, does not "
                                 "exist in this region, or you are not allowed to access.")


def test_an_operation_without_response_elements_answers_an_empty_body(wire):
    """EnableKey, TagResource and the other operations whose model has no output shape answer
    "an HTTP 200 response with an empty HTTP body"
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKey.html#API_EnableKey_ResponseElements);
    an operation whose output has members keeps its JSON object."""
    key = _key(wire)
    for op, params in (("EnableKey", {"KeyId": key}),
                       ("TagResource", {"KeyId": key, "Tags": [{"TagKey": "a", "TagValue": "b"}]})):
        r = wire.call("kms", op, params)
        assert (r.status, r.raw) == (200, b""), (op, r.raw)
    assert wire.call("kms", "ListResourceTags", {"KeyId": key}).body["Tags"] == [{"TagKey": "a", "TagValue": "b"}]
    r = wire.call("secretsmanager", "CreateSecret", {"Name": "s", "SecretString": "v",
                                                     "ClientRequestToken": "0123456789abcdef0123456789abcdef"})
    assert r.status == 200
    r = wire.call("secretsmanager", "TagResource", {"SecretId": "s", "Tags": [{"Key": "a", "Value": "b"}]})
    assert (r.status, r.raw) == (200, b""), r.raw
