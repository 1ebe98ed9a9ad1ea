"""ECC_NIST_EDWARDS25519 keys on the wire: both signing algorithms AWS lists for them, the
MessageType each one takes, Ed25519ph signatures checked by an RFC 8032 oracle that shares no code
with keyplane, and the refusals with their status and body.

Sources: Sign https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html (MessageType: "When
using ECC_NIST_EDWARDS25519 KMS keys: ED25519_SHA_512 signing algorithm requires KMS MessageType:RAW,
ED25519_PH_SHA_512 signing algorithm requires KMS MessageType:DIGEST"; "When you specify the
ED25519_PH_SHA_512 signing algorithm with MessageType:DIGEST, KMS still performs the SHA-512 prehash
described in Step 1 of Section 7.8.1 in FIPS 186-5"), Verify
https://docs.aws.amazon.com/kms/latest/APIReference/API_Verify.html, CreateKey's KeySpec note
https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html.
"""
import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding
from nacl import bindings as sodium

from .rfc8032 import ed25519ph_verify

ED25519_OID = bytes.fromhex("06032b6570")          # 1.3.101.112
RFC8032_PH_SEED = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")


def b64(value: str) -> bytes:
    return base64.b64decode(value)


def _key(wire, **params) -> str:
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _ed25519(wire) -> str:
    return _key(wire, KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY")


def _public(wire, arn) -> bytes:
    """The raw 32-byte public key inside GetPublicKey's 44-byte SPKI."""
    der = b64(wire.call("kms", "GetPublicKey", {"KeyId": arn}).body["PublicKey"])
    assert len(der) == 44 and ED25519_OID in der[:10]
    return der[12:]


def _sign(wire, arn, message, algorithm="ED25519_PH_SHA_512", message_type="DIGEST"):
    body = {"KeyId": arn, "Message": message, "SigningAlgorithm": algorithm}
    if message_type:
        body["MessageType"] = message_type
    return wire.call("kms", "Sign", body)


def test_an_ed25519_key_lists_both_signing_algorithms(wire):
    """DescribeKey and GetPublicKey list ED25519_SHA_512 and ED25519_PH_SHA_512, the two algorithms Sign's
    reference names for ECC_NIST_EDWARDS25519 keys (and what real KMS lists, per the aws-cli output
    against ap-northeast-1 in floci-io/floci#2924); the public key is a 44-byte SPKI of an Ed25519
    (1.3.101.112) key."""
    arn = _ed25519(wire)
    md = wire.call("kms", "DescribeKey", {"KeyId": arn}).body["KeyMetadata"]
    assert md["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    r = wire.call("kms", "GetPublicKey", {"KeyId": arn})
    assert r.body["SigningAlgorithms"] == ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
    assert len(_public(wire, arn)) == 32


def test_ed25519ph_signs_the_digest_as_rfc_8032_ed25519ph_over_it(wire):
    """Sign with ED25519_PH_SHA_512 and MessageType DIGEST: a 64-byte Ed25519ph signature in which KMS
    hashed the 64-byte digest once more (FIPS 186-5 7.8.1 step 1), i.e. Ed25519ph of the digest as
    the message; the RFC 8032 oracle accepts it, and rejects it for anything else."""
    arn = _ed25519(wire)
    public = _public(wire, arn)
    digest = hashlib.sha512(b"release 1.0").digest()
    r = _sign(wire, arn, digest)
    assert r.status == 200 and set(r.body) == {"KeyId", "Signature", "SigningAlgorithm"}
    assert (r.body["KeyId"], r.body["SigningAlgorithm"]) == (arn, "ED25519_PH_SHA_512")
    signature = b64(r.body["Signature"])
    assert len(signature) == 64
    assert ed25519ph_verify(public, digest, signature)
    assert not ed25519ph_verify(public, b"release 1.0", signature)      # the digest was hashed again
    assert not ed25519ph_verify(public, hashlib.sha512(b"release 1.1").digest(), signature)
    # Ed25519 is deterministic: the same digest signs the same way
    assert b64(_sign(wire, arn, digest).body["Signature"]) == signature
    # and it is not a pure Ed25519 signature of the digest
    with pytest.raises(InvalidSignature):
        ed25519.Ed25519PublicKey.from_public_bytes(public).verify(signature, digest)


def test_verify_takes_ed25519ph_signatures_and_refuses_the_rest_without_a_message(wire):
    """Verify: {KeyId, SignatureValid: true, SigningAlgorithm} for a good signature; a bad one is
    KMSInvalidSignatureException with no message member, never SignatureValid false."""
    arn = _ed25519(wire)
    digest = hashlib.sha512(b"m").digest()
    signature = b64(_sign(wire, arn, digest).body["Signature"])

    def verify(sig, message=digest, algorithm="ED25519_PH_SHA_512", message_type="DIGEST"):
        return wire.call("kms", "Verify", {"KeyId": arn, "Message": message, "Signature": sig,
                                           "SigningAlgorithm": algorithm, "MessageType": message_type})
    r = verify(signature)
    assert (r.status, r.body) == (200, {"KeyId": arn, "SignatureValid": True, "SigningAlgorithm": "ED25519_PH_SHA_512"})
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    pure = b64(_sign(wire, arn, digest, "ED25519_SHA_512", "RAW").body["Signature"])
    for bad, message in ((flipped, digest), (signature[:63], digest), (signature + b"\0", digest),
                         (signature, hashlib.sha512(b"n").digest()), (pure, digest)):
        r = verify(bad, message)
        assert (r.status, r.body) == (400, {"__type": "KMSInvalidSignatureException"})


def test_material_imported_from_outside_signs_as_libsodium_does_and_verifies_its_signatures(wire):
    """An Ed25519 key imported (Origin EXTERNAL, PKCS#8 wrapped with RSAES_OAEP_SHA_256) signs exactly
    as libsodium signs with the same private key (Ed25519ph is deterministic), and Verify accepts a
    signature made outside KMS. The key is RFC 8032's Ed25519ph test key (section 7.3)."""
    arn = _key(wire, KeySpec="ECC_NIST_EDWARDS25519", KeyUsage="SIGN_VERIFY", Origin="EXTERNAL")
    private = ed25519.Ed25519PrivateKey.from_private_bytes(RFC8032_PH_SEED)
    pkcs8 = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    params = wire.call("kms", "GetParametersForImport", {"KeyId": arn, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                                                          "WrappingKeySpec": "RSA_2048"}).body
    wrapping = serialization.load_der_public_key(b64(params["PublicKey"]))
    wrapped = wrapping.encrypt(pkcs8, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                   label=None))
    r = wire.call("kms", "ImportKeyMaterial", {"KeyId": arn, "ImportToken": params["ImportToken"],
                                               "EncryptedKeyMaterial": wrapped,
                                               "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"})
    assert r.status == 200, r.body
    public = private.public_key().public_bytes_raw()
    assert _public(wire, arn) == public == bytes.fromhex(
        "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")

    digest = hashlib.sha512(b"abc").digest()
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, digest)
    outside = sodium.crypto_sign_ed25519ph_final_create(state, RFC8032_PH_SEED + public)
    assert b64(_sign(wire, arn, digest).body["Signature"]) == outside
    r = wire.call("kms", "Verify", {"KeyId": arn, "Message": digest, "Signature": outside,
                                    "SigningAlgorithm": "ED25519_PH_SHA_512", "MessageType": "DIGEST"})
    assert r.status == 200 and r.body["SignatureValid"] is True


