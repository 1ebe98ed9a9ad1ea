"""Asymmetric KMS keys (the RSA, NIST/SECG elliptic-curve and Ed25519 specs of specs.py): Sign, Verify,
GetPublicKey, DeriveSharedSecret, plus GenerateDataKeyPair(WithoutPlaintext), whose key pairs are
made here and whose private half is sealed under a symmetric KMS key. RSA encryption behind
Encrypt/Decrypt/ReEncrypt lives in key_pairs.py, which cryptographic.py calls; ML-KEM's Encapsulate
and Decapsulate live in encapsulation.py.

A key pair's private half is stored as PKCS#8 DER, sealed under the root key like symmetric
material; its public half (DER SubjectPublicKeyInfo) sits beside it, so GetPublicKey and Verify need
no private key. Parsed keys are cached with the key (parsing RSA costs more than using it).

ECC_NIST_EDWARDS25519 keys sign two ways: ED25519_SHA_512 is pure Ed25519 (RFC 8032) over a RAW
message, by `cryptography`; ED25519_PH_SHA_512 is Ed25519ph (RFC 8032 5.1, empty context) over a
DIGEST message, which KMS hashes once more with SHA-512 as FIPS 186-5 7.8.1 step 1 says, by
libsodium (PyNaCl): `cryptography` offers no prehash variant.
"""
from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from nacl import bindings as sodium
from nacl.exceptions import BadSignatureError

from ..authz import authorize
from ..errors import KMSInvalidSignatureException, UnsupportedOperationException, ValidationException
from ..registry import operation
from . import messages, specs
from .cryptographic import condition_context, dry_run, encrypt_with, require_symmetric
from .key_pairs import is_asymmetric, private_key, public_key, public_key_der
from .model import CRYPTO_STATES, Key, require_state, resolve_key, wrong_algorithm, wrong_usage
from .specs import private_der, public_der

# ---- algorithms --------------------------------------------------------------------------------
_HASHES = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256, "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}


@dataclass(frozen=True)
class SigningAlgorithm:
    name: str
    scheme: str          # "pss" | "pkcs1" | "ecdsa" | "ed25519" | "ed25519ph"
    hash: type
    message_type: str | None = None     # the one MessageType the algorithm takes, if it takes one

    @property
    def digest_size(self) -> int:
        return self.hash.digest_size


SIGNING = {a.name: a for a in (
    *(SigningAlgorithm(f"RSASSA_PSS_{h}", "pss", _HASHES[h]) for h in ("SHA_256", "SHA_384", "SHA_512")),
    *(SigningAlgorithm(f"RSASSA_PKCS1_V1_5_{h}", "pkcs1", _HASHES[h]) for h in ("SHA_256", "SHA_384", "SHA_512")),
    *(SigningAlgorithm(f"ECDSA_{h}", "ecdsa", _HASHES[h]) for h in ("SHA_256", "SHA_384", "SHA_512")),
    # "ED25519_SHA_512 signing algorithm requires KMS MessageType:RAW, ED25519_PH_SHA_512 signing
    # algorithm requires KMS MessageType:DIGEST" (Sign's reference, MessageType)
    SigningAlgorithm("ED25519_SHA_512", "ed25519", hashes.SHA512, message_type="RAW"),
    SigningAlgorithm("ED25519_PH_SHA_512", "ed25519ph", hashes.SHA512, message_type="DIGEST"),
)}


# GenerateDataKeyPair's KeyPairSpec values that keyplane can make (SM2 is China-only and not here;
# ML_KEM_512: specs.UNSERVED)
DATA_KEY_PAIR_SPECS = ("RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384",
                       "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519", "ML_KEM_768", "ML_KEM_1024")


def _conditions(call, keys: dict) -> dict:
    if call.request_alias:
        keys["kms:RequestAlias"] = call.request_alias
    return keys


def _require_usage(call, key: Key, usage: str) -> None:
    if key.key_usage != usage:
        raise wrong_usage(key, call.spec.name)


def _require_algorithm(key: Key, field: str, algorithm: str) -> None:
    if algorithm not in key.spec.algorithms.get(key.key_usage, {}).get(field, []):
        raise wrong_algorithm(key, algorithm)


