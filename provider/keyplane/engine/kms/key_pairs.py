"""The key pair of an asymmetric KMS key: its private and public halves (parsed once, cached with the
key), and RSA encryption, which Encrypt / Decrypt / ReEncrypt (cryptographic.py) call for RSA keys."""
from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from ..errors import InvalidCiphertextException, KMSInternalException, ValidationException
from . import messages
from .model import Key, material_object, material_public_key, material_secret
from .specs import OAEP_HASHES, AsymmetricSpec


# ---- the halves of the pair -----------------------------------------------------------------
def is_asymmetric(key: Key) -> bool:
    return isinstance(key.spec, AsymmetricSpec)


def private_key(call, key: Key):
    material_id = key.current_material_id

    def load():
        secret = material_secret(call, key, material_id)
        if secret is None:
            return None
        # The material unsealed under AES-GCM, so it is the key that was made here or checked when
        # imported (public_key); re-validating RSA costs 0.2 s (2048) to 1.3 s (4096) per cache refill.
        return serialization.load_der_private_key(secret, password=None, unsafe_skip_rsa_key_validation=True)
    obj = material_object(call, key, "private", material_id, load) if material_id else None
    if obj is None:
        raise KMSInternalException("The key material of this KMS key is not available.")
    return obj


def public_key_der(call, key: Key) -> bytes:
    der = material_public_key(call, key, key.current_material_id) if key.current_material_id else None
    if der is None:
        raise KMSInternalException("The key material of this KMS key is not available.")
    return der


def public_key(call, key: Key):
    material_id = key.current_material_id
    return material_object(call, key, "public", material_id,
                           lambda: serialization.load_der_public_key(public_key_der(call, key)))


# ---- RSA encryption (Encrypt / Decrypt / ReEncrypt call these) ---------------------------------
def _oaep(algorithm: str):
    h = OAEP_HASHES[algorithm]
    return padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)


def max_plaintext(key_size_bits: int, algorithm: str) -> int:
    """RSAES-OAEP's limit: k - 2·hLen - 2 (RSA_2048 with SHA-256: 190 bytes)."""
    return key_size_bits // 8 - 2 * OAEP_HASHES[algorithm].digest_size - 2


def rsa_encrypt(call, key: Key, plaintext: bytes, algorithm: str) -> tuple[bytes, str]:
    public = public_key(call, key)
    limit = max_plaintext(public.key_size, algorithm)
    if len(plaintext) > limit:
        raise ValidationException(messages.RSA_PLAINTEXT_TOO_LONG.format(
            algorithm=algorithm, key_spec=key.key_spec, limit=limit))
    return public.encrypt(plaintext, _oaep(algorithm)), key.current_material_id


def rsa_decrypt(call, key: Key, blob: bytes, algorithm: str) -> tuple[bytes, str]:
    try:
        return private_key(call, key).decrypt(blob, _oaep(algorithm)), key.current_material_id
    except ValueError:
        raise InvalidCiphertextException("") from None
