"""`keyplane bench`: throughput and latency of the hot operations.

In-process it measures three layers for Encrypt, Decrypt and GenerateDataKey with a 100-byte
plaintext: the engine API (`Engine.invoke`), a real boto3 client bound in-process, and — as the
floor — raw AES-256-GCM on this machine. Each line: ops/s, p50 and p99 in microseconds, and ops per
CPU-second of the process including the audit records written in the background (the figure that
stays meaningful when other work shares the machine).
"""
from __future__ import annotations

import os
import statistics
import tempfile
import time

OPS = ("encrypt", "decrypt", "generate-data-key")


def add_arguments(sub) -> None:
    from . import bench_http  # noqa: F401 - registers --endpoint/--compare/--clients/--floor
    p = sub.add_parser("bench", help="measure Encrypt / Decrypt / GenerateDataKey throughput")
    p.add_argument("--ops", default=",".join(OPS), help="comma-separated: " + ", ".join(OPS))
    p.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    p.add_argument("--state", default=None, help="store to bench on (default: a temporary folder)")
    p.set_defaults(run=run)
    _load_modes()
    for hook in ARGUMENT_HOOKS:
        hook(p)


# other bench modes (HTTP endpoints, policies) add their options and take over `run` when used
ARGUMENT_HOOKS: list = []
RUN_HOOKS: list = []


def _load_modes() -> None:
    """Import every bench mode in keyplane.benches (each registers its hooks on import)."""
    import importlib
    import pkgutil

    from . import benches
    for mod in pkgutil.iter_modules(benches.__path__, benches.__name__ + "."):
        importlib.import_module(mod.name)


def measure(fn, seconds: float, settle=None) -> dict:
    """Call fn repeatedly for `seconds`; ops/s and latency percentiles (µs), and ops per CPU-second
    of this process (all threads), counting `settle()` after the loop — e.g. the audit flush — so
    the figure includes work done in the background and holds on a busy machine too."""
    for _ in range(50):
        fn()
    if settle:
        settle()
    samples = []
    clock = time.perf_counter
    cpu0 = time.process_time()
    end = clock() + seconds
    start = clock()
    while True:
        t0 = clock()
        fn()
        t1 = clock()
        samples.append(t1 - t0)
        if t1 >= end:
            break
    elapsed = clock() - start
    if settle:
        settle()
    cpu = time.process_time() - cpu0
    samples.sort()
    return {"ops": len(samples) / elapsed, "p50": samples[len(samples) // 2] * 1e6,
            "p99": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1e6,
            "mean": statistics.fmean(samples) * 1e6, "n": len(samples),
            "cpu_ops": len(samples) / cpu if cpu > 0 else float("inf")}


def line(label: str, r: dict) -> str:
    text = f"{label:<44} {r['ops']:>10,.0f} ops/s   p50 {r['p50']:>8.1f} µs   p99 {r['p99']:>8.1f} µs"
    if "cpu_ops" in r:   # results measured in another process (over HTTP) carry their own CPU figures
        text += f"   {r['cpu_ops']:>10,.0f} ops/CPU-s"
    return text


def in_process(ops: list[str], seconds: float, state: str | None, out=print) -> dict:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    import keyplane
    from .engine.core import Engine
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
            out(line(f"{op}: raw AES-256-GCM (floor)", r_floor))
            out(line(f"{op}: engine API (Engine.invoke)", r_engine))
            out(line(f"{op}: boto3 client, in-process", r_client))
            results[op] = {"floor": r_floor, "engine": r_engine, "client": r_client}
        engine.close()
    return results


def run(args) -> int:
    for hook in RUN_HOOKS:
        handled = hook(args)
        if handled is not None:
            return handled
    ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    unknown = [o for o in ops if o not in OPS]
    if unknown:
        print(f"keyplane bench: unknown operation(s) {', '.join(unknown)}; choose from {', '.join(OPS)}")
        return 2
    in_process(ops, args.seconds, args.state)
    return 0

