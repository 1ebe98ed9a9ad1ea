"""ML-KEM KMS keys on the wire: CreateKey's spec/usage rules, Encapsulate, Decapsulate (implicit
rejection), GetPublicKey, GenerateDataKeyPair, and every refusal with its status and body.

Sources: CreateKey https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html,
Encapsulate https://docs.aws.amazon.com/kms/latest/APIReference/API_Encapsulate.html,
Decapsulate https://docs.aws.amazon.com/kms/latest/APIReference/API_Decapsulate.html,
GetPublicKey https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html,
GenerateDataKeyPair https://docs.aws.amazon.com/kms/latest/APIReference/API_GenerateDataKeyPair.html.
"""
import base64

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import mlkem

# SharedSecretCiphertextBlob: "768 bytes for ML_KEM_512, 1088 bytes for ML_KEM_768, and 1568 bytes
# for ML_KEM_1024" (Encapsulate's reference); the public key (FIPS 203 table 3) inside its SPKI
CIPHERTEXT = {"ML_KEM_768": 1088, "ML_KEM_1024": 1568}
PUBLIC_KEY = {"ML_KEM_768": 1184, "ML_KEM_1024": 1568}
# id-alg-ml-kem-768 / -1024 (2.16.840.1.101.3.4.4.2 / .3), DER-encoded, as RFC 9935 names them
OID = {"ML_KEM_768": bytes.fromhex("0609608648016503040402"), "ML_KEM_1024": bytes.fromhex("0609608648016503040403")}
LOCAL = {"ML_KEM_768": mlkem.MLKEM768PrivateKey, "ML_KEM_1024": mlkem.MLKEM1024PrivateKey}
SPECS = list(CIPHERTEXT)


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def _key(wire, **params) -> dict:
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]


def _kem(wire, spec="ML_KEM_768", **params) -> str:
    return _key(wire, KeySpec=spec, KeyUsage="ENCAPSULATE_DECAPSULATE", **params)["Arn"]


def _keys(wire) -> list:
    return wire.call("kms", "ListKeys").body["Keys"]


# ---- CreateKey -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS)
def test_create_key_makes_an_ml_kem_key_that_lists_ml_kem_only(wire, spec):
    """CreateKey: "For asymmetric KMS keys with ML-KEM key pairs, specify ENCAPSULATE_DECAPSULATE";
    KeyMetadata.EncapsulationAlgorithms is ["ML_KEM"], the only EncapsulationAlgorithmSpec, and no
    other algorithm list appears."""
    md = _key(wire, KeySpec=spec, KeyUsage="ENCAPSULATE_DECAPSULATE")
    assert (md["KeySpec"], md["CustomerMasterKeySpec"], md["KeyUsage"]) == (spec, spec, "ENCAPSULATE_DECAPSULATE")
    assert md["EncapsulationAlgorithms"] == ["ML_KEM"]
    assert not {"EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms", "MacAlgorithms",
                "CurrentKeyMaterialId"} & set(md)
    described = wire.call("kms", "DescribeKey", {"KeyId": md["KeyId"]}).body["KeyMetadata"]
    assert described["EncapsulationAlgorithms"] == ["ML_KEM"]


@pytest.mark.parametrize("params,message", [
    ({"KeySpec": "ML_KEM_768"},
     "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."),
    ({"KeySpec": "ML_KEM_768", "KeyUsage": "SIGN_VERIFY"}, "KeyUsage SIGN_VERIFY is not compatible with KeySpec ML_KEM_768"),
    ({"KeySpec": "ML_KEM_1024", "KeyUsage": "ENCRYPT_DECRYPT"},
     "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ML_KEM_1024"),
    ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "ENCAPSULATE_DECAPSULATE"},
     "KeyUsage ENCAPSULATE_DECAPSULATE is not compatible with KeySpec ECC_NIST_P256"),
    ({"KeyUsage": "ENCAPSULATE_DECAPSULATE"},        # the default spec: AWS's words (aws/aws-sdk#125)
     "The operation failed because the KeyUsage value of the CMK is ENCAPSULATE_DECAPSULATE. To perform this "
     "operation, the KeyUsage value must be ENCRYPT_DECRYPT."),
])
def test_create_key_refuses_a_usage_ml_kem_does_not_have_and_creates_nothing(wire, params, message):
    """CreateKey: KeyUsage "is optional when you are creating a symmetric encryption KMS key;
    otherwise, it is required", and ML-KEM keys take ENCAPSULATE_DECAPSULATE only."""
    r = wire.call("kms", "CreateKey", params)
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": message})
    assert _keys(wire) == []


