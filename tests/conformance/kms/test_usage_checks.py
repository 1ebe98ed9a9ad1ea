"""Whether a key fits the operation and the algorithm asked for, and which check comes first.

AWS's words: "<key ARN> key usage is SIGN_VERIFY which is not valid for Encrypt." (InvalidKeyUsage-
Exception, quoted in jonathankeebler/jwt-kms#4) and "Algorithm SYMMETRIC_DEFAULT is incompatible with
key spec RSA_4096." (InvalidKeyUsageException, quoted in zalando/spring-cloud-config-aws-kms#82 and
jkroepke/helm-secrets#395). The key's state is checked before its usage: a disabled key is
DisabledException whatever is asked of it.
"""
import hashlib

import pytest


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _usage(key, usage, operation):
    return {"__type": "InvalidKeyUsageException",
            "message": f"{key} key usage is {usage} which is not valid for {operation}."}


def _algorithm(algorithm, spec):
    return {"__type": "InvalidKeyUsageException", "message": f"Algorithm {algorithm} is incompatible with key spec {spec}."}


# ---- Encrypt: https://docs.aws.amazon.com/kms/latest/APIReference/API_Encrypt.html#API_Encrypt_Errors

def test_encrypt_with_a_signing_key_is_invalid_key_usage(wire):
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    r = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"})
    assert (r.status, r.body) == (400, _usage(key, "SIGN_VERIFY", "Encrypt"))


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_4096"])
def test_encrypt_with_an_rsa_key_and_no_algorithm_is_symmetric_default_incompatible(wire, spec):
    """EncryptionAlgorithm defaults to SYMMETRIC_DEFAULT, which no RSA key supports."""
    key = _key(wire, KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")
    r = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"})
    assert (r.status, r.body) == (400, _algorithm("SYMMETRIC_DEFAULT", spec))


def test_encrypt_with_an_rsa_algorithm_on_a_symmetric_key_is_incompatible(wire):
    key = _key(wire)
    r = wire.call("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x", "EncryptionAlgorithm": "RSAES_OAEP_SHA_256"})
    assert (r.status, r.body) == (400, _algorithm("RSAES_OAEP_SHA_256", "SYMMETRIC_DEFAULT"))


def test_disabled_key_of_the_wrong_usage_is_disabled(wire):
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    wire.call("kms", "DisableKey", {"KeyId": key})
    for op, params in (("Encrypt", {"Plaintext": b"x"}), ("GenerateDataKey", {"KeySpec": "AES_256"}),
                       ("GenerateMac", {"Message": b"m", "MacAlgorithm": "HMAC_SHA_256"})):
        r = wire.call("kms", op, {"KeyId": key, **params})
        assert (r.status, r.body) == (400, {"__type": "DisabledException", "message": f"{key} is disabled."}), op


# ---- Sign / Verify: https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html

def test_sign_with_an_encryption_key_is_invalid_key_usage(wire):
    key = _key(wire, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    r = wire.call("kms", "Sign", {"KeyId": key, "Message": b"m", "SigningAlgorithm": "RSASSA_PSS_SHA_256"})
    assert (r.status, r.body) == (400, _usage(key, "ENCRYPT_DECRYPT", "Sign"))
    r = wire.call("kms", "Verify", {"KeyId": key, "Message": b"m", "Signature": b"s",
                                    "SigningAlgorithm": "RSASSA_PSS_SHA_256"})
    assert (r.status, r.body) == (400, _usage(key, "ENCRYPT_DECRYPT", "Verify"))


def test_sign_with_another_curves_algorithm_is_incompatible(wire):
    """An ECC_NIST_P256 key signs with ECDSA_SHA_256 only (SigningAlgorithms in its KeyMetadata)."""
    key = _key(wire, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    r = wire.call("kms", "Sign", {"KeyId": key, "Message": b"m", "SigningAlgorithm": "ECDSA_SHA_384"})
    assert (r.status, r.body) == (400, _algorithm("ECDSA_SHA_384", "ECC_NIST_P256"))


def test_a_raw_message_over_4096_bytes_is_validation_with_no_value_shown(wire):
    """Message is at most 4096 bytes and sensitive: "Value at 'message' ..." shows nothing of it
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html#KMS-Sign-request-Message)."""
    key = _key(wire, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    r = wire.call("kms", "Sign", {"KeyId": key, "Message": b"m" * 4097, "SigningAlgorithm": "ECDSA_SHA_256"})
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        "1 validation error detected: Value at 'message' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096")})


