"""Proof that keyplane's asymmetric keys are the real thing: the `openssl` command, knowing nothing
of keyplane but the public key GetPublicKey hands out, verifies its signatures, encrypts what it
decrypts and derives the same ECDH secret; signatures made outside keyplane (by `cryptography` and
by `openssl` with the key pair's private half) verify through Verify."""
from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from keyplane.engine.kms.tables import materials
from keyplane.engine.sealing import material_aad

OPENSSL = shutil.which("openssl")
MESSAGE = b"keyplane release manifest v1\n"


class OpenSSL:
    """The openssl command in a scratch folder: files in, bytes out."""

    def __init__(self, folder):
        self.folder = folder

    def write(self, name: str, data: bytes) -> str:
        (self.folder / name).write_bytes(data)
        return name

    def read(self, name: str) -> bytes:
        return (self.folder / name).read_bytes()

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([OPENSSL, *args], cwd=self.folder, capture_output=True, timeout=60)
        if check and done.returncode != 0:
            raise AssertionError(f"openssl {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
        return done

    def public_pem(self, der: bytes, name: str = "kms_pub") -> str:
        """GetPublicKey's DER SPKI as OpenSSL reads it (the conversion itself proves it parses)."""
        self.write(f"{name}.der", der)
        self("pkey", "-pubin", "-inform", "DER", "-in", f"{name}.der", "-out", f"{name}.pem")
        return f"{name}.pem"


@pytest.fixture
def openssl(tmp_path, require):
    require(OPENSSL is not None, "the openssl command is not installed")
    folder = tmp_path / "openssl"
    folder.mkdir()
    return OpenSSL(folder)


def signing_key(kms, spec: str) -> tuple[str, bytes]:
    arn = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    return arn, kms.get_public_key(KeyId=arn)["PublicKey"]


# ---- OpenSSL verifies keyplane's signatures ---------------------------------------------------
@pytest.mark.parametrize("spec,algorithm,digest,sigopts", [
    ("RSA_2048", "RSASSA_PSS_SHA_256", "sha256", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32"]),
    ("RSA_2048", "RSASSA_PSS_SHA_512", "sha512", ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:64"]),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_256", "sha256", []),
    ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384", "sha384", []),
    ("ECC_NIST_P256", "ECDSA_SHA_256", "sha256", []),
    ("ECC_NIST_P384", "ECDSA_SHA_384", "sha384", []),
    ("ECC_SECG_P256K1", "ECDSA_SHA_256", "sha256", []),
])
def test_openssl_verifies_a_keyplane_signature_with_the_public_key_from_get_public_key(
        kms, openssl, spec, algorithm, digest, sigopts):
    arn, public = signing_key(kms, spec)
    pem = openssl.public_pem(public)
    msg = openssl.write("msg.bin", MESSAGE)
    raw = kms.sign(KeyId=arn, Message=MESSAGE, SigningAlgorithm=algorithm)["Signature"]
    of_digest = kms.sign(KeyId=arn, Message=hashlib.new(digest, MESSAGE).digest(), MessageType="DIGEST",
                         SigningAlgorithm=algorithm)["Signature"]
    for signature in (raw, of_digest):
        sig = openssl.write("sig.bin", signature)
        done = openssl(f"dgst", f"-{digest}", "-verify", pem, *sigopts, "-signature", sig, msg)
        assert done.stdout.strip() == b"Verified OK"
    # and OpenSSL is a real judge: the same signature over another message fails
    other = openssl.write("other.bin", MESSAGE + b"!")
    done = openssl("dgst", f"-{digest}", "-verify", pem, *sigopts, "-signature", sig, other, check=False)
    assert done.returncode != 0 and b"Verification failure" in done.stdout + done.stderr


def test_openssl_verifies_a_keyplane_ed25519_signature(kms, openssl):
    arn, public = signing_key(kms, "ECC_NIST_EDWARDS25519")
    pem = openssl.public_pem(public)
    msg = openssl.write("msg.bin", MESSAGE)
    sig = openssl.write("sig.bin", kms.sign(KeyId=arn, Message=MESSAGE, SigningAlgorithm="ED25519_SHA_512")["Signature"])
    done = openssl("pkeyutl", "-verify", "-pubin", "-inkey", pem, "-rawin", "-in", msg, "-sigfile", sig)
    assert b"Signature Verified Successfully" in done.stdout


# ---- OpenSSL encrypts, keyplane decrypts ------------------------------------------------------
@pytest.mark.parametrize("algorithm,md", [("RSAES_OAEP_SHA_256", "sha256"), ("RSAES_OAEP_SHA_1", "sha1")])
def test_keyplane_decrypts_what_openssl_encrypted_with_the_public_key(kms, openssl, algorithm, md):
    arn = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["Arn"]
    pem = openssl.public_pem(kms.get_public_key(KeyId=arn)["PublicKey"])
    plaintext = b"a 32-byte session key, wrapped.."
    openssl.write("pt.bin", plaintext)
    openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", pem, "-pkeyopt", "rsa_padding_mode:oaep",
            "-pkeyopt", f"rsa_oaep_md:{md}", "-pkeyopt", f"rsa_mgf1_md:{md}", "-in", "pt.bin", "-out", "ct.bin")
    ciphertext = openssl.read("ct.bin")
    out = kms.decrypt(KeyId=arn, CiphertextBlob=ciphertext, EncryptionAlgorithm=algorithm)
    assert out["Plaintext"] == plaintext and out["EncryptionAlgorithm"] == algorithm


# ---- ECDH: the same secret on both sides ------------------------------------------------------
@pytest.mark.parametrize("spec,curve", [("ECC_NIST_P256", "P-256"), ("ECC_NIST_P384", "P-384")])
def test_derive_shared_secret_equals_what_openssl_derives_from_the_other_side(kms, openssl, spec, curve):
    arn = kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["Arn"]
    kms_pem = openssl.public_pem(kms.get_public_key(KeyId=arn)["PublicKey"])
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", f"ec_paramgen_curve:{curve}", "-out", "peer.pem")
    openssl("pkey", "-in", "peer.pem", "-pubout", "-outform", "DER", "-out", "peer_pub.der")
    openssl("pkeyutl", "-derive", "-inkey", "peer.pem", "-peerkey", kms_pem, "-out", "secret.bin")
    ours = kms.derive_shared_secret(KeyId=arn, KeyAgreementAlgorithm="ECDH",
                                    PublicKey=openssl.read("peer_pub.der"))["SharedSecret"]
    assert ours == openssl.read("secret.bin") and len(ours) == {"P-256": 32, "P-384": 48}[curve]


# ---- signatures made outside keyplane verify through Verify -----------------------------------
def private_half(engine, arn: str):
    """The key pair's private half, unsealed as only the holder of the root key can: it stands in
    for a signer that holds the same key outside keyplane."""
    store = engine.store_for("us-east-1")
    with store.read() as conn:
        row = conn.execute(sa.select(materials.c.material_id, materials.c.sealed).where(
            materials.c.key_arn == arn)).one()
    der = engine.root_key_for(store).unseal(row.sealed, material_aad(arn, row.material_id))
    return serialization.load_der_private_key(der, None)


@pytest.mark.parametrize("spec,algorithm", [("RSA_2048", "RSASSA_PSS_SHA_256"),
                                            ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
                                            ("ECC_NIST_P256", "ECDSA_SHA_256")])
def test_verify_accepts_a_signature_cryptography_made_outside_keyplane(engine, kms, spec, algorithm):
    arn, _ = signing_key(kms, spec)
    private = private_half(engine, arn)
    if algorithm == "RSASSA_PSS_SHA_256":
        signature = private.sign(MESSAGE, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                      salt_length=padding.PSS.DIGEST_LENGTH), hashes.SHA256())
    elif algorithm == "RSASSA_PKCS1_V1_5_SHA_512":
        signature = private.sign(MESSAGE, padding.PKCS1v15(), hashes.SHA512())
    else:
        signature = private.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    assert kms.verify(KeyId=arn, Message=MESSAGE, Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=arn, Message=MESSAGE + b"!", Signature=signature, SigningAlgorithm=algorithm)
    assert exc.value.response["Error"]["Code"] == "KMSInvalidSignatureException"


def test_verify_accepts_a_signature_openssl_made_with_the_same_key(engine, kms, openssl):
    arn, _ = signing_key(kms, "ECC_NIST_P256")
    private = private_half(engine, arn)
    openssl.write("key.pem", private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    openssl.write("msg.bin", MESSAGE)
    openssl("dgst", "-sha256", "-sign", "key.pem", "-out", "sig.bin", "msg.bin")
    assert kms.verify(KeyId=arn, Message=MESSAGE, Signature=openssl.read("sig.bin"),
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