def test_ml_kem_512_is_refused_saying_why_and_creates_nothing(wire):
    """ML_KEM_512 is in the model, but keyplane's crypto library has no ML-KEM-512: CreateKey answers
    UnsupportedOperationException (CreateKey's errors list it) naming the reason, not a silent
    "not supported in this Region"."""
    r = wire.call("kms", "CreateKey", {"KeySpec": "ML_KEM_512", "KeyUsage": "ENCAPSULATE_DECAPSULATE"})
    assert r.status == 400 and r.error_type == "UnsupportedOperationException"
    assert r.body["message"] == ("ML_KEM_512 is not supported by keyplane: its crypto library (cryptography) "
                                 "offers ML-KEM-768 and ML-KEM-1024 only. Use ML_KEM_768 or ML_KEM_1024.")
    assert _keys(wire) == []


# ---- Encapsulate / Decapsulate ---------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS)
def test_encapsulate_then_decapsulate_agree_on_a_32_byte_secret(wire, spec):
    """Encapsulate returns KeyId (the key ARN), a 32-byte SharedSecret, its SharedSecretCiphertextBlob
    (1088 / 1568 bytes) and EncapsulationAlgorithm; Decapsulate of that blob returns the same
    secret, with KeyId and EncapsulationAlgorithm and nothing else."""
    arn = _kem(wire, spec)
    r = wire.call("kms", "Encapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM"})
    assert r.status == 200 and set(r.body) == {"KeyId", "SharedSecret", "SharedSecretCiphertextBlob",
                                               "EncapsulationAlgorithm"}
    assert (r.body["KeyId"], r.body["EncapsulationAlgorithm"]) == (arn, "ML_KEM")
    secret, blob = b64(r.body["SharedSecret"]), b64(r.body["SharedSecretCiphertextBlob"])
    assert (len(secret), len(blob)) == (32, CIPHERTEXT[spec])
    d = wire.call("kms", "Decapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM",
                                         "SharedSecretCiphertextBlob": r.body["SharedSecretCiphertextBlob"]})
    assert d.status == 200 and set(d.body) == {"KeyId", "SharedSecret", "EncapsulationAlgorithm"}
    assert (d.body["KeyId"], b64(d.body["SharedSecret"]), d.body["EncapsulationAlgorithm"]) == (arn, secret, "ML_KEM")
    again = wire.call("kms", "Encapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM"}).body
    assert b64(again["SharedSecret"]) != secret        # a fresh secret every call


def test_encapsulate_by_alias_answers_with_the_key_arn(wire):
    """KeyId may be an alias name or alias ARN (Encapsulate's KeyId); the answer names the key ARN."""
    arn = _kem(wire)
    wire.call("kms", "CreateAlias", {"AliasName": "alias/kem", "TargetKeyId": arn})
    r = wire.call("kms", "Encapsulate", {"KeyId": "alias/kem", "EncapsulationAlgorithm": "ML_KEM"})
    assert r.status == 200 and r.body["KeyId"] == arn


@pytest.mark.parametrize("spec,length", [("ML_KEM_768", 1087), ("ML_KEM_768", 1568), ("ML_KEM_1024", 1088),
                                         ("ML_KEM_1024", 1), ("ML_KEM_768", 6144)])
def test_decapsulate_of_a_blob_of_the_wrong_length_is_invalid_ciphertext_without_a_message(wire, spec, length):
    """Decapsulate "returns an InvalidCiphertextException when the length of the
    SharedSecretCiphertextBlob is inconsistent with the ML-KEM key spec"; like Decrypt's, the error
    carries no message member."""
    arn = _kem(wire, spec)
    r = wire.call("kms", "Decapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM",
                                         "SharedSecretCiphertextBlob": b"\x01" * length})
    assert (r.status, r.body) == (400, {"__type": "InvalidCiphertextException"})


