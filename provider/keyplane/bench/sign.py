"""`keyplane bench --sign`: Sign and Verify throughput of asymmetric keys, and Encapsulate and
Decapsulate of an ML-KEM key.

For RSA_2048 (RSASSA_PSS_SHA_256) and ECC_NIST_P256 (ECDSA_SHA_256) over a 100-byte message,
ECC_NIST_EDWARDS25519 (ED25519_PH_SHA_512) over a 64-byte SHA-512 digest, and ML_KEM_768, three
layers side by side: the raw primitive keyplane uses (`cryptography`, libsodium for Ed25519ph: the
floor), the engine API (`Engine.invoke`) and a real boto3 client bound in-process. The distance
between floor and engine is what keyplane adds: key lookup, authorisation, the audit record.
"""
from __future__ import annotations

import hashlib
import os
import tempfile

from .measure import line, measure

# (key spec, signing algorithm, MessageType)
CASES = (("RSA_2048", "RSASSA_PSS_SHA_256", "RAW"), ("ECC_NIST_P256", "ECDSA_SHA_256", "RAW"),
         ("ECC_NIST_EDWARDS25519", "ED25519_PH_SHA_512", "DIGEST"))
KEM_SPEC = "ML_KEM_768"


def add_arguments(p) -> None:
    p.add_argument("--sign", action="store_true",
                   help="measure Sign and Verify (RSA_2048, ECC_NIST_P256, Ed25519ph) and Encapsulate and "
                        "Decapsulate (ML_KEM_768) next to the raw primitives")


def run(args) -> int:
    sign_verify(args.seconds, args.state)
    return 0


def _message(message_type: str) -> bytes:
    return hashlib.sha512(os.urandom(100)).digest() if message_type == "DIGEST" else os.urandom(100)


def _raw(spec: str, algorithm: str, message: bytes, digest: bool):
    """(sign, verify) with the primitive keyplane uses for this pair, alone."""
    from ..engine.kms import asymmetric
    from ..engine.kms.specs import SPECS

    private = SPECS[spec].new_pair()
    public = private.public_key()
    alg = asymmetric.SIGNING[algorithm]
    signature = asymmetric.sign_with(private, alg, message, digest)
    return (lambda: asymmetric.sign_with(private, alg, message, digest),
            lambda: asymmetric.verify_with(public, alg, message, digest, signature))


def _raw_kem(spec: str):
    """(encapsulate, decapsulate) with `cryptography`'s ML-KEM alone."""
    from ..engine.kms.specs import SPECS

    private = SPECS[spec].new_pair()
    public = private.public_key()
    _, ciphertext = public.encapsulate()
    return public.encapsulate, lambda: private.decapsulate(ciphertext)


def sign_verify(seconds: float, state: str | None, out=print) -> dict:
    import keyplane
    from ..engine.core import Engine

    results = {}

    def report(op: str, spec: str, floor, via_engine, via_client, floor_name: str) -> None:
        r = {"floor": measure(floor, seconds), "engine": measure(via_engine, seconds),
             "client": measure(via_client, seconds)}
        out(line(f"{op} {spec}: raw {floor_name} (floor)", r["floor"]))
        out(line(f"{op} {spec}: engine API (Engine.invoke)", r["engine"]))
        out(line(f"{op} {spec}: boto3 client, in-process", r["client"]))
        results[f"{op} {spec}"] = r

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(state or os.path.join(tmp, "state"))
        ctx = engine.context()
        client = keyplane.connect(engine=engine).client("kms")
        out(f"keyplane bench --sign (in-process, 100-byte messages or 64-byte digests, {seconds:.1f} s each, "
            f"pid {os.getpid()})")
        for spec, algorithm, message_type in CASES:
            key = engine.invoke("kms", "CreateKey", {"KeySpec": spec, "KeyUsage": "SIGN_VERIFY",
                                                     "Description": "bench"}, ctx)["KeyMetadata"]["KeyId"]
            message = _message(message_type)
            params = {"KeyId": key, "Message": message, "SigningAlgorithm": algorithm, "MessageType": message_type}
            signature = engine.invoke("kms", "Sign", params, ctx)["Signature"]
            raw_sign, raw_verify = _raw(spec, algorithm, message, message_type == "DIGEST")
            floor_name = "libsodium" if algorithm == "ED25519_PH_SHA_512" else "cryptography"
            report("sign", spec, raw_sign, lambda: engine.invoke("kms", "Sign", params, ctx),
                   lambda: client.sign(**params), floor_name)
            report("verify", spec, raw_verify,
                   lambda: engine.invoke("kms", "Verify", {**params, "Signature": signature}, ctx),
                   lambda: client.verify(**params, Signature=signature), floor_name)

        key = engine.invoke("kms", "CreateKey", {"KeySpec": KEM_SPEC, "KeyUsage": "ENCAPSULATE_DECAPSULATE",
                                                 "Description": "bench"}, ctx)["KeyMetadata"]["KeyId"]
        params = {"KeyId": key, "EncapsulationAlgorithm": "ML_KEM"}
        blob = engine.invoke("kms", "Encapsulate", params, ctx)["SharedSecretCiphertextBlob"]
        decapsulate = {**params, "SharedSecretCiphertextBlob": blob}
        raw_encapsulate, raw_decapsulate = _raw_kem(KEM_SPEC)
        report("encapsulate", KEM_SPEC, raw_encapsulate, lambda: engine.invoke("kms", "Encapsulate", params, ctx),
               lambda: client.encapsulate(**params), "cryptography")
        report("decapsulate", KEM_SPEC, raw_decapsulate,
               lambda: engine.invoke("kms", "Decapsulate", decapsulate, ctx),
               lambda: client.decapsulate(**decapsulate), "cryptography")
        engine.close()
    return results