@pytest.mark.parametrize("operation", ["Sign", "Verify"])
@pytest.mark.parametrize("algorithm,message_type,message", [
    ("ED25519_PH_SHA_512", "RAW", b"m"),
    ("ED25519_PH_SHA_512", None, b"m"),                 # MessageType defaults to RAW
    ("ED25519_SHA_512", "DIGEST", hashlib.sha512(b"m").digest()),
])
def test_each_ed25519_algorithm_takes_its_own_message_type_only(wire, operation, algorithm, message_type, message):
    """"These message types cannot be used interchangeably" (CreateKey's KeySpec note): the other one is
    ValidationException (real KMS: "Message type RAW is incompatible ...", floci-io/floci#2924)."""
    arn = _ed25519(wire)
    body = {"KeyId": arn, "Message": message, "SigningAlgorithm": algorithm}
    if message_type:
        body["MessageType"] = message_type
    if operation == "Verify":
        body["Signature"] = b"\0" * 64
    r = wire.call("kms", operation, body)
    given, required = (message_type or "RAW"), ("DIGEST" if algorithm == "ED25519_PH_SHA_512" else "RAW")
    assert (r.status, r.body) == (400, {"__type": "ValidationException", "message": (
        f"Message type {given} is incompatible with signing algorithm {algorithm}: it requires MessageType "
        f"{required}.")})


@pytest.mark.parametrize("length", [0, 32, 48, 63, 65])
def test_an_ed25519ph_digest_must_be_64_bytes(wire, length):
    """"When the value of MessageType is DIGEST, the length of the Message value must match the length
    of hashed messages for the specified signing algorithm": SHA-512, 64 bytes."""
    arn = _ed25519(wire)
    r = _sign(wire, arn, b"d" * length)
    if length == 0:      # the model's Message has min 1: refused before KMS's own check
        assert r.status == 400 and r.error_type == "ValidationException"
        return
    assert (r.status, r.body) == (400, {"__type": "ValidationException",
                                        "message": "Digest is invalid length for algorithm ED25519_PH_SHA_512."})


@pytest.mark.parametrize("params,algorithm,spec", [
    ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, "ED25519_PH_SHA_512", "ECC_NIST_P256"),
    ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, "ED25519_SHA_512", "RSA_2048"),
    ({"KeySpec": "ECC_NIST_EDWARDS25519", "KeyUsage": "SIGN_VERIFY"}, "ECDSA_SHA_512", "ECC_NIST_EDWARDS25519"),
])
def test_an_algorithm_of_another_spec_is_invalid_key_usage(wire, params, algorithm, spec):
    arn = _key(wire, **params)
    r = _sign(wire, arn, hashlib.sha512(b"m").digest(), algorithm)
    assert (r.status, r.body) == (400, {"__type": "InvalidKeyUsageException",
                                        "message": f"Algorithm {algorithm} is incompatible with key spec {spec}."})


def test_ed25519ph_sign_dry_run_checks_and_does_not_sign(wire):
    arn = _ed25519(wire)
    r = wire.call("kms", "Sign", {"KeyId": arn, "Message": hashlib.sha512(b"m").digest(), "MessageType": "DIGEST",
                                  "SigningAlgorithm": "ED25519_PH_SHA_512", "DryRun": True})
    assert (r.status, r.error_type) == (400, "DryRunOperationException") and "Signature" not in r.body
