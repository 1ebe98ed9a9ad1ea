"""GetParametersForImport: which wrapping algorithm and wrapping key spec fit which key material.

https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html#KMS-GetParametersForImport-request-WrappingAlgorithm:
"To import an RSA private key, you must use an RSA_AES wrapping algorithm"; RSAES_OAEP_SHA_1/256 are
"Supported for all types of key material, except RSA key material (private key). You cannot use the
RSAES_OAEP_SHA_256 wrapping algorithm with the RSA_2048 wrapping key spec to wrap ECC_NIST_P521 key
material."; "As of October 10, 2023, KMS does not support the RSAES_PKCS1_V1_5 wrapping algorithm.";
SM2 and SM2PKE are China Regions only. The texts of these refusals are not published: codes,
statuses and that no parameters are issued are asserted.
"""
import pytest


def _external(wire, **params):
    r = wire.call("kms", "CreateKey", {"Origin": "EXTERNAL", **params})
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _parameters(wire, key, algorithm, spec):
    return wire.call("kms", "GetParametersForImport", {"KeyId": key, "WrappingAlgorithm": algorithm,
                                                       "WrappingKeySpec": spec})


RSA_SIGNING = {"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}
P521 = {"KeySpec": "ECC_NIST_P521", "KeyUsage": "SIGN_VERIFY"}


@pytest.mark.parametrize("key,algorithm,spec", [
    ({}, "RSAES_OAEP_SHA_256", "RSA_2048"),
    ({}, "RSA_AES_KEY_WRAP_SHA_1", "RSA_4096"),
    ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, "RSAES_OAEP_SHA_1", "RSA_3072"),
    (RSA_SIGNING, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
    (P521, "RSAES_OAEP_SHA_256", "RSA_3072"),
    (P521, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048"),
])
def test_fitting_combinations_issue_parameters(wire, key, algorithm, spec):
    r = _parameters(wire, _external(wire, **key), algorithm, spec)
    assert r.status == 200, r.body
    assert set(r.body) == {"KeyId", "ImportToken", "PublicKey", "ParametersValidTo"}


@pytest.mark.parametrize("key,algorithm,spec", [
    (RSA_SIGNING, "RSAES_OAEP_SHA_256", "RSA_4096"),
    (RSA_SIGNING, "RSAES_OAEP_SHA_1", "RSA_2048"),
    (P521, "RSAES_OAEP_SHA_256", "RSA_2048"),
])
def test_rsaes_oaep_cannot_wrap_rsa_keys_nor_p521_under_rsa_2048(wire, key, algorithm, spec):
    r = _parameters(wire, _external(wire, **key), algorithm, spec)
    assert (r.status, r.error_type) == (400, "ValidationException"), r.body


@pytest.mark.parametrize("algorithm,spec", [("RSAES_PKCS1_V1_5", "RSA_2048"), ("SM2PKE", "RSA_2048"),
                                            ("RSAES_OAEP_SHA_256", "SM2")])
def test_withdrawn_and_china_only_choices_are_unsupported(wire, algorithm, spec):
    r = _parameters(wire, _external(wire), algorithm, spec)
    assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), r.body


def test_a_key_pending_deletion_gets_no_parameters(wire):
    key = _external(wire)
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7})
    r = _parameters(wire, key, "RSAES_OAEP_SHA_256", "RSA_2048")
    assert (r.status, r.body) == (400, {"__type": "KMSInvalidStateException", "message": f"{key} is pending deletion."})
