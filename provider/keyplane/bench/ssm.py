"""`keyplane bench --ssm`: Parameter Store's hot paths.

- GetParametersByPath over a 1,000-parameter subtree, in a store of 1,000 parameters and in one of
  100,000 (the big store is bulk-inserted straight through SQLAlchemy, so setup takes seconds): a
  full recursive walk (100 pages of 10) and a single page, through the engine API. The ratio big /
  small is the point: a path query costs the page, not the store.
- GetParameter(WithDecryption=True) on a SecureString: the engine API, a boto3 client in-process,
  and — with --ssm-http — a boto3 client over HTTP against a `keyplane serve` it starts.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from .measure import line, measure

SUBTREE = "/bench/app"


def add_arguments(p) -> None:
    p.add_argument("--ssm", action="store_true", help="bench Parameter Store instead of KMS")
    p.add_argument("--ssm-big", type=int, default=100_000, help="parameters in the big store (default 100000)")
    p.add_argument("--ssm-http", action="store_true", help="also measure GetParameter over HTTP (keyplane serve)")


def run(args) -> int:
    run_ssm(args.seconds, args.ssm_big, args.ssm_http)
    return 0



def fill(engine, total: int, account: str, region: str = "us-east-1") -> None:
    """`total` String parameters: 1,000 under SUBTREE, the rest before and after it in name order."""
    from ..engine.ssm.parameters import canonical, parameter_arn, parent_path
    from ..engine.ssm.tables import parameters as params_table
    from ..engine.ssm.tables import versions as versions_table

    now = time.time()
    names = [f"{SUBTREE}/svc{i // 100:02d}/p{i % 100:03d}" for i in range(1000)]
    others = total - len(names)
    names += [f"/{'a' if i % 2 else 'z'}team{i % 97:02d}/env{i % 7}/p{i:06d}" for i in range(others)]
    store = engine.store_for(region)
    rows, versions = [], []
    for name in names:
        key = canonical(name)
        record = dict(account=account, region=region, name=key, version=1, type="String", value="v",
                      key_id=None, description="", allowed_pattern="", tier="Standard", data_type="text",
                      policies="[]", last_modified=now, last_modified_user=f"arn:aws:iam::{account}:root")
        rows.append({**record, "display_name": name, "parent_path": parent_path(key),
                     "arn": parameter_arn(region, account, key), "policy_state": "{}", "next_policy_at": None})
        versions.append({**record, "labels": "[]"})
    for i in range(0, len(rows), 10_000):
        with store.write() as conn:
            conn.execute(params_table.insert(), rows[i:i + 10_000])
            conn.execute(versions_table.insert(), versions[i:i + 10_000])


def _walk(engine, ctx) -> int:
    n, token = 0, None
    while True:
        params = {"Path": SUBTREE, "Recursive": True, "MaxResults": 10}
        if token:
            params["NextToken"] = token
        out = engine.invoke("ssm", "GetParametersByPath", params, ctx)
        n += len(out["Parameters"])
        token = out.get("NextToken")
        if not token:
            return n


def _store(tmp: str, total: int):
    from ..engine.core import Engine
    engine = Engine(os.path.join(tmp, f"state-{total}"))
    ctx = engine.context()
    t0 = time.perf_counter()
    fill(engine, total, ctx.principal.account)
    setup = time.perf_counter() - t0
    assert _walk(engine, ctx) == 1000
    return engine, ctx, setup


def by_path(totals: tuple[int, int], seconds: float, out=print) -> dict:
    """Walks of the subtree in both stores, alternating small and big in rounds so a busy machine
    slows both alike; each round's figure is its median walk (wall and CPU time)."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        stores = {total: _store(tmp, total) for total in totals}
        for total, (_, _, setup) in stores.items():
            out(f"store of {total:,} parameters ready (bulk insert {setup:.1f} s)")
        walks = {total: [] for total in totals}
        cpu = {total: [] for total in totals}
        rounds = 5
        for _ in range(rounds):
            for total, (engine, ctx, _) in stores.items():
                end = time.perf_counter() + seconds / rounds
                while True:
                    w0, c0 = time.perf_counter(), time.process_time()
                    _walk(engine, ctx)
                    walks[total].append(time.perf_counter() - w0)
                    cpu[total].append(time.process_time() - c0)
                    if time.perf_counter() >= end:
                        break
        for total, (engine, ctx, _) in stores.items():
            page = measure(lambda: engine.invoke("ssm", "GetParametersByPath",
                                                       {"Path": f"{SUBTREE}/svc50", "MaxResults": 10}, ctx), seconds)
            one_level = measure(lambda: engine.invoke(
                "ssm", "GetParametersByPath", {"Path": f"{SUBTREE}/svc07", "MaxResults": 10}, ctx), seconds)
            wall_ms = statistics.median(walks[total]) * 1e3
            cpu_ms = statistics.median(cpu[total]) * 1e3
            out(f"store of {total:,}: ByPath walk of the 1,000-parameter subtree (100 pages of 10, recursive): "
                f"median {wall_ms:.1f} ms wall, {cpu_ms:.1f} ms CPU over {len(walks[total])} walks")
            out(line("  ByPath one page (10), one level", one_level))
            out(line("  ByPath one page, recursive, nothing under", page))
            results[total] = {"walk_ms": wall_ms, "walk_cpu_ms": cpu_ms, "page": page, "one_level": one_level}
            engine.close()
    return results