def test_decapsulate_rejects_implicitly_a_tampered_or_foreign_blob(wire):
    """"In all other cases, Decapsulate returns a 32-byte pseudo-random value. This is true even when
    the SharedSecretCiphertextBlob was created using a different ML-KEM key or altered from its
    original value" (implicit rejection): 200, 32 bytes, not the secret; and the same blob always
    gives the same answer (FIPS 203's rejection value is derived from the key and the blob)."""
    arn, other = _kem(wire), _kem(wire)
    enc = wire.call("kms", "Encapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM"}).body
    secret, blob = b64(enc["SharedSecret"]), bytearray(b64(enc["SharedSecretCiphertextBlob"]))
    blob[17] ^= 0x01
    answers = []
    for _ in range(2):
        r = wire.call("kms", "Decapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM",
                                             "SharedSecretCiphertextBlob": bytes(blob)})
        assert r.status == 200
        answers.append(b64(r.body["SharedSecret"]))
    assert len(answers[0]) == 32 and answers[0] != secret and answers[0] == answers[1]
    foreign = wire.call("kms", "Decapsulate", {"KeyId": other, "EncapsulationAlgorithm": "ML_KEM",
                                               "SharedSecretCiphertextBlob": enc["SharedSecretCiphertextBlob"]})
    assert foreign.status == 200 and len(b64(foreign.body["SharedSecret"])) == 32
    assert b64(foreign.body["SharedSecret"]) != secret


@pytest.mark.parametrize("operation", ["Encapsulate", "Decapsulate"])
@pytest.mark.parametrize("params,usage", [({}, "ENCRYPT_DECRYPT"), ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"},
                                                                     "SIGN_VERIFY"),
                                          ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "KEY_AGREEMENT"}, "KEY_AGREEMENT"),
                                          ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
                                           "GENERATE_VERIFY_MAC")])
def test_a_key_that_is_not_ml_kem_is_invalid_key_usage(wire, operation, params, usage):
    """InvalidKeyUsageException: "the KeyUsage value of the KMS key is incompatible with the API
    operation" (both operations list it), in KMS's words for a wrong usage."""
    arn = _key(wire, **params)["Arn"]
    body = {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM"}
    if operation == "Decapsulate":
        body["SharedSecretCiphertextBlob"] = b"\x00" * 1088
    r = wire.call("kms", operation, body)
    assert (r.status, r.body) == (400, {"__type": "InvalidKeyUsageException",
                                        "message": f"{arn} key usage is {usage} which is not valid for {operation}."})


@pytest.mark.parametrize("operation,params", [
    ("Encrypt", {"Plaintext": b"x"}),
    ("Sign", {"Message": b"m", "SigningAlgorithm": "ECDSA_SHA_256"}),
    ("GenerateMac", {"Message": b"m", "MacAlgorithm": "HMAC_SHA_256"}),
    ("GenerateDataKey", {"KeySpec": "AES_256"}),
])
def test_an_ml_kem_key_is_invalid_key_usage_for_other_operations(wire, operation, params):
    """An ENCAPSULATE_DECAPSULATE key does nothing but Encapsulate, Decapsulate and GetPublicKey."""
    arn = _kem(wire)
    r = wire.call("kms", operation, {"KeyId": arn, **params})
    assert (r.status, r.body) == (400, {"__type": "InvalidKeyUsageException", "message": (
        f"{arn} key usage is ENCAPSULATE_DECAPSULATE which is not valid for {operation}.")})


def test_encapsulate_and_decapsulate_dry_runs_check_everything_and_do_nothing(wire):
    """DryRun: DryRunOperationException (HTTP 400) when the call would have succeeded; a Decapsulate
    dry run with a blob of the wrong length is still InvalidCiphertextException."""
    arn = _kem(wire)
    r = wire.call("kms", "Encapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM", "DryRun": True})
    assert (r.status, r.error_type) == (400, "DryRunOperationException")
    blob = wire.call("kms", "Encapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM"}).body[
        "SharedSecretCiphertextBlob"]
    r = wire.call("kms", "Decapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM", "DryRun": True,
                                         "SharedSecretCiphertextBlob": blob})
    assert (r.status, r.error_type) == (400, "DryRunOperationException")
    assert "SharedSecret" not in r.body
    r = wire.call("kms", "Decapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM", "DryRun": True,
                                         "SharedSecretCiphertextBlob": b"x" * 10})
    assert (r.status, r.body) == (400, {"__type": "InvalidCiphertextException"})


