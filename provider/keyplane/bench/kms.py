"""`keyplane bench` (the default mode): throughput and latency of the hot operations.

In-process it measures three layers for Encrypt, Decrypt and GenerateDataKey with a 100-byte
plaintext: the engine API (`Engine.invoke`), a real boto3 client bound in-process, and two floors:
raw AES-256-GCM on this machine, and the same boto3 client whose before-send hook answers at once
(what botocore alone costs, so the client's line minus it is keyplane's share). Each line: ops/s, p50 and p99 in microseconds, and ops per
CPU-second of the process including the audit records written in the background (the figure that
stays meaningful when other work shares the machine).
"""
from __future__ import annotations

import os
import tempfile

from . import floor
from .measure import line, measure

OPS = ("encrypt", "decrypt", "generate-data-key")


def in_process(ops: list[str], seconds: float, state: str | None, out=print) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    import keyplane
    from ..engine.core import Engine
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(state or os.path.join(tmp, "state"))
        ctx = engine.context()
        key = engine.invoke("kms", "CreateKey", {"Description": "bench"}, ctx)["KeyMetadata"]["KeyId"]
        plaintext = os.urandom(100)
        blob = engine.invoke("kms", "Encrypt", {"KeyId": key, "Plaintext": plaintext}, ctx)["CiphertextBlob"]
        client = keyplane.connect(engine=engine).client("kms")
        aead = AESGCM(os.urandom(32))
        nonce = os.urandom(12)
        sealed = aead.encrypt(nonce, plaintext, b"")
        engine_calls = {
            "encrypt": lambda: engine.invoke("kms", "Encrypt", {"KeyId": key, "Plaintext": plaintext}, ctx),
            "decrypt": lambda: engine.invoke("kms", "Decrypt", {"CiphertextBlob": blob}, ctx),
            "generate-data-key": lambda: engine.invoke("kms", "GenerateDataKey",
                                                       {"KeyId": key, "KeySpec": "AES_256"}, ctx),
        }
        client_calls = {
            "encrypt": lambda: client.encrypt(KeyId=key, Plaintext=plaintext),
            "decrypt": lambda: client.decrypt(CiphertextBlob=blob),
            "generate-data-key": lambda: client.generate_data_key(KeyId=key, KeySpec="AES_256"),
        }
        bare = floor.in_process_client()
        bare_calls = {
            "encrypt": lambda: bare.encrypt(KeyId=key, Plaintext=plaintext),
            "decrypt": lambda: bare.decrypt(CiphertextBlob=blob),
            "generate-data-key": lambda: bare.generate_data_key(KeyId=key, KeySpec="AES_256"),
        }
        floor_calls = {
            "encrypt": lambda: aead.encrypt(os.urandom(12), plaintext, b""),
            "decrypt": lambda: aead.decrypt(nonce, sealed, b""),
            "generate-data-key": lambda: aead.encrypt(os.urandom(12), os.urandom(32), b""),
        }
        out(f"keyplane bench (in-process, 100-byte plaintext, {seconds:.1f} s each, pid {os.getpid()})")
        for op in ops:
            r_floor = measure(floor_calls[op], seconds)
            r_engine = measure(engine_calls[op], seconds, settle=engine.audit.flush)
            r_client = measure(client_calls[op], seconds, settle=engine.audit.flush)
            r_bare = measure(bare_calls[op], seconds)
            out(line(f"{op}: raw AES-256-GCM (floor)", r_floor))
            out(line(f"{op}: engine API (Engine.invoke)", r_engine))
            out(line(f"{op}: boto3 client, in-process", r_client))
            out(line(f"{op}: boto3 client, no-op send (floor)", r_bare))
            out(f"{op}: boto3 in-process / no-op client = {r_bare['cpu_ops'] / r_client['cpu_ops']:.2f} "
                f"(CPU per call)")
            results[op] = {"floor": r_floor, "engine": r_engine, "client": r_client, "client_floor": r_bare}
        engine.close()
    return results


def run(args) -> int:
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = [o for o in ops if o not in OPS]
    if unknown:
        print(f"keyplane bench: unknown operation(s) {', '.join(unknown)}; choose from {', '.join(OPS)}")
        return 2
    in_process(ops, args.seconds, args.state)
    return 0
