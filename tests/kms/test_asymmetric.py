"""Asymmetric KMS keys through real boto3 clients: key specs and usages, Sign/Verify, GetPublicKey,
RSA encryption, DeriveSharedSecret, and the errors AWS gives when an operation does not fit a key."""
from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

import keyplane
from keyplane.engine.clock import ManualClock
from keyplane.engine.core import Engine
from keyplane.engine.sealing import material_aad


def code_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def message_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Message"]


@pytest.fixture
def kms(module_kms):
    """This module's tests share one engine: none of them needs an empty store."""
    return module_kms


@pytest.fixture(scope="module")
def key(module_kms):
    """key(spec, usage): one key of each kind per module (RSA key generation dominates these tests)."""
    made = {}

    def get(spec: str, usage: str) -> str:
        if (spec, usage) not in made:
            made[spec, usage] = module_kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]
        return made[spec, usage]
    return get


# ---- key specs and usages ---------------------------------------------------------------------
RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
               "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]


@pytest.mark.parametrize("spec,usage,field,algorithms", [
    ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
    ("RSA_2048", "SIGN_VERIFY", "SigningAlgorithms", RSA_SIGNING),
    ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
    ("ECC_NIST_P521", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_512"]),
    ("ECC_NIST_P256", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_NIST_P521", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
    ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
    ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
    ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"]),
    ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"]),
])
def test_key_metadata_lists_the_algorithms_of_its_spec_and_usage(kms, spec, usage, field, algorithms):
    md = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert (md["KeySpec"], md["CustomerMasterKeySpec"], md["KeyUsage"]) == (spec, spec, usage)
    assert md[field] == algorithms
    others = {"EncryptionAlgorithms", "SigningAlgorithms", "KeyAgreementAlgorithms", "MacAlgorithms",
              "EncapsulationAlgorithms"} - {field}
    assert not others & set(md)
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"][field] == algorithms


@pytest.mark.parametrize("spec,usage", [
    ("RSA_2048", "KEY_AGREEMENT"), ("RSA_2048", "GENERATE_VERIFY_MAC"),
    ("ECC_NIST_P256", "ENCRYPT_DECRYPT"), ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
    ("ECC_NIST_EDWARDS25519", "KEY_AGREEMENT"), ("ECC_NIST_EDWARDS25519", "ENCRYPT_DECRYPT"),
    ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
])
def test_create_key_refuses_an_impossible_spec_usage_pair_and_creates_nothing(kms, spec, usage):
    before = kms.list_keys(Limit=1000)["Keys"]
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert code_of(exc) == "ValidationException"
    if spec == "SYMMETRIC_DEFAULT":     # AWS's answer, quoted in aws/aws-sdk#125
        assert message_of(exc) == (f"The operation failed because the KeyUsage value of the CMK is {usage}. To "
                                   "perform this operation, the KeyUsage value must be ENCRYPT_DECRYPT.")
    else:
        assert message_of(exc) == f"KeyUsage {usage} is not compatible with KeySpec {spec}"
    assert kms.list_keys(Limit=1000)["Keys"] == before


def test_create_key_for_an_ecc_spec_needs_an_explicit_usage(kms):
    # KeyUsage "is optional when you are creating a symmetric encryption KMS key; otherwise, it is
    # required": https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html#KMS-CreateKey-request-KeyUsage
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="ECC_NIST_P256")
    assert message_of(exc) == "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."


@pytest.mark.parametrize("spec", ["SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_create_key_refuses_specs_keyplane_cannot_serve(kms, spec):
    before = kms.list_keys(Limit=1000)["Keys"]
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")
    assert code_of(exc) == "UnsupportedOperationException"
    assert spec in message_of(exc)
    assert kms.list_keys(Limit=1000)["Keys"] == before


# ---- Sign / Verify ----------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", RSA_SIGNING)
def test_rsa_signature_verifies_for_raw_message_and_its_digest(module_kms, key, algorithm):
    client = module_kms
    arn = key("RSA_2048", "SIGN_VERIFY")
    message = b"release 1.4.2"
    digest = hashlib.new("sha" + algorithm[-3:], message).digest()
    raw_sig = client.sign(KeyId=arn, Message=message, SigningAlgorithm=algorithm)
    assert raw_sig["SigningAlgorithm"] == algorithm and raw_sig["KeyId"] == arn
    digest_sig = client.sign(KeyId=arn, Message=digest, MessageType="DIGEST", SigningAlgorithm=algorithm)
    for signature in (raw_sig["Signature"], digest_sig["Signature"]):
        # a message and its digest are the same message (either MessageType verifies)
        assert client.verify(KeyId=arn, Message=message, Signature=signature,
                             SigningAlgorithm=algorithm)["SignatureValid"] is True
        assert client.verify(KeyId=arn, Message=digest, MessageType="DIGEST", Signature=signature,
                             SigningAlgorithm=algorithm)["SignatureValid"] is True


@pytest.mark.parametrize("spec,algorithm,hash_name", [
    ("ECC_NIST_P256", "ECDSA_SHA_256", "sha256"), ("ECC_NIST_P384", "ECDSA_SHA_384", "sha384"),
    ("ECC_NIST_P521", "ECDSA_SHA_512", "sha512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256", "sha256"),
])
def test_ecdsa_signature_verifies_with_the_public_key_outside_keyplane(kms, spec, algorithm, hash_name):
    arn = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm=algorithm)["Signature"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
    public.verify(signature, b"m", ec.ECDSA(getattr(hashes, hash_name.upper())()))  # raises if bad
    digest = hashlib.new(hash_name, b"m").digest()
    assert kms.verify(KeyId=arn, Message=digest, MessageType="DIGEST", Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True


def test_verify_of_a_tampered_message_is_invalid_signature(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = kms.sign(KeyId=arn, Message=b"pay 10", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    for message, sig in ((b"pay 99", signature), (b"pay 10", signature[:-1] + bytes([signature[-1] ^ 1])),
                         (b"pay 10", b"\x00" * 8)):
        with pytest.raises(ClientError) as exc:
            kms.verify(KeyId=arn, Message=message, Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
        assert code_of(exc) == "KMSInvalidSignatureException"


def test_verify_with_another_keys_signature_is_invalid_signature(module_kms, key):
    client = module_kms
    a = key("RSA_2048", "SIGN_VERIFY")
    b = client.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = client.sign(KeyId=a, Message=b"x", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    with pytest.raises(ClientError) as exc:
        client.verify(KeyId=b, Message=b"x", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert code_of(exc) == "KMSInvalidSignatureException"
    with pytest.raises(ClientError) as exc:   # same key, other padding
        client.verify(KeyId=a, Message=b"x", Signature=signature, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
    assert code_of(exc) == "KMSInvalidSignatureException"


@pytest.mark.parametrize("algorithm,length", [("RSASSA_PSS_SHA_256", 48), ("RSASSA_PKCS1_V1_5_SHA_512", 32),
                                              ("RSASSA_PSS_SHA_384", 47)])
def test_digest_of_the_wrong_length_is_a_validation_error(module_kms, key, algorithm, length):
    client = module_kms
    with pytest.raises(ClientError) as exc:
        client.sign(KeyId=key("RSA_2048", "SIGN_VERIFY"), Message=b"d" * length, MessageType="DIGEST",
                    SigningAlgorithm=algorithm)
    assert code_of(exc) == "ValidationException"
    assert message_of(exc) == f"Digest is invalid length for algorithm {algorithm}."


def test_ed25519_signs_raw_messages_only_and_verifies_outside_keyplane(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    signature = kms.sign(KeyId=arn, Message=b"tx", SigningAlgorithm="ED25519_SHA_512")["Signature"]
    assert len(signature) == 64
    serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"]).verify(signature, b"tx")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=arn, Message=hashlib.sha512(b"tx").digest(), MessageType="DIGEST",
                 SigningAlgorithm="ED25519_SHA_512")
    assert code_of(exc) == "ValidationException"
    assert "requires MessageType RAW" in message_of(exc)


def test_signing_algorithm_of_another_spec_is_invalid_key_usage(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    assert code_of(exc) == "InvalidKeyUsageException"
    assert message_of(exc) == "Algorithm ECDSA_SHA_384 is incompatible with key spec ECC_NIST_P256."


def test_sign_with_an_encryption_key_is_invalid_key_usage_in_aws_words(kms):
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert code_of(exc) == "InvalidKeyUsageException"
    assert message_of(exc) == f"{arn} key usage is ENCRYPT_DECRYPT which is not valid for Sign."


def test_encrypt_with_a_signing_key_is_invalid_key_usage_in_aws_words(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=arn, Plaintext=b"x")
    assert message_of(exc) == f"{arn} key usage is SIGN_VERIFY which is not valid for Encrypt."


def test_sign_on_a_disabled_key_is_disabled_and_dry_run_signs_nothing(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256", DryRun=True)
    assert code_of(exc) == "DryRunOperationException"
    kms.disable_key(KeyId=arn)
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert code_of(exc) == "DisabledException"


def test_sign_through_an_alias(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName="alias/release-signing", TargetKeyId=arn)
    out = kms.sign(KeyId="alias/release-signing", Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert out["KeyId"] == arn
    assert kms.verify(KeyId=arn, Message=b"m", Signature=out["Signature"],
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]


# ---- GetPublicKey -----------------------------------------------------------------------------
def test_get_public_key_returns_der_spki_with_usage_and_algorithms(module_kms, key):
    client = module_kms
    arn = key("RSA_2048", "ENCRYPT_DECRYPT")
    out = client.get_public_key(KeyId=arn)
    public = serialization.load_der_public_key(out["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    assert out["PublicKey"] == public.public_bytes(serialization.Encoding.DER,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    assert (out["KeyId"], out["KeySpec"], out["CustomerMasterKeySpec"], out["KeyUsage"]) == \
        (arn, "RSA_2048", "RSA_2048", "ENCRYPT_DECRYPT")
    assert out["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    assert "SigningAlgorithms" not in out


@pytest.mark.parametrize("create", [{}, {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}])
def test_get_public_key_of_a_symmetric_or_hmac_key_is_unsupported(kms, create):
    arn = kms.create_key(**create)["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.get_public_key(KeyId=arn)
    assert code_of(exc) == "UnsupportedOperationException"


# ---- RSA encryption ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec,algorithm,limit", [
    ("RSA_2048", "RSAES_OAEP_SHA_1", 214), ("RSA_2048", "RSAES_OAEP_SHA_256", 190),
    ("RSA_3072", "RSAES_OAEP_SHA_1", 342), ("RSA_3072", "RSAES_OAEP_SHA_256", 318),
    ("RSA_4096", "RSAES_OAEP_SHA_1", 470), ("RSA_4096", "RSAES_OAEP_SHA_256", 446),
])
def test_rsa_encrypts_up_to_awss_plaintext_limit_and_not_a_byte_more(module_kms, key, spec, algorithm, limit):
    client = module_kms
    arn = key(spec, "ENCRYPT_DECRYPT")
    plaintext = bytes(range(256)) * 2
    out = client.encrypt(KeyId=arn, Plaintext=plaintext[:limit], EncryptionAlgorithm=algorithm)
    assert out["EncryptionAlgorithm"] == algorithm and out["KeyId"] == arn
    assert len(out["CiphertextBlob"]) == int(spec[4:]) // 8
    back = client.decrypt(KeyId=arn, CiphertextBlob=out["CiphertextBlob"], EncryptionAlgorithm=algorithm)
    assert back["Plaintext"] == plaintext[:limit] and back["EncryptionAlgorithm"] == algorithm
    with pytest.raises(ClientError) as exc:
        client.encrypt(KeyId=arn, Plaintext=plaintext[:limit + 1], EncryptionAlgorithm=algorithm)
    assert code_of(exc) == "ValidationException"
    assert message_of(exc) == f"Algorithm {algorithm} and key spec {spec} cannot encrypt data larger than {limit} bytes."


def test_rsa_decrypts_what_was_encrypted_outside_keyplane_with_its_public_key(module_kms, key):
    client = module_kms
    arn = key("RSA_2048", "ENCRYPT_DECRYPT")
    public = serialization.load_der_public_key(client.get_public_key(KeyId=arn)["PublicKey"])
    blob = public.encrypt(b"wrapped", padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(),
                                                   label=None))
    assert client.decrypt(KeyId=arn, CiphertextBlob=blob,
                          EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"wrapped"


def test_rsa_encrypt_without_an_algorithm_is_incompatible_symmetric_default(module_kms, key):
    client = module_kms
    with pytest.raises(ClientError) as exc:
        client.encrypt(KeyId=key("RSA_2048", "ENCRYPT_DECRYPT"), Plaintext=b"x")
    assert code_of(exc) == "InvalidKeyUsageException"
    assert message_of(exc) == "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."


def test_rsa_decrypt_with_the_other_oaep_hash_or_a_flipped_bit_is_invalid_ciphertext(module_kms, key):
    client = module_kms
    arn = key("RSA_2048", "ENCRYPT_DECRYPT")
    blob = client.encrypt(KeyId=arn, Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    for candidate, algorithm in ((blob, "RSAES_OAEP_SHA_1"), (blob[:-1] + bytes([blob[-1] ^ 1]), "RSAES_OAEP_SHA_256")):
        with pytest.raises(ClientError) as exc:
            client.decrypt(KeyId=arn, CiphertextBlob=candidate, EncryptionAlgorithm=algorithm)
        assert code_of(exc) == "InvalidCiphertextException"


def test_rsa_refuses_an_encryption_context(module_kms, key):
    client = module_kms
    with pytest.raises(ClientError) as exc:
        client.encrypt(KeyId=key("RSA_2048", "ENCRYPT_DECRYPT"), Plaintext=b"x",
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256", EncryptionContext={"a": "b"})
    assert code_of(exc) == "InvalidKeyUsageException"


def test_reencrypt_moves_data_between_rsa_and_symmetric_keys(module_kms, key):
    client = module_kms
    rsa_arn = key("RSA_2048", "ENCRYPT_DECRYPT")
    sym = client.create_key()["KeyMetadata"]["Arn"]
    blob = client.encrypt(KeyId=sym, Plaintext=b"payload", EncryptionContext={"t": "1"})["CiphertextBlob"]
    to_rsa = client.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"t": "1"}, DestinationKeyId=rsa_arn,
                               DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert (to_rsa["SourceKeyId"], to_rsa["KeyId"]) == (sym, rsa_arn)
    assert to_rsa["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    back = client.re_encrypt(CiphertextBlob=to_rsa["CiphertextBlob"], SourceKeyId=rsa_arn,
                             SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=sym)
    assert back["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert client.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"payload"


# ---- DeriveSharedSecret -----------------------------------------------------------------------
@pytest.mark.parametrize("spec,curve", [("ECC_NIST_P256", ec.SECP256R1), ("ECC_NIST_P384", ec.SECP384R1),
                                        ("ECC_NIST_P521", ec.SECP521R1)])
def test_derive_shared_secret_matches_the_peers_ecdh(kms, spec, curve):
    arn = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
    peer = ec.generate_private_key(curve())
    peer_der = peer.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)
    ours = serialization.load_der_public_key(kms.get_public_key(KeyId=arn)["PublicKey"])
    assert out["SharedSecret"] == peer.exchange(ec.ECDH(), ours)
    assert (out["KeyId"], out["KeyAgreementAlgorithm"], out["KeyOrigin"]) == (arn, "ECDH", "AWS_KMS")


def test_derive_shared_secret_refuses_a_peer_key_on_another_curve_or_not_der(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
    other = ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for public in (other, b"not a key"):
        with pytest.raises(ClientError) as exc:
            kms.derive_shared_secret(KeyId=arn, KeyAgreementAlgorithm="ECDH", PublicKey=public)
        assert code_of(exc) == "ValidationException"


def test_derive_shared_secret_with_a_signing_key_and_sign_with_an_agreement_key_are_invalid_usage(kms):
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    agreement = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
    peer = kms.get_public_key(KeyId=agreement)["PublicKey"]
    with pytest.raises(ClientError) as exc:
        kms.derive_shared_secret(KeyId=signing, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert message_of(exc) == f"{signing} key usage is SIGN_VERIFY which is not valid for DeriveSharedSecret."
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=agreement, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert code_of(exc) == "InvalidKeyUsageException"


# ---- private material at rest -----------------------------------------------------------------
def test_private_key_is_sealed_at_rest_and_never_in_the_store_or_audit(tmp_path, clock):
    eng = Engine(str(tmp_path / "state"), clock=clock)
    client = keyplane.connect(engine=eng).client("kms", region="us-east-1")
    arn = client.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    client.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    public = client.get_public_key(KeyId=arn)["PublicKey"]
    root_key = eng.root_key_for(eng.store_for("us-east-1"))
    eng.close()
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        material_id, sealed, stored_public = db.execute(
            "select material_id, sealed, public_key from kms_key_materials where key_arn = ?", (arn,)).fetchone()
    private_der = root_key.unseal(sealed, material_aad(arn, material_id))
    private = serialization.load_der_private_key(private_der, None)
    assert stored_public == public == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.name.startswith("state.db"))
    assert private_der not in raw and scalar not in raw   # the private half is only ever sealed


# ---- imported key pairs -----------------------------------------------------------------------
def _import(kms, arn: str, private) -> None:
    params = kms.get_parameters_for_import(KeyId=arn, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_3072")
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    material = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    wrapped = wrapping.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                      label=None))
    kms.import_key_material(KeyId=arn, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


def test_imported_key_pair_signs_with_the_imported_private_key(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    private = ec.generate_private_key(ec.SECP256R1())
    _import(kms, arn, private)
    assert kms.get_public_key(KeyId=arn)["PublicKey"] == private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    signature = kms.sign(KeyId=arn, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    private.public_key().verify(signature, b"m", ec.ECDSA(hashes.SHA256()))


def test_importing_a_private_key_of_another_spec_is_incorrect_key_material(kms):
    arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        _import(kms, arn, ec.generate_private_key(ec.SECP384R1()))
    assert code_of(exc) == "IncorrectKeyMaterialException"
    assert kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"] == "PendingImport"