def test_disabled_and_pending_deletion_keys_refuse_both_operations(wire):
    """Key states (https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html): Encapsulate
    and Decapsulate follow Sign: DisabledException, KMSInvalidStateException when pending deletion."""
    disabled, pending = _kem(wire), _kem(wire)
    wire.call("kms", "DisableKey", {"KeyId": disabled})
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": pending, "PendingWindowInDays": 7})
    for operation, extra in (("Encapsulate", {}), ("Decapsulate", {"SharedSecretCiphertextBlob": b"\0" * 1088})):
        r = wire.call("kms", operation, {"KeyId": disabled, "EncapsulationAlgorithm": "ML_KEM", **extra})
        assert (r.status, r.body) == (400, {"__type": "DisabledException", "message": f"{disabled} is disabled."})
        r = wire.call("kms", operation, {"KeyId": pending, "EncapsulationAlgorithm": "ML_KEM", **extra})
        assert (r.status, r.body) == (400, {"__type": "KMSInvalidStateException",
                                            "message": f"{pending} is pending deletion."})


def test_encapsulation_algorithm_is_required_and_must_be_ml_kem(wire):
    """EncapsulationAlgorithm is required; "The only valid value is ML_KEM" (the model's enum)."""
    arn = _kem(wire)
    r = wire.call("kms", "Encapsulate", {"KeyId": arn})
    assert r.status == 400 and r.error_type == "ValidationException"
    assert "encapsulationAlgorithm" in r.body["message"] and "must not be null" in r.body["message"]
    r = wire.call("kms", "Encapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ECDH"})
    assert r.status == 400 and r.error_type == "ValidationException"
    assert "Member must satisfy enum value set: [ML_KEM]" in r.body["message"]


def test_decapsulate_of_a_missing_key_is_not_found(wire):
    arn = _kem(wire)
    missing = arn.rsplit("/", 1)[0] + "/00000000-0000-4000-8000-000000000000"
    r = wire.call("kms", "Decapsulate", {"KeyId": missing, "EncapsulationAlgorithm": "ML_KEM",
                                         "SharedSecretCiphertextBlob": b"\0" * 1088})
    assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": f"Key '{missing}' does not exist"})


# ---- GetPublicKey ----------------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS)
def test_get_public_key_is_a_der_spki_of_the_ml_kem_key_that_outside_encapsulation_uses(wire, spec):
    """GetPublicKey: "a DER-encoded X.509 public key, also known as SubjectPublicKeyInfo (SPKI), as
    defined in RFC 5280" - for ML-KEM the id-alg-ml-kem-* algorithm with the raw encapsulation key
    (RFC 9935) - plus EncapsulationAlgorithms, "present only when the KMS key has a KeyUsage value of
    ENCAPSULATE_DECAPSULATE". A secret encapsulated outside KMS with it decapsulates inside."""
    arn = _kem(wire, spec)
    r = wire.call("kms", "GetPublicKey", {"KeyId": arn})
    assert r.status == 200
    assert {k: r.body[k] for k in ("KeyId", "KeySpec", "CustomerMasterKeySpec", "KeyUsage", "EncapsulationAlgorithms")} \
        == {"KeyId": arn, "KeySpec": spec, "CustomerMasterKeySpec": spec, "KeyUsage": "ENCAPSULATE_DECAPSULATE",
            "EncapsulationAlgorithms": ["ML_KEM"]}
    assert not {"EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms"} & set(r.body)
    der = b64(r.body["PublicKey"])
    # SEQUENCE { SEQUENCE { OID id-alg-ml-kem-* }, BIT STRING (0 unused bits) encapsulation key }
    assert der[4:6] == b"\x30\x0b" and der[6:17] == OID[spec]
    assert der.endswith(serialization.load_der_public_key(der).public_bytes_raw())
    assert len(der) == 22 + PUBLIC_KEY[spec]
    secret, blob = serialization.load_der_public_key(der).encapsulate()
    d = wire.call("kms", "Decapsulate", {"KeyId": arn, "EncapsulationAlgorithm": "ML_KEM",
                                         "SharedSecretCiphertextBlob": blob})
    assert b64(d.body["SharedSecret"]) == secret