# ---- Sign / Verify -----------------------------------------------------------------------------
def _signing(call, key: Key, p) -> tuple[SigningAlgorithm, bytes, bool]:
    """The checks Sign and Verify share: (algorithm, message, message-is-a-digest)."""
    name, message_type, message = p["SigningAlgorithm"], p.get("MessageType") or "RAW", p["Message"]
    _require_usage(call, key, "SIGN_VERIFY")
    _require_algorithm(key, "SigningAlgorithms", name)
    algorithm = SIGNING[name]
    if message_type == "EXTERNAL_MU":
        raise ValidationException(f"MessageType EXTERNAL_MU is valid only with ML-DSA keys, not with {name}.")
    if algorithm.message_type and message_type != algorithm.message_type:
        raise ValidationException(messages.MESSAGE_TYPE_INCOMPATIBLE.format(
            message_type=message_type, algorithm=name, required=algorithm.message_type))
    digest = message_type == "DIGEST"
    if digest and len(message) != algorithm.digest_size:
        raise ValidationException(f"Digest is invalid length for algorithm {name}.")
    return algorithm, message, digest


def _hash_arg(algorithm: SigningAlgorithm, digest: bool):
    return utils.Prehashed(algorithm.hash()) if digest else algorithm.hash()


def _padding(algorithm: SigningAlgorithm):
    if algorithm.scheme == "pss":
        # KMS's PSS: MGF1 with the same hash, salt as long as the digest
        return padding.PSS(mgf=padding.MGF1(algorithm.hash()), salt_length=padding.PSS.DIGEST_LENGTH)
    return padding.PKCS1v15()


def _ed25519ph_state(message: bytes):
    """libsodium's Ed25519ph over `message`: it hashes the message with SHA-512 itself (with
    MessageType DIGEST the message is the caller's digest, hashed again, as AWS documents)."""
    state = sodium.crypto_sign_ed25519ph_state()
    sodium.crypto_sign_ed25519ph_update(state, message)
    return state


def sign_with(private, algorithm: SigningAlgorithm, message: bytes, digest: bool) -> bytes:
    if algorithm.scheme == "ed25519":
        return private.sign(message)
    if algorithm.scheme == "ed25519ph":
        # libsodium's secret key is the RFC 8032 seed followed by the public key
        secret = private.private_bytes_raw() + private.public_key().public_bytes_raw()
        return sodium.crypto_sign_ed25519ph_final_create(_ed25519ph_state(message), secret)
    if algorithm.scheme == "ecdsa":
        return private.sign(message, ec.ECDSA(_hash_arg(algorithm, digest)))
    return private.sign(message, _padding(algorithm), _hash_arg(algorithm, digest))


def verify_with(public, algorithm: SigningAlgorithm, message: bytes, digest: bool, signature: bytes) -> bool:
    try:
        if algorithm.scheme == "ed25519":
            public.verify(signature, message)
        elif algorithm.scheme == "ed25519ph":
            if len(signature) != 64:
                return False
            sodium.crypto_sign_ed25519ph_final_verify(_ed25519ph_state(message), signature,
                                                      public.public_bytes_raw())
        elif algorithm.scheme == "ecdsa":
            public.verify(signature, message, ec.ECDSA(_hash_arg(algorithm, digest)))
        else:
            public.verify(signature, message, _padding(algorithm), _hash_arg(algorithm, digest))
    except (InvalidSignature, BadSignatureError, ValueError):
        return False
    return True


def _signature_request(call, p, action: str):
    """What Sign and Verify check alike, in this order: the key, `action` on it (with the signing
    algorithm and message type as conditions), its state, the algorithm and message for the key,
    then DryRun. Returns the key, the algorithm, the message and whether it is a digest."""
    key = resolve_key(call, p["KeyId"])
    authorize(call, action, key=key, context=_conditions(call, {
        "kms:SigningAlgorithm": p["SigningAlgorithm"], "kms:MessageType": p.get("MessageType") or "RAW"}))
    require_state(key, CRYPTO_STATES)
    algorithm, message, digest = _signing(call, key, p)
    dry_run(p)
    return key, algorithm, message, digest


@operation("kms", "Sign", readonly=True, tracks_use=True)
def sign(call, p):
    key, algorithm, message, digest = _signature_request(call, p, "kms:Sign")
    signature = sign_with(private_key(call, key), algorithm, message, digest)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm.name}


@operation("kms", "Verify", readonly=True, tracks_use=True)
def verify(call, p):
    key, algorithm, message, digest = _signature_request(call, p, "kms:Verify")
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    if not verify_with(public_key(call, key), algorithm, message, digest, p["Signature"]):
        raise KMSInvalidSignatureException("")
    return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm.name}