@pytest.mark.parametrize("length", [31, 33, 48])
def test_a_digest_of_the_wrong_length_is_validation(wire, length):
    """"When the value of MessageType is DIGEST, the length of the Message value must match the length
    of hashed messages for the specified signing algorithm" (Sign, MessageType); the text of the
    refusal is not published, its code and the absence of a signature are asserted."""
    key = _key(wire, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    r = wire.call("kms", "Sign", {"KeyId": key, "Message": b"d" * length, "MessageType": "DIGEST",
                                  "SigningAlgorithm": "ECDSA_SHA_256"})
    assert (r.status, r.error_type) == (400, "ValidationException"), r.body
    ok = wire.call("kms", "Sign", {"KeyId": key, "Message": hashlib.sha256(b"m").digest(), "MessageType": "DIGEST",
                                   "SigningAlgorithm": "ECDSA_SHA_256"})
    assert ok.status == 200 and ok.body["SigningAlgorithm"] == "ECDSA_SHA_256"


def test_a_raw_message_of_digest_length_is_hashed_again(wire):
    """RAW is the default MessageType: a 32-byte message is a message, hashed by KMS."""
    key = _key(wire, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    digest = hashlib.sha256(b"m").digest()
    sig = wire.call("kms", "Sign", {"KeyId": key, "Message": digest, "SigningAlgorithm": "ECDSA_SHA_256"}).body
    r = wire.call("kms", "Verify", {"KeyId": key, "Message": b"m", "MessageType": "RAW",
                                    "Signature": sig["Signature"], "SigningAlgorithm": "ECDSA_SHA_256"})
    assert (r.status, r.body) == (400, {"__type": "KMSInvalidSignatureException"})


# ---- GenerateMac / VerifyMac: https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateMac.html

def test_mac_with_another_sizes_algorithm_is_incompatible(wire):
    key = _key(wire, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    r = wire.call("kms", "GenerateMac", {"KeyId": key, "Message": b"m", "MacAlgorithm": "HMAC_SHA_512"})
    assert (r.status, r.body) == (400, _algorithm("HMAC_SHA_512", "HMAC_256"))
    r = wire.call("kms", "VerifyMac", {"KeyId": key, "Message": b"m", "Mac": b"\0" * 64,
                                       "MacAlgorithm": "HMAC_SHA_512"})
    assert (r.status, r.body) == (400, _algorithm("HMAC_SHA_512", "HMAC_256"))


def test_mac_with_a_symmetric_encryption_key_is_invalid_key_usage(wire):
    key = _key(wire)
    r = wire.call("kms", "GenerateMac", {"KeyId": key, "Message": b"m", "MacAlgorithm": "HMAC_SHA_256"})
    assert (r.status, r.body) == (400, _usage(key, "ENCRYPT_DECRYPT", "GenerateMac"))


def test_generate_data_key_pair_with_an_asymmetric_key_is_invalid_key_usage(wire):
    """GenerateDataKeyPair protects the private key under a symmetric encryption KMS key
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html)."""
    key = _key(wire, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    r = wire.call("kms", "GenerateDataKeyPair", {"KeyId": key, "KeyPairSpec": "ECC_NIST_P256"})
    assert (r.status, r.body) == (400, _usage(key, "SIGN_VERIFY", "GenerateDataKeyPair"))
