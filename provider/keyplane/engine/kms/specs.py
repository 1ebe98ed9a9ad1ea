"""Key specs: which usages each allows, which algorithms it offers, how its material is made.

Every spec keyplane serves is listed in `SPECS`: the symmetric default, the key pairs (RSA, NIST/SECG
elliptic curves, Ed25519, ML-KEM) and HMAC. CreateKey, DescribeKey and the cryptographic operations
look specs up there; what a spec's keys do lives with the operations (asymmetric.py, encapsulation.py,
hmac_keys.py). `UNSERVED` names the specs of the KMS model keyplane refuses, and why.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mlkem, rsa


@dataclass(frozen=True)
class KeySpec:
    name: str
    usages: tuple[str, ...]                       # allowed KeyUsage values
    generate: Callable[[], bytes]                 # new private/secret material (bytes to seal)
    # per usage: the KeyMetadata field and its algorithm list
    algorithms: dict = field(default_factory=dict)
    symmetric: bool = False

    def metadata_algorithms(self, usage: str) -> dict:
        return dict(self.algorithms.get(usage, {}))


SYMMETRIC_DEFAULT = KeySpec(
    name="SYMMETRIC_DEFAULT",
    usages=("ENCRYPT_DECRYPT",),
    generate=lambda: os.urandom(32),
    algorithms={"ENCRYPT_DECRYPT": {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}},
    symmetric=True,
)


# ---- key pairs ---------------------------------------------------------------------------------
# RSA encryption's algorithms, by the hash OAEP uses
OAEP_HASHES = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}

_DER = serialization.Encoding.DER
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
_PKCS8 = serialization.PrivateFormat.PKCS8


def private_der(private) -> bytes:
    return private.private_bytes(_DER, _PKCS8, serialization.NoEncryption())


def public_der(private) -> bytes:
    return private.public_key().public_bytes(_DER, _SPKI)


# Public halves of pairs made here, by the private half's hash, until CreateKey asks for them: the
# pair is known to be sound, so it is not parsed (and, for RSA, re-validated: up to 1.3 s) again.
_MADE: dict[bytes, bytes] = {}


def _remember(private) -> bytes:
    der = private_der(private)
    if len(_MADE) > 256:      # pairs generated but never stored (a CreateKey that failed)
        _MADE.clear()
    _MADE[hashlib.sha256(der).digest()] = public_der(private)
    return der


@dataclass(frozen=True)
class AsymmetricSpec(KeySpec):
    """A key-pair spec. `new_pair()` makes a private key object (GenerateDataKeyPair); `generate()`
    its PKCS#8 DER (CreateKey); `public_key(secret)` the DER SPKI CreateKey and ImportKeyMaterial
    store beside the sealed private half; `fits(private)` whether a private key is of this spec."""
    new_pair: Callable[[], object] | None = None
    fits: Callable[[object], bool] | None = None
    curve: type | None = None            # elliptic-curve specs: the curve class

    def public_key(self, secret: bytes) -> bytes:
        made = _MADE.pop(hashlib.sha256(secret).digest(), None)
        if made is not None:
            return made
        # material from outside keyplane (imported): fully validated, and of this very spec
        private = serialization.load_der_private_key(secret, password=None)
        if not self.fits(private):
            raise ValueError(f"the private key is not a {self.name} key")
        return public_der(private)


def _spec(name: str, new: Callable[[], object], fits: Callable[[object], bool], **fields) -> AsymmetricSpec:
    return AsymmetricSpec(name=name, generate=lambda: _remember(new()), new_pair=new, fits=fits, **fields)


_RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
                "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]


def _rsa_spec(bits: int) -> AsymmetricSpec:
    return _spec(f"RSA_{bits}", lambda: rsa.generate_private_key(public_exponent=65537, key_size=bits),
                 lambda k: isinstance(k, rsa.RSAPrivateKey) and k.key_size == bits,
                 usages=("ENCRYPT_DECRYPT", "SIGN_VERIFY"),
                 algorithms={"ENCRYPT_DECRYPT": {"EncryptionAlgorithms": list(OAEP_HASHES)},
                             "SIGN_VERIFY": {"SigningAlgorithms": list(_RSA_SIGNING)}})


def _ec_spec(name: str, curve: type, ecdsa: str, agreement: bool) -> AsymmetricSpec:
    algorithms = {"SIGN_VERIFY": {"SigningAlgorithms": [ecdsa]}}
    if agreement:
        algorithms["KEY_AGREEMENT"] = {"KeyAgreementAlgorithms": ["ECDH"]}
    return _spec(name, lambda: ec.generate_private_key(curve()),
                 lambda k: isinstance(k, ec.EllipticCurvePrivateKey) and isinstance(k.curve, curve),
                 usages=tuple(algorithms), algorithms=algorithms, curve=curve)


KEY_PAIR_SPECS = (
    _rsa_spec(2048), _rsa_spec(3072), _rsa_spec(4096),
    _ec_spec("ECC_NIST_P256", ec.SECP256R1, "ECDSA_SHA_256", agreement=True),
    _ec_spec("ECC_NIST_P384", ec.SECP384R1, "ECDSA_SHA_384", agreement=True),
    _ec_spec("ECC_NIST_P521", ec.SECP521R1, "ECDSA_SHA_512", agreement=True),
    _ec_spec("ECC_SECG_P256K1", ec.SECP256K1, "ECDSA_SHA_256", agreement=False),
    # pure Ed25519 (MessageType RAW) and Ed25519ph (MessageType DIGEST), in the order AWS lists them
    _spec("ECC_NIST_EDWARDS25519", ed25519.Ed25519PrivateKey.generate,
          lambda k: isinstance(k, ed25519.Ed25519PrivateKey), usages=("SIGN_VERIFY",),
          algorithms={"SIGN_VERIFY": {"SigningAlgorithms": ["ED25519_SHA_512", "ED25519_PH_SHA_512"]}}),
    # ML-KEM (FIPS 203): the private half is PKCS#8 in seed form (the 64-byte d||z), as AWS hands
    # out ML-KEM data key pairs; the public half the DER SPKI of the ML-KEM X.509 profile
    *(_spec(f"ML_KEM_{level}", private.generate, lambda k, private=private: isinstance(k, private),
            usages=("ENCAPSULATE_DECAPSULATE",),
            algorithms={"ENCAPSULATE_DECAPSULATE": {"EncapsulationAlgorithms": ["ML_KEM"]}})
      for level, private in ((768, mlkem.MLKEM768PrivateKey), (1024, mlkem.MLKEM1024PrivateKey))),
)


# ---- HMAC --------------------------------------------------------------------------------------
def _hmac_spec(bits: int) -> KeySpec:
    return KeySpec(
        name=f"HMAC_{bits}", usages=("GENERATE_VERIFY_MAC",),
        generate=lambda: os.urandom(bits // 8),
        algorithms={"GENERATE_VERIFY_MAC": {"MacAlgorithms": [f"HMAC_SHA_{bits}"]}})


HMAC_SPECS = tuple(_hmac_spec(bits) for bits in (224, 256, 384, 512))

SPECS: dict[str, KeySpec] = {s.name: s for s in (SYMMETRIC_DEFAULT, *KEY_PAIR_SPECS, *HMAC_SPECS)}

# Key specs of the KMS model that keyplane does not serve, and why (CreateKey and GenerateDataKeyPair
# refuse them with UnsupportedOperationException; any other unknown spec is "not supported in this Region")
UNSERVED = {
    "ML_KEM_512": "ML_KEM_512 is not supported by keyplane: its crypto library (cryptography) offers "
                  "ML-KEM-768 and ML-KEM-1024 only. Use ML_KEM_768 or ML_KEM_1024.",
}