# ---- GetPublicKey ------------------------------------------------------------------------------
@operation("kms", "GetPublicKey", readonly=True)
def get_public_key(call, p):
    key = resolve_key(call, p["KeyId"])
    authorize(call, "kms:GetPublicKey", key=key, context=_conditions(call, {}))
    require_state(key, CRYPTO_STATES)
    if not is_asymmetric(key):
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.key_spec}: GetPublicKey is valid only for asymmetric KMS keys.")
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    out = {"KeyId": key.arn, "PublicKey": public_key_der(call, key), "CustomerMasterKeySpec": key.key_spec,
           "KeySpec": key.key_spec, "KeyUsage": key.key_usage}
    out.update(key.spec.metadata_algorithms(key.key_usage))
    return out


# ---- DeriveSharedSecret ------------------------------------------------------------------------
def _no_recipient(p) -> None:
    if p.get("Recipient"):
        raise UnsupportedOperationException(
            "Recipient (a Nitro enclave attestation document) is not supported by keyplane: it cannot "
            "verify attestation documents.")


def peer_public_key(der: bytes, curve: type):
    """The peer's DER SPKI as a public key on `curve`, or a ValidationException."""
    try:
        peer = serialization.load_der_public_key(der)
    except (ValueError, TypeError):
        peer = None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or not isinstance(peer.curve, curve):
        raise ValidationException(f"PublicKey must be a DER-encoded SubjectPublicKeyInfo of an "
                                  f"{curve.name} elliptic-curve public key.")
    return peer


@operation("kms", "DeriveSharedSecret", readonly=True, tracks_use=True)
def derive_shared_secret(call, p):
    key = resolve_key(call, p["KeyId"])
    algorithm = p["KeyAgreementAlgorithm"]
    authorize(call, "kms:DeriveSharedSecret", key=key,
              context=_conditions(call, {"kms:KeyAgreementAlgorithm": algorithm}))
    require_state(key, CRYPTO_STATES)
    _require_usage(call, key, "KEY_AGREEMENT")
    _require_algorithm(key, "KeyAgreementAlgorithms", algorithm)
    _no_recipient(p)
    peer = peer_public_key(p["PublicKey"], key.spec.curve)
    dry_run(p)
    secret = private_key(call, key).exchange(ec.ECDH(), peer)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"KeyId": key.arn, "SharedSecret": secret, "KeyAgreementAlgorithm": algorithm,
            "KeyOrigin": key.origin}




# ---- GenerateDataKeyPair -----------------------------------------------------------------------
def _data_key_pair(call, p, action: str) -> tuple[Key, bytes, bytes, bytes, str]:
    key = resolve_key(call, p["KeyId"])
    context, pair_spec = p.get("EncryptionContext"), p["KeyPairSpec"]
    conditions = condition_context(call, context)
    conditions["kms:DataKeyPairSpec"] = pair_spec
    authorize(call, action, key=key, context=conditions)
    require_state(key, CRYPTO_STATES)
    require_symmetric(call, key)
    if key.custom_key_store_id:
        raise UnsupportedOperationException(f"{key.arn} is in a custom key store: {call.spec.name} is not "
                                            "supported for KMS keys in a custom key store.")
    _no_recipient(p)
    if pair_spec not in DATA_KEY_PAIR_SPECS:
        raise UnsupportedOperationException(
            specs.UNSERVED.get(pair_spec, f"KeyPairSpec {pair_spec} is not supported in this Region."))
    dry_run(p)
    private = specs.SPECS[pair_spec].new_pair()
    plaintext = private_der(private)
    blob, material_id = encrypt_with(call, key, plaintext, context, "SYMMETRIC_DEFAULT")
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return key, plaintext, blob, public_der(private), material_id


@operation("kms", "GenerateDataKeyPair", readonly=True, tracks_use=True)
def generate_data_key_pair(call, p):
    key, plaintext, blob, public, material_id = _data_key_pair(call, p, "kms:GenerateDataKeyPair")
    return {"PrivateKeyCiphertextBlob": blob, "PrivateKeyPlaintext": plaintext, "PublicKey": public,
            "KeyId": key.arn, "KeyPairSpec": p["KeyPairSpec"], "KeyMaterialId": material_id}


@operation("kms", "GenerateDataKeyPairWithoutPlaintext", readonly=True, tracks_use=True)
def generate_data_key_pair_without_plaintext(call, p):
    key, _, blob, public, material_id = _data_key_pair(call, p, "kms:GenerateDataKeyPairWithoutPlaintext")
    return {"PrivateKeyCiphertextBlob": blob, "PublicKey": public, "KeyId": key.arn,
            "KeyPairSpec": p["KeyPairSpec"], "KeyMaterialId": material_id}
