"""GenerateDataKeyPair and GenerateDataKeyPairWithoutPlaintext through real boto3 clients: a fresh
pair per call, PKCS#8 private key encrypted under a symmetric KMS key, DER public key."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

# the SoftHSM-backed custom key store fixtures
from test_custom_key_store import _softhsm_folder, connected_store, softhsm  # noqa: E402,F401

DER, SPKI = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo


def code_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


@pytest.fixture
def kms(module_kms):
    """This module's tests share one engine: none of them needs an empty store."""
    return module_kms


@pytest.fixture(scope="module")
def wrapping_key(module_kms) -> str:
    return module_kms.create_key(Description="wraps data key pairs")["KeyMetadata"]["Arn"]


def _sign_and_verify(private, public_der: bytes) -> None:
    """Prove the two halves belong together: sign with one, verify with the other."""
    public = serialization.load_der_public_key(public_der)
    if isinstance(private, rsa.RSAPrivateKey):
        public.verify(private.sign(b"m", padding.PKCS1v15(), hashes.SHA256()), b"m", padding.PKCS1v15(),
                      hashes.SHA256())
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        public.verify(private.sign(b"m", ec.ECDSA(hashes.SHA256())), b"m", ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(private.sign(b"m"), b"m")


@pytest.mark.parametrize("spec,kind,size", [
    ("RSA_2048", rsa.RSAPrivateKey, 2048), ("RSA_3072", rsa.RSAPrivateKey, 3072),
    ("RSA_4096", rsa.RSAPrivateKey, 4096),
    ("ECC_NIST_P256", ec.EllipticCurvePrivateKey, 256), ("ECC_NIST_P384", ec.EllipticCurvePrivateKey, 384),
    ("ECC_NIST_P521", ec.EllipticCurvePrivateKey, 521), ("ECC_SECG_P256K1", ec.EllipticCurvePrivateKey, 256),
    ("ECC_NIST_EDWARDS25519", ed25519.Ed25519PrivateKey, None),
])
def test_data_key_pair_is_a_matching_pkcs8_and_spki_pair_whose_private_half_decrypts(kms, wrapping_key,
                                                                                   spec, kind, size):
    out = kms.generate_data_key_pair(KeyId=wrapping_key, KeyPairSpec=spec, EncryptionContext={"app": "x"})
    assert (out["KeyId"], out["KeyPairSpec"]) == (wrapping_key, spec)
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
    assert isinstance(private, kind)
    if size:
        assert private.key_size == size
    assert private.public_key().public_bytes(DER, SPKI) == out["PublicKey"]
    _sign_and_verify(private, out["PublicKey"])
    back = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"app": "x"})
    assert back["Plaintext"] == out["PrivateKeyPlaintext"] and back["KeyId"] == wrapping_key
    assert out["KeyMaterialId"] == back["KeyMaterialId"]


def test_each_call_makes_a_new_pair_and_without_plaintext_omits_the_private_key(kms, wrapping_key):
    a = kms.generate_data_key_pair(KeyId=wrapping_key, KeyPairSpec="ECC_NIST_P256")
    b = kms.generate_data_key_pair_without_plaintext(KeyId=wrapping_key, KeyPairSpec="ECC_NIST_P256")
    assert a["PublicKey"] != b["PublicKey"]
    assert "PrivateKeyPlaintext" not in b and b["KeyPairSpec"] == "ECC_NIST_P256"
    private = serialization.load_der_private_key(
        kms.decrypt(CiphertextBlob=b["PrivateKeyCiphertextBlob"])["Plaintext"], None)
    assert private.public_key().public_bytes(DER, SPKI) == b["PublicKey"]


def test_private_key_blob_needs_the_same_encryption_context(kms, wrapping_key):
    out = kms.generate_data_key_pair_without_plaintext(KeyId=wrapping_key, KeyPairSpec="ECC_NIST_P384",
                                                       EncryptionContext={"tenant": "a"})
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"], EncryptionContext={"tenant": "b"})
    assert code_of(exc) == "InvalidCiphertextException"


@pytest.mark.parametrize("spec,usage", [("RSA_2048", "ENCRYPT_DECRYPT"), ("HMAC_256", "GENERATE_VERIFY_MAC")])
def test_data_key_pair_under_a_non_symmetric_key_is_invalid_key_usage(kms, spec, usage):
    arn = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]["Arn"]
    for op in (kms.generate_data_key_pair, kms.generate_data_key_pair_without_plaintext):
        with pytest.raises(ClientError) as exc:
            op(KeyId=arn, KeyPairSpec="ECC_NIST_P256")
        assert code_of(exc) == "InvalidKeyUsageException"


def test_sm2_data_key_pair_is_unsupported_here(kms, wrapping_key):
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair(KeyId=wrapping_key, KeyPairSpec="SM2")
    assert code_of(exc) == "UnsupportedOperationException"


def test_data_key_pair_dry_run_and_disabled_key(kms):
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair(KeyId=arn, KeyPairSpec="ECC_NIST_P256", DryRun=True)
    assert code_of(exc) == "DryRunOperationException"
    kms.disable_key(KeyId=arn)
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair_without_plaintext(KeyId=arn, KeyPairSpec="ECC_NIST_P256")
    assert code_of(exc) == "DisabledException"


def test_plaintext_private_key_never_reaches_the_store_or_the_audit_trail(tmp_path, clock):
    import keyplane
    from keyplane.engine.core import Engine
    eng = Engine(str(tmp_path / "state"), clock=clock)
    client = keyplane.connect(engine=eng).client("kms", region="us-east-1")
    arn = client.create_key()["KeyMetadata"]["Arn"]
    out = client.generate_data_key_pair(KeyId=arn, KeyPairSpec="ECC_NIST_P256")
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], None)
    scalar = private.private_numbers().private_value.to_bytes(32, "big")
    events = eng.audit.query(eng.store_for("us-east-1"), event_name="GenerateDataKeyPair")
    assert len(events) == 1 and events[0]["requestParameters"]["keyPairSpec"] == "ECC_NIST_P256"
    eng.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.name.startswith("state.db"))
    assert out["PrivateKeyPlaintext"] not in raw and scalar not in raw


def test_data_key_pair_under_a_key_in_a_custom_key_store_is_unsupported(kms, connected_store):
    store_id, _ = connected_store
    arn = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["Arn"]
    assert kms.generate_data_key(KeyId=arn, KeySpec="AES_256")["KeyId"] == arn   # the key itself works
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key_pair(KeyId=arn, KeyPairSpec="ECC_NIST_P256")
    assert code_of(exc) == "UnsupportedOperationException"