def get_parameter(seconds: float, http: bool, out=print) -> dict:
    import keyplane
    from ..engine.core import Engine
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(os.path.join(tmp, "state"))
        ctx = engine.context()
        engine.invoke("ssm", "PutParameter", {"Name": "/bench/secret", "Value": "x" * 100,
                                              "Type": "SecureString"}, ctx)
        params = {"Name": "/bench/secret", "WithDecryption": True}
        assert engine.invoke("ssm", "GetParameter", params, ctx)["Parameter"]["Value"] == "x" * 100
        client = keyplane.connect(engine=engine).client("ssm")
        results["engine"] = measure(lambda: engine.invoke("ssm", "GetParameter", params, ctx), seconds)
        results["client"] = measure(lambda: client.get_parameter(**params), seconds)
        out(line("GetParameter(WithDecryption) engine API", results["engine"]))
        out(line("GetParameter(WithDecryption) boto3 in-process", results["client"]))
        engine.close()
        if http:
            results["http"] = _over_http(os.path.join(tmp, "served"), seconds)
            out(line("GetParameter(WithDecryption) boto3 over HTTP", results["http"]))
    return results


def _over_http(state: str, seconds: float) -> dict:
    import keyplane
    from ..engine.identity import Identities
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, "-m", "keyplane.cli", "init", "--state", state], env=env, check=True,
                   capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a capacity measurement: Parameter Store's 40 reads a second would measure the quota instead
    server = subprocess.Popen([sys.executable, "-m", "keyplane.cli", "serve", "--state", state, "--port", str(port),
                               "--quotas", "off"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("keyplane serve did not start")
                time.sleep(0.1)   # waiting for a real process to listen; not domain time
        akid, secret = Identities.load(os.path.join(state, "identities.yaml")).default_credentials()
        client = keyplane.connect(endpoint=f"http://127.0.0.1:{port}", access_key=akid,
                                  secret_key=secret).client("ssm")
        client.put_parameter(Name="/bench/secret", Value="x" * 100, Type="SecureString")
        return measure(lambda: client.get_parameter(Name="/bench/secret", WithDecryption=True), seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_ssm(seconds: float, big: int, http: bool, out=print) -> dict:
    out(f"keyplane bench --ssm ({seconds:.1f} s per measurement, pid {os.getpid()}, load {os.getloadavg()[0]:.1f})")
    bp = by_path((1000, big), seconds * 2, out)
    ratio = bp[big]["walk_ms"] / bp[1000]["walk_ms"]
    cpu_ratio = bp[big]["walk_cpu_ms"] / bp[1000]["walk_cpu_ms"]
    out(f"ByPath walk cost, {big:,} vs 1,000 parameters: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target <= 1.5x)")
    gp = get_parameter(seconds, http, out)
    summary = {"bypath_ratio_wall": round(ratio, 3), "bypath_ratio_cpu": round(cpu_ratio, 3),
               "walk_ms": {str(k): round(v["walk_ms"], 2) for k, v in bp.items()},
               "get_parameter_ops": {k: round(v["ops"]) for k, v in gp.items()}}
    out(json.dumps(summary))
    return summary
