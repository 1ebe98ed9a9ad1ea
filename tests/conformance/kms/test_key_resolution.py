"""Which key a request names and what it may do: answers as AWS gives them."""
import base64

import pytest


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def test_key_arn_in_another_region_is_invalid_arn(wire):
    """A key ARN naming another Region: NotFoundException "Invalid arn <region>" (AWS's answer quoted
    in nakedible/openssl-engine-kms#1); https://docs.aws.amazon.com/kms/latest/APIReference/API_DescribeKey.html"""
    key = _key(wire)
    elsewhere = key.replace(":us-east-1:", ":eu-west-1:")
    for op, params in (("DescribeKey", {}), ("Encrypt", {"Plaintext": b"x"})):
        r = wire.call("kms", op, {"KeyId": elsewhere, **params})
        assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": "Invalid arn eu-west-1"})


def test_alias_arn_in_another_region_is_invalid_arn_too(wire):
    """An alias ARN is an ARN: naming another Region gets the same "Invalid arn <region>"."""
    key = _key(wire)
    wire.call("kms", "CreateAlias", {"AliasName": "alias/app", "TargetKeyId": key})
    elsewhere = key.split(":key/")[0].replace(":us-east-1:", ":eu-west-1:") + ":alias/app"
    r = wire.call("kms", "DescribeKey", {"KeyId": elsewhere})
    assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": "Invalid arn eu-west-1"})


def test_missing_key_wording(wire):
    key = _key(wire)
    missing = key[:-36] + "00000000-0000-0000-0000-000000000000"
    r = wire.call("kms", "DescribeKey", {"KeyId": missing})
    assert r.body == {"__type": "NotFoundException", "message": f"Key '{missing}' does not exist"}


@pytest.mark.parametrize("spec", ["HMAC_256", "RSA_2048", "ECC_NIST_P256"])
def test_create_key_without_key_usage_for_a_non_symmetric_spec(wire, spec):
    """KeyUsage "is optional when you are creating a symmetric encryption KMS key; otherwise, it is
    required": https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html#KMS-CreateKey-request-KeyUsage"""
    r = wire.call("kms", "CreateKey", {"KeySpec": spec})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")})
    assert wire.call("kms", "ListKeys").body["Keys"] == []


def test_symmetric_key_without_key_usage_is_encrypt_decrypt(wire):
    r = wire.call("kms", "CreateKey", {"KeySpec": "SYMMETRIC_DEFAULT"})
    assert r.status == 200 and r.body["KeyMetadata"]["KeyUsage"] == "ENCRYPT_DECRYPT"


def test_generate_random_without_number_of_bytes(wire):
    """NumberOfBytes is optional in the model, but "This parameter is required"
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateRandom.html; aws/aws-sdk#380):
    the service refuses its absence with its own message, not the model's null-member one --
    "Please specify either number of bytes or key spec.", real KMS's answer to a GenerateRandom with
    an empty body as reported in nsmithuk/local-kms#6."""
    r = wire.call("kms", "GenerateRandom", {})
    assert (r.status, r.body) == (400, {"__type": "ValidationException",
                                        "message": "Please specify either number of bytes or key spec."})


@pytest.fixture
def hmac_and_ciphertext(wire):
    symmetric = _key(wire)
    hmac = _key(wire, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    blob = base64.b64decode(wire.call("kms", "Encrypt", {"KeyId": symmetric, "Plaintext": b"x"}).body["CiphertextBlob"])
    return symmetric, hmac, blob


def test_decrypt_naming_an_hmac_key_is_incorrect_key(wire, hmac_and_ciphertext):
    """"If you identify a different KMS key, the Decrypt operation throws an IncorrectKeyException"
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#KMS-Decrypt-request-KeyId)."""
    _, hmac, blob = hmac_and_ciphertext
    r = wire.call("kms", "Decrypt", {"KeyId": hmac, "CiphertextBlob": blob})
    assert r.status == 400 and r.error_type == "IncorrectKeyException"


def test_reencrypt_from_an_hmac_key_is_incorrect_key(wire, hmac_and_ciphertext):
    """https://docs.aws.amazon.com/kms/latest/APIReference/API_ReEncrypt.html#API_ReEncrypt_Errors"""
    symmetric, hmac, blob = hmac_and_ciphertext
    r = wire.call("kms", "ReEncrypt", {"SourceKeyId": hmac, "CiphertextBlob": blob, "DestinationKeyId": symmetric})
    assert r.status == 400 and r.error_type == "IncorrectKeyException"


def test_reencrypt_to_an_hmac_key_is_invalid_key_usage(wire, hmac_and_ciphertext):
    symmetric, hmac, blob = hmac_and_ciphertext
    r = wire.call("kms", "ReEncrypt", {"CiphertextBlob": blob, "DestinationKeyId": hmac})
    assert r.status == 400 and r.error_type == "InvalidKeyUsageException"


@pytest.mark.parametrize("usage", ["SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"])
def test_create_key_with_the_default_spec_and_another_usage(wire, usage):
    """"ValidationException: The operation failed because the KeyUsage value of the CMK is SIGN_VERIFY.
    To perform this operation, the KeyUsage value must be ENCRYPT_DECRYPT." (AWS's answer to a
    CreateKey whose KeySpec it did not read, so SYMMETRIC_DEFAULT, quoted in aws/aws-sdk#125)."""
    r = wire.call("kms", "CreateKey", {"KeyUsage": usage})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        f"The operation failed because the KeyUsage value of the CMK is {usage}. To perform this operation, "
        "the KeyUsage value must be ENCRYPT_DECRYPT.")})
    assert wire.call("kms", "ListKeys").body["Keys"] == []
