"""Model validation on the wire, in AWS's (Coral) wording.

Constraints come from each operation's "Request Parameters" in the KMS API reference
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_RequestParameters);
AWS reports them as "N validation error(s) detected: Value '<v>' at '<member>' failed to satisfy
constraint: ..." and never shows a sensitive member's value: "Value at 'plaintext' ...".
"""


def _key(wire):
    return wire.call("kms", "CreateKey", {}).body["KeyMetadata"]["KeyId"]


def test_plaintext_over_4096_bytes_shows_no_value(wire):
    """Encrypt: Plaintext is at most 4096 bytes; AWS's answer, quoted in
    https://github.com/adenot/hiera-eyaml-kms/issues/8, shows no value at all."""
    r = wire.call("kms", "Encrypt", {"KeyId": _key(wire), "Plaintext": b"x" * 4097})
    assert r.status == 400
    assert r.body == {"__type": "ValidationException", "message": (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096")}


def test_missing_sensitive_member_shows_no_value(wire):
    """Encrypt without Plaintext (Required: Yes):
    https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_RequestParameters"""
    r = wire.call("kms", "Encrypt", {"KeyId": _key(wire)})
    assert r.status == 400 and r.body["message"] == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must not be null")


def test_missing_plain_member_is_value_null(wire):
    """DescribeKey without KeyId (Required: Yes):
    https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html#API_DescribeKey_RequestParameters"""
    r = wire.call("kms", "DescribeKey", {})
    assert r.status == 400 and r.body["message"] == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")


def test_empty_ciphertext_is_shown_by_length_only(wire):
    """Decrypt: CiphertextBlob has minimum length 1
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_RequestParameters);
    AWS's front end prints a refused blob as a Java byte buffer (its Rekognition answers show
    "Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'image.bytes'")."""
    r = wire.call("kms", "Decrypt", {"CiphertextBlob": b""})
    assert r.status == 400 and r.body["message"] == (
        "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'ciphertextBlob' "
        "failed to satisfy constraint: Member must have length greater than or equal to 1")
