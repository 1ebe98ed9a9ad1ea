"""A real `keyplane serve` process on a free port, started by a test, and clients for it.

A module with its own name (not conftest) so any test directory can import it unambiguously."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import botocore.config
import yaml

from keyplane.engine.identity import write_private

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def keyplane_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "provider") + os.pathsep + env.get("PYTHONPATH", "")
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
              "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE"):
        env.pop(k, None)
    env.update(extra)
    return env


def keyplane(*args, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "keyplane.cli", *args], env=keyplane_env(), text=True,
                          capture_output=True, timeout=120, **kw)


@dataclass
class Server:
    proc: subprocess.Popen
    endpoint: str
    state: Path
    access_key: str
    secret_key: str
    log: Path
    ca: str | None = None

    def client(self, service: str, region: str = "us-east-1", **kw):
        creds = {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key}
        creds.update({k: kw.pop(k) for k in list(kw) if k.startswith("aws_")})
        return boto3.session.Session(**creds).client(
            service, region_name=region, endpoint_url=self.endpoint, verify=self.ca if self.ca else None,
            config=botocore.config.Config(retries={"total_max_attempts": 1}, **kw))

    def output(self) -> str:
        return self.log.read_text()

    def stop(self, sig=signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def wait_healthy(endpoint: str, proc: subprocess.Popen, log: Path, ca: str | None = None, timeout: float = 60):
    import ssl
    ctx = ssl.create_default_context(cafile=ca) if ca else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"keyplane serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(endpoint + "/_keyplane/health", timeout=2, context=ctx) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # waiting for a process to bind its port, not for domain time
    raise RuntimeError(f"keyplane serve did not become healthy:\n{log.read_text()}")


ADMIN_ARN = "arn:aws:iam::111122223333:user/admin"
ALL_KMS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}


def role(name: str, trusted: str) -> dict:
    return {"name": name, "policies": [{"name": "kms", "document": ALL_KMS}],
            "trust_policy": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}]}}


# roles every test server has: one the admin may assume, one only another account may
ROLES = [role("deployer", ADMIN_ARN), role("locked", "arn:aws:iam::999988887777:root")]


def start_server(tmp: Path, *extra: str, init: bool = True, roles: list | None = None,
                 store: str | None = None, tls_ca: str | None = None, preexec_fn=None) -> Server:
    """`store` (a database URL) keeps the data there; the root key and identities then live in
    `tmp/.keyplane`, the state folder of a process started in `tmp`."""
    state = tmp / ".keyplane" if store else tmp / "state"
    state_arg = store or str(state)
    tmp.mkdir(parents=True, exist_ok=True)
    access_key = secret_key = ""
    if init:
        out = keyplane("init", "--state", state_arg, cwd=tmp)
        assert out.returncode == 0, out.stderr
        m = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out.stdout)
        access_key, secret_key = m.group(1), m.group(2)
        ids = state / "identities.yaml"
        doc = yaml.safe_load(ids.read_text())
        doc["accounts"][0]["roles"] = ROLES if roles is None else roles
        write_private(ids, yaml.safe_dump(doc))
    port = free_port()
    log = tmp / f"serve-{port}.log"
    args = [sys.executable, "-m", "keyplane.cli", "serve", "--port", str(port), *extra]
    if "--quotas" not in extra:
        args += ["--quotas", "off"]   # tests make keys faster than AWS's 5 CreateKey a second
    if "--dev" not in extra or init:
        args += ["--state", state_arg]
    with open(log, "w") as f:
        proc = subprocess.Popen(args, env=keyplane_env(), stdout=f, stderr=subprocess.STDOUT, cwd=tmp,
                                preexec_fn=preexec_fn)
    scheme = "https" if "--tls" in extra or "--tls-cert" in extra else "http"
    endpoint = f"{scheme}://127.0.0.1:{port}"
    ca = tls_ca
    if scheme == "https" and ca is None:
        ca = str(state / "tls" / "ca.pem")
        deadline = time.monotonic() + 60
        while not os.path.exists(ca) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
    try:
        wait_healthy(endpoint, proc, log, ca)
    except Exception:
        proc.kill()
        raise
    if not init and "--dev" in extra:  # dev mode prints its credentials
        m = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", log.read_text())
        access_key, secret_key = m.group(1), m.group(2)
    return Server(proc, endpoint, state, access_key, secret_key, log, ca)




def start_servers(tmp: Path, store: str, count: int, *extra: str) -> list[Server]:
    """`count` servers on one database `store`, sharing the root key and identities that one
    `keyplane init` in `tmp` made (each process started in `tmp` finds them in `tmp/.keyplane`)."""
    first = start_server(tmp, *extra, store=store)
    servers = [first]
    try:
        for _ in range(count - 1):
            other = start_server(tmp, *extra, store=store, init=False)
            other.access_key, other.secret_key = first.access_key, first.secret_key
            servers.append(other)
    except Exception:
        for s in servers:
            s.stop()
        raise
    return servers
