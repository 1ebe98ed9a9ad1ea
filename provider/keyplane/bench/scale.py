"""`keyplane bench --scale POSTGRES_URL`: 1, 2, ... N `keyplane serve` processes on one PostgreSQL
database, the client processes spread over them as a load balancer would, reporting Encrypt and
PutParameter calls/s and server CPU per call (all the servers of the step together) for each count.

The run is the deployment README describes, in miniature: its own database on that PostgreSQL server
(dropped afterwards), one root key every server reads from KEYPLANE_ROOT_KEY, identities in the store
(no file beside any server). Server CPU per call is the figure that holds on a shared machine: on a
machine with fewer cores than servers plus clients, calls/s cannot grow with the server count.
"""
from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from . import server_cpu
from .over_http import client, line, run_clients

OPS = {"encrypt": ("kms", "encrypt"), "put-parameter": ("ssm", "put_parameter")}


def add_arguments(p) -> None:
    p.add_argument("--scale", default=None, metavar="POSTGRES_URL",
                   help="bench 1..--scale-servers servers on one PostgreSQL database (made on this server "
                        "for the run and dropped after); --clients client processes per server")
    p.add_argument("--scale-servers", type=int, default=3, help="--scale: the largest number of servers")


def _database(admin_url: str):
    """(URL of a fresh database on the server of `admin_url`, a function that drops it)."""
    import sqlalchemy as sa

    from keyplane.engine.store.base import normalise_url
    name = "keyplane_bench_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop():
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    return admin_url.split("?", 1)[0].rsplit("/", 1)[0] + "/" + name, drop


def _identities(url: str, root_key: bytes) -> dict:
    """Identities imported into the store (an administrator with one key); its credentials."""
    from keyplane.engine.core import Engine
    from keyplane.engine.identity import default_document
    from keyplane.engine.identity_store import StoredIdentities
    from keyplane.engine.sealing import RootKey
    engine = Engine(url, root_key=RootKey(root_key, "bench"))
    try:
        doc = default_document()
        StoredIdentities.of(engine).replace(doc)
        key = doc["accounts"][0]["users"][0]["access_keys"][0]
        return {"aws_access_key_id": key["id"], "aws_secret_access_key": key["secret"]}
    finally:
        engine.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(url: str, env: dict, folder: str, log) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "keyplane.cli", "serve", "--host", "127.0.0.1", "--port",
                             str(port), "--state", url, "--quotas", "off"],
                            env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(endpoint + "/_keyplane/health", timeout=2) as r:
                if r.status == 200:
                    return proc, endpoint
        except OSError:
            time.sleep(0.1)   # waiting for the process to bind its port
    proc.kill()
    raise RuntimeError(f"a keyplane server on {url} did not start (log: {log.name})")


def _arguments(endpoint: str, creds: dict) -> dict:
    key = client(endpoint, "us-east-1", creds, None).create_key(Description="keyplane bench --scale")
    return {"encrypt": {"KeyId": key["KeyMetadata"]["Arn"], "Plaintext": os.urandom(100)},
            "put-parameter": {"Name": "/keyplane-bench/scale", "Value": "v" * 100, "Type": "String",
                              "Overwrite": True}}


def scale(args, out=print) -> dict:
    """{servers: {op: result}} for 1..args.scale_servers servers."""
    url, drop = _database(args.scale)
    folder = tempfile.mkdtemp(prefix="keyplane-bench-scale-")
    root_key = os.urandom(32)
    env = dict(os.environ, KEYPLANE_ROOT_KEY=base64.b64encode(root_key).decode())
    servers: list[tuple[subprocess.Popen, str]] = []
    results: dict = {}
    try:
        creds = _identities(url, root_key)
        with open(os.path.join(folder, "servers.log"), "w") as log:
            servers.append(_start_server(url, env, folder, log))
            calls = _arguments(servers[0][1], creds)
            out(f"keyplane bench --scale: 1..{args.scale_servers} servers on one PostgreSQL database, "
                f"{args.clients} client process(es) per server, {args.seconds:.1f} s each")
            for count in range(1, args.scale_servers + 1):
                while len(servers) < count:
                    servers.append(_start_server(url, env, folder, log))
                endpoints = [endpoint for _, endpoint in servers[:count]]
                pids = [proc.pid for proc, _ in servers[:count]]
                for op, call in OPS.items():
                    r = run_clients(endpoints, "us-east-1", creds, None, call, calls[op], args.seconds,
                                    args.clients * count, pids)
                    results.setdefault(count, {})[op] = r
                    errs = f"   errors {r['errors']}" if r["errors"] else ""
                    out(line(f"{count} server(s): {op}", r) + errs)
            for op in OPS:
                one = results[1][op]
                for count in range(2, args.scale_servers + 1):
                    r = results[count][op]
                    out(f"{op}: {count} servers / 1 = {r['ops'] / one['ops']:.2f} (calls/s), "
                        f"{r['server_cpu_us'] / one['server_cpu_us']:.2f} (server CPU per call)")
    finally:
        for proc, _ in servers:
            proc.terminate()
        for proc, _ in servers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
        drop()
    return results


def run(args) -> int:
    if args.scale_servers < 1:
        print("keyplane bench: --scale-servers must be at least 1")
        return 2
    return 0 if scale(args) else 2
