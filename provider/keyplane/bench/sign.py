"""`keyplane bench --sign`: Sign and Verify throughput of asymmetric keys.

For RSA_2048 (RSASSA_PSS_SHA_256) and ECC_NIST_P256 (ECDSA_SHA_256), a 100-byte message, three
layers side by side: raw `cryptography` with the same primitive (the floor), the engine API
(`Engine.invoke`) and a real boto3 client bound in-process. The distance between floor and engine
is what keyplane adds: key lookup, authorisation, the audit record.
"""
from __future__ import annotations

import os
import tempfile

from .measure import line, measure

CASES = (("RSA_2048", "RSASSA_PSS_SHA_256"), ("ECC_NIST_P256", "ECDSA_SHA_256"))


def add_arguments(p) -> None:
    p.add_argument("--sign", action="store_true",
                   help="measure Sign and Verify for RSA_2048 and ECC_NIST_P256 next to raw cryptography")


def run(args) -> int:
    sign_verify(args.seconds, args.state)
    return 0


def _raw(spec: str, algorithm: str):
    """(sign, verify) with `cryptography` alone, the primitive keyplane uses for this pair."""
    from ..engine.kms import asymmetric
    from ..engine.kms.specs import SPECS

    private = SPECS[spec].new_pair()
    public = private.public_key()
    alg = asymmetric.SIGNING[algorithm]
    message = os.urandom(100)
    signature = asymmetric.sign_with(private, alg, message, False)
    return (lambda: asymmetric.sign_with(private, alg, message, False),
            lambda: asymmetric.verify_with(public, alg, message, False, signature))


def sign_verify(seconds: float, state: str | None, out=print) -> dict:
    import keyplane
    from ..engine.core import Engine

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(state or os.path.join(tmp, "state"))
        ctx = engine.context()
        client = keyplane.connect(engine=engine).client("kms")
        message = os.urandom(100)
        out(f"keyplane bench --sign (in-process, 100-byte message, {seconds:.1f} s each, pid {os.getpid()})")
        for spec, algorithm in CASES:
            key = engine.invoke("kms", "CreateKey", {"KeySpec": spec, "KeyUsage": "SIGN_VERIFY",
                                                     "Description": "bench"}, ctx)["KeyMetadata"]["KeyId"]
            params = {"KeyId": key, "Message": message, "SigningAlgorithm": algorithm}
            signature = engine.invoke("kms", "Sign", params, ctx)["Signature"]
            raw_sign, raw_verify = _raw(spec, algorithm)
            layers = {
                "sign": (raw_sign, lambda: engine.invoke("kms", "Sign", params, ctx),
                         lambda: client.sign(**params)),
                "verify": (raw_verify, lambda: engine.invoke("kms", "Verify", {**params, "Signature": signature}, ctx),
                           lambda: client.verify(**params, Signature=signature)),
            }
            for op, (floor, via_engine, via_client) in layers.items():
                r = {"floor": measure(floor, seconds), "engine": measure(via_engine, seconds),
                     "client": measure(via_client, seconds)}
                out(line(f"{op} {spec}: raw cryptography (floor)", r["floor"]))
                out(line(f"{op} {spec}: engine API (Engine.invoke)", r["engine"]))
                out(line(f"{op} {spec}: boto3 client, in-process", r["client"]))
                results[f"{op} {spec}"] = r
        engine.close()
    return results