# ---- GenerateDataKeyPair ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", SPECS)
def test_ml_kem_data_key_pair_is_pkcs8_in_seed_form_and_works_outside_kms(wire, spec):
    """GenerateDataKeyPair: "For ML-KEM data key pairs, the DER-encoded PKCS8 PrivateKeyInfo contains
    the private key in seed format. As a result, the length of the private key is the same for all
    ML-KEM key pair specs" (86 bytes: the 64-byte seed d||z under [0] IMPLICIT, RFC 9935); the
    public key is DER SPKI; the encrypted private key decrypts to the same PKCS#8."""
    key = _key(wire)["Arn"]
    r = wire.call("kms", "GenerateDataKeyPair", {"KeyId": key, "KeyPairSpec": spec})
    assert r.status == 200 and r.body["KeyPairSpec"] == spec
    private_der, public_der = b64(r.body["PrivateKeyPlaintext"]), b64(r.body["PublicKey"])
    assert len(private_der) == 86
    # SEQUENCE { INTEGER 0, SEQUENCE { OID id-alg-ml-kem-* }, OCTET STRING { [0] 64-byte seed } }
    assert private_der[:22] == bytes.fromhex("3054020100300b") + OID[spec] + bytes.fromhex("04428040")
    private = serialization.load_der_private_key(private_der, None)
    assert isinstance(private, LOCAL[spec])
    assert private.public_key() == serialization.load_der_public_key(public_der)
    # the seed rebuilds the same key, and the pair works
    assert LOCAL[spec].from_seed_bytes(private_der[22:]).public_key() == private.public_key()
    secret, blob = serialization.load_der_public_key(public_der).encapsulate()
    assert private.decapsulate(blob) == secret
    plain = wire.call("kms", "Decrypt", {"CiphertextBlob": r.body["PrivateKeyCiphertextBlob"]})
    assert b64(plain.body["Plaintext"]) == private_der
    r = wire.call("kms", "GenerateDataKeyPairWithoutPlaintext", {"KeyId": key, "KeyPairSpec": spec})
    assert r.status == 200 and "PrivateKeyPlaintext" not in r.body and len(b64(r.body["PublicKey"])) == 22 + PUBLIC_KEY[spec]


@pytest.mark.parametrize("operation", ["GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"])
def test_ml_kem_512_data_key_pair_is_refused_saying_why(wire, operation):
    key = _key(wire)["Arn"]
    r = wire.call("kms", operation, {"KeyId": key, "KeyPairSpec": "ML_KEM_512"})
    assert r.status == 400 and r.error_type == "UnsupportedOperationException"
    assert r.body["message"].startswith("ML_KEM_512 is not supported by keyplane")


def test_an_ml_kem_key_cannot_wrap_a_data_key_pair(wire):
    """GenerateDataKeyPair needs a symmetric encryption KMS key: an ML-KEM key is InvalidKeyUsage."""
    arn = _kem(wire)
    r = wire.call("kms", "GenerateDataKeyPair", {"KeyId": arn, "KeyPairSpec": "ML_KEM_768"})
    assert (r.status, r.error_type) == (400, "InvalidKeyUsageException")


# ---- grants ----------------------------------------------------------------------------------

def test_grants_on_an_ml_kem_key_take_its_operations_only(wire):
    """GrantOperation gained Encapsulate and Decapsulate; a grant may allow only what the key's usage
    does (https://docs.aws.amazon.com/kms/latest/developerguide/grants.html#terms-grant-operations)."""
    arn, symmetric = _kem(wire), _key(wire)["Arn"]
    grantee = "arn:aws:iam::111122223333:role/kem-user"
    r = wire.call("kms", "CreateGrant", {"KeyId": arn, "GranteePrincipal": grantee,
                                         "Operations": ["Encapsulate", "Decapsulate", "GetPublicKey", "DescribeKey"]})
    assert r.status == 200, r.body
    for key, operations in ((arn, ["Encrypt"]), (arn, ["Sign"]), (symmetric, ["Encapsulate"]),
                            (symmetric, ["Decapsulate"])):
        r = wire.call("kms", "CreateGrant", {"KeyId": key, "GranteePrincipal": grantee, "Operations": operations})
        assert (r.status, r.error_type) == (400, "ValidationException"), (key, operations)
    listed = wire.call("kms", "ListGrants", {"KeyId": arn}).body["Grants"]
    assert [sorted(g["Operations"]) for g in listed] == [["Decapsulate", "DescribeKey", "Encapsulate", "GetPublicKey"]]
