"""keyplane.Key for asymmetric and HMAC keys: check() accepts exactly CreateKey's key_spec /
key_usage pairs that keyplane serves, and an asymmetric Key exposes its public key as PEM, the
same key GetPublicKey gives, through the real plugin protocol."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness import Engine, ProviderProcess, observer
from keyplane.resources.key import KeyProvider

KEY = "pulumi-python:dynamic/keyplane:Key"

SERVED = [("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT"),
          *((f"HMAC_{n}", "GENERATE_VERIFY_MAC") for n in (224, 256, 384, 512)),
          *((f"RSA_{n}", u) for n in (2048, 3072, 4096) for u in ("ENCRYPT_DECRYPT", "SIGN_VERIFY")),
          *((f"ECC_NIST_P{n}", u) for n in (256, 384, 521) for u in ("SIGN_VERIFY", "KEY_AGREEMENT")),
          ("ECC_SECG_P256K1", "SIGN_VERIFY"), ("ECC_NIST_EDWARDS25519", "SIGN_VERIFY"),
          ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE"), ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE")]


def failures(news: dict) -> list[tuple[str, str]]:
    return [(f.property, f.reason) for f in KeyProvider().check({}, news).failures]


@pytest.mark.parametrize("spec,usage", SERVED)
def test_check_accepts_every_pair_keyplane_serves(spec, usage):
    assert failures({"key_spec": spec, "key_usage": usage}) == []


@pytest.mark.parametrize("news,allowed", [
    ({"key_spec": "ECC_NIST_P256"}, "['SIGN_VERIFY', 'KEY_AGREEMENT']"),        # usage defaults to ENCRYPT_DECRYPT
    ({"key_spec": "HMAC_256", "key_usage": "SIGN_VERIFY"}, "['GENERATE_VERIFY_MAC']"),
    ({"key_spec": "RSA_2048", "key_usage": "KEY_AGREEMENT"}, "['ENCRYPT_DECRYPT', 'SIGN_VERIFY']"),
    ({"customer_master_key_spec": "ECC_SECG_P256K1", "key_usage": "KEY_AGREEMENT"}, "['SIGN_VERIFY']"),
    ({"key_spec": "ECC_NIST_EDWARDS25519", "key_usage": "ENCRYPT_DECRYPT"}, "['SIGN_VERIFY']"),
    ({"key_spec": "ML_KEM_768", "key_usage": "KEY_AGREEMENT"}, "['ENCAPSULATE_DECAPSULATE']"),
    ({"key_usage": "SIGN_VERIFY"}, "['ENCRYPT_DECRYPT']"),                      # spec defaults to symmetric
])
def test_check_refuses_an_impossible_pair_naming_key_usage(news, allowed):
    found = failures(news)
    assert len(found) == 1 and found[0][0] == "key_usage"
    assert found[0][1].endswith(f"is not one of {allowed}")


@pytest.mark.parametrize("spec,usage", [("SM2", "SIGN_VERIFY"), ("ML_DSA_44", "SIGN_VERIFY"),
                                        ("ML_DSA_87", "SIGN_VERIFY"), ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE")])
def test_check_refuses_a_spec_keyplane_cannot_serve(spec, usage):
    assert failures({"key_spec": spec, "key_usage": usage}) == [(
        "key_spec", f"key_spec: {spec} is not supported by keyplane (CreateKey would refuse it with "
                    "UnsupportedOperationException)")]


@pytest.fixture
def stack(tmp_path):
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        yield Engine(process), observer(state)


def test_asymmetric_key_outputs_its_public_key_as_pem_and_keeps_it_while_disabled(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    step = engine.up(KeyProvider(), "signer", {"key_spec": "ECC_NIST_P256", "key_usage": "SIGN_VERIFY"}, KEY)
    pem = step.outputs["public_key"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    public = serialization.load_pem_public_key(pem.encode())
    assert public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == \
        kms.get_public_key(KeyId=step.id)["PublicKey"]
    # the PEM is the key that signs: a keyplane signature verifies with it
    signature = kms.sign(KeyId=step.id, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public.verify(signature, b"m", ec.ECDSA(hashes.SHA256()))

    step = engine.up(KeyProvider(), "signer", {"key_spec": "ECC_NIST_P256", "key_usage": "SIGN_VERIFY",
                                               "is_enabled": False}, KEY)
    assert step.op == "update" and step.outputs["key_state"] == "Disabled"
    assert step.outputs["public_key"] == pem
    assert engine.refresh("signer", KEY)["public_key"] == pem


def test_key_created_disabled_still_has_its_public_key_and_symmetric_keys_have_none(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    step = engine.up(KeyProvider(), "wrap", {"key_spec": "RSA_2048", "key_usage": "ENCRYPT_DECRYPT",
                                             "is_enabled": False}, KEY)
    assert kms.describe_key(KeyId=step.id)["KeyMetadata"]["KeyState"] == "Disabled"
    assert serialization.load_pem_public_key(step.outputs["public_key"].encode()).key_size == 2048
    plain = engine.up(KeyProvider(), "plain", {}, KEY)
    assert plain.outputs.get("public_key") is None
    mac = engine.up(KeyProvider(), "mac", {"key_spec": "HMAC_256", "key_usage": "GENERATE_VERIFY_MAC"}, KEY)
    assert mac.outputs.get("public_key") is None


def test_imported_asymmetric_key_outputs_the_imported_public_key_and_one_awaiting_import_none(stack):
    import base64

    engine, _ = stack
    private = ec.generate_private_key(ec.SECP256R1())
    material = base64.b64encode(private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption())).decode()
    step = engine.up(KeyProvider(), "imported", {"key_spec": "ECC_NIST_P256", "key_usage": "SIGN_VERIFY",
                                                 "origin": "EXTERNAL", "key_material_base64": material}, KEY)
    assert serialization.load_pem_public_key(step.outputs["public_key"].encode()).public_numbers() == \
        private.public_key().public_numbers()
    waiting = engine.up(KeyProvider(), "waiting", {"key_spec": "ECC_NIST_P256", "key_usage": "SIGN_VERIFY",
                                                   "origin": "EXTERNAL"}, KEY)
    assert waiting.outputs["key_state"] == "PendingImport" and waiting.outputs.get("public_key") is None


def test_ml_kem_key_outputs_its_encapsulation_key_as_pem(stack):
    """An ML-KEM key's public_key output is GetPublicKey's DER SPKI as PEM, and the key it holds is
    the one Decapsulate answers for: a secret encapsulated with it outside keyplane comes back.
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetPublicKey.html"""
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    step = engine.up(KeyProvider(), "kem", {"key_spec": "ML_KEM_768", "key_usage": "ENCAPSULATE_DECAPSULATE"}, KEY)
    public = serialization.load_pem_public_key(step.outputs["public_key"].encode())
    secret, ciphertext = public.encapsulate()
    assert kms.decapsulate(KeyId=step.id, SharedSecretCiphertextBlob=ciphertext,
                           EncapsulationAlgorithm="ML_KEM")["SharedSecret"] == secret
