"""ML-KEM KMS keys (ML_KEM_768 and ML_KEM_1024 of specs.py, KeyUsage ENCAPSULATE_DECAPSULATE):
Encapsulate and Decapsulate. GetPublicKey, CreateKey and GenerateDataKeyPair serve these keys as
they serve every key pair (asymmetric.py, keys.py).

- Encapsulate: ML-KEM.Encaps (FIPS 203) under the key's public half: a fresh 32-byte shared secret
  and its ciphertext (1088 bytes for ML_KEM_768, 1568 for ML_KEM_1024).
- Decapsulate: ML-KEM.Decaps under the private half. ML-KEM rejects implicitly: a ciphertext of the
  right length that another key made, or that was altered, gives 32 pseudo-random bytes, not an
  error; only a ciphertext whose length does not fit the key spec is InvalidCiphertextException.

Both are `cryptography`'s ML-KEM (OpenSSL); the shared secret is a blob, so it never enters the
audit trail.
"""
from __future__ import annotations

from ..authz import authorize
from ..errors import InvalidCiphertextException
from ..registry import operation
from .cryptographic import dry_run
from .key_pairs import private_key, public_key
from .model import CRYPTO_STATES, Key, require_state, resolve_key, wrong_algorithm, wrong_usage

# SharedSecretCiphertextBlob's length, by key spec (Encapsulate's reference)
CIPHERTEXT_BYTES = {"ML_KEM_768": 1088, "ML_KEM_1024": 1568}


def _conditions(call) -> dict:
    return {"kms:RequestAlias": call.request_alias} if call.request_alias else {}


def _kem_key(call, p, action: str) -> Key:
    """The checks Encapsulate and Decapsulate share, in AWS's order: the key, the caller's right to
    `action`, the key's state, its usage, the algorithm."""
    key = resolve_key(call, p["KeyId"])
    authorize(call, action, key=key, context=_conditions(call))
    require_state(key, CRYPTO_STATES)
    if key.key_usage != "ENCAPSULATE_DECAPSULATE":
        raise wrong_usage(key, call.spec.name)
    algorithm = p["EncapsulationAlgorithm"]
    if algorithm not in key.spec.algorithms["ENCAPSULATE_DECAPSULATE"]["EncapsulationAlgorithms"]:
        raise wrong_algorithm(key, algorithm)
    return key


@operation("kms", "Encapsulate", readonly=True, tracks_use=True)
def encapsulate(call, p):
    key = _kem_key(call, p, "kms:Encapsulate")
    dry_run(p)
    shared_secret, ciphertext = public_key(call, key).encapsulate()
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"KeyId": key.arn, "SharedSecret": shared_secret, "SharedSecretCiphertextBlob": ciphertext,
            "EncapsulationAlgorithm": p["EncapsulationAlgorithm"]}


@operation("kms", "Decapsulate", readonly=True, tracks_use=True)
def decapsulate(call, p):
    key = _kem_key(call, p, "kms:Decapsulate")
    ciphertext = p["SharedSecretCiphertextBlob"]
    if len(ciphertext) != CIPHERTEXT_BYTES[key.key_spec]:
        raise InvalidCiphertextException("")      # AWS sends this code with no message member
    dry_run(p)
    shared_secret = private_key(call, key).decapsulate(ciphertext)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"KeyId": key.arn, "SharedSecret": shared_secret, "EncapsulationAlgorithm": p["EncapsulationAlgorithm"]}
