"""keyplane for tests: an isolated keyplane per test, in-process or served.

In-process, as `moto.mock_aws` is for moto users — every boto3 client created inside the block
(through `boto3.client(...)` or any new session) that talks to KMS, Parameter Store, Secrets
Manager or STS reaches a fresh in-memory keyplane instead of AWS; other services get keyplane's
"not served" error, never the real AWS:

    from keyplane.testing import mock_keyplane

    with mock_keyplane() as kp:
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kp.clock.advance(days=8)      # the injected clock: deletion windows, rotation, expiry
        kp.run_due()
        kp.reset()                    # empty again

Served — a real `keyplane serve --dev` on a free port, for tests of another process, another
language's SDK, or the AWS CLI (dev mode accepts the credentials `test` / `test`):

    from keyplane.testing import serve_keyplane

    with serve_keyplane() as server:
        kms = server.client("kms")    # or AWS_ENDPOINT_URL=server.endpoint for a subprocess
        server.reset()

With pytest, the fixtures `keyplane_mock` and `keyplane_server` do the same (keyplane's pytest
plugin is registered on install).

Clients created before `mock_keyplane()` is entered keep talking to where they were made for;
create clients inside the block.
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime, timezone

DEV_ACCOUNT = "000000000000"
DEV_ACCESS_KEY = "test"
DEV_SECRET_KEY = "test"
# botocore's service id (as in event names) -> keyplane's service
_SERVICES = {"kms": "kms", "ssm": "ssm", "secrets-manager": "secretsmanager", "sts": "sts"}
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")

_active: list["KeyplaneMock"] = []
_installed = threading.Lock()
_handler_installed = False


class KeyplaneMock:
    """A fresh in-memory keyplane whose clock the test drives; see the module docstring."""

    def __init__(self, *, account: str = DEV_ACCOUNT, region: str = "us-east-1", start: datetime | None = None):
        from keyplane.engine.clock import ManualClock
        self.account, self.region = account, region
        self.clock = ManualClock(start or datetime.now(timezone.utc))
        self.engine = None
        self._saved_env: dict = {}
        self._saved_session = None

    # ---- the keyplane behind the clients --------------------------------------------------------
    def _new_engine(self):
        from keyplane.engine.core import Engine
        return Engine("memory", clock=self.clock, default_account=self.account)

    def reset(self) -> None:
        """Forget every key, alias, grant, parameter, secret and audit record."""
        old, self.engine = self.engine, self._new_engine()
        if old is not None:
            old.close()

    def run_due(self) -> dict:
        """Do the time-driven work now due on the mock's clock (deletions, rotations, expiry)."""
        return self.engine.run_due()

    def client(self, service: str, region: str | None = None):
        """A boto3 client for this keyplane (the same as `boto3.client(service)` inside the block)."""
        import boto3
        return boto3.session.Session().client(service, region_name=region or self.region)

    # ---- the before-send hook ------------------------------------------------------------------
    def _answer(self, request, event_name: str):
        from botocore.awsrequest import AWSResponse

        from keyplane.engine.identity import Principal
        from keyplane.engine.core import RequestContext
        from keyplane.wire import dispatch
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        service_id = event_name.split(".")[1] if event_name.count(".") >= 2 else ""
        found = _CREDENTIAL.search(headers.get("Authorization", ""))
        region = found.group(1) if found else self.region
        service = _SERVICES.get(service_id) or (found.group(2) if found else service_id)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        elif hasattr(body, "read"):
            body = body.read()
        ctx = RequestContext(principal=Principal.root(self.account), region=region,
                             user_agent=headers.get("User-Agent"))
        resp = dispatch(self.engine, service, headers, body, ctx)
        return AWSResponse(request.url, resp.status, resp.headers, _Body(resp.body))

    # ---- context manager -----------------------------------------------------------------------
    def start(self) -> "KeyplaneMock":
        import boto3
        _install_handler()
        self.reset()
        # credentials and a Region so boto3 signs without a profile; never real ones
        for name, value in (("AWS_ACCESS_KEY_ID", DEV_ACCESS_KEY), ("AWS_SECRET_ACCESS_KEY", DEV_SECRET_KEY),
                            ("AWS_DEFAULT_REGION", self.region)):
            self._saved_env[name] = os.environ.get(name)
            os.environ[name] = value
        for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
            self._saved_env[name] = os.environ.pop(name, None)
        # boto3.client() uses a default session made once: start a new one that has the hook
        self._saved_session, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None
        _active.append(self)
        return self

    def stop(self) -> None:
        import boto3
        if self in _active:
            _active.remove(self)
        boto3.DEFAULT_SESSION = self._saved_session
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def __enter__(self) -> "KeyplaneMock":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def mock_keyplane(**kwargs) -> KeyplaneMock:
    """An isolated in-process keyplane for boto3 clients created inside the `with` block."""
    return KeyplaneMock(**kwargs)


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def _before_send(request, event_name: str = "", **_):
    if not _active:
        return None                       # no mock active: the request goes where it was going
    return _active[-1]._answer(request, event_name)


def _install_handler() -> None:
    """Every botocore session made from now on sends through `_before_send` (a no-op outside a
    mock), as botocore registers its BUILTIN_HANDLERS on each new session."""
    global _handler_installed
    with _installed:
        if not _handler_installed:
            import botocore.handlers
            botocore.handlers.BUILTIN_HANDLERS.append(("before-send", _before_send))
            _handler_installed = True


# ---- served --------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KeyplaneServer:
    """`keyplane serve --dev` on a free loopback port, in its own process and temporary state."""

    def __init__(self, *args: str, port: int | None = None, region: str = "us-east-1", env: dict | None = None):
        self.args, self.region = args, region
        self.port = port or _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.access_key, self.secret_key = DEV_ACCESS_KEY, DEV_SECRET_KEY
        self._env = env or {}
        self.proc: subprocess.Popen | None = None
        self._dir: tempfile.TemporaryDirectory | None = None

    @property
    def environment(self) -> dict:
        """What a subprocess (the AWS CLI, another SDK) needs to reach this server."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": self.region}

    def client(self, service: str, region: str | None = None):
        import boto3
        import botocore.config
        return boto3.session.Session().client(
            service, region_name=region or self.region, endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            config=botocore.config.Config(retries={"total_max_attempts": 1}))

    def reset(self) -> None:
        """Empty the server's state (POST /_keyplane/reset, signed with the dev credentials)."""
        import botocore.auth
        import botocore.awsrequest
        import botocore.credentials
        request = botocore.awsrequest.AWSRequest("POST", self.endpoint + "/_keyplane/reset", data=b"")
        botocore.auth.SigV4Auth(botocore.credentials.Credentials(self.access_key, self.secret_key),
                                "kms", self.region).add_auth(request)
        prepared = urllib.request.Request(request.url, data=b"", method="POST", headers=dict(request.headers))
        with urllib.request.urlopen(prepared, timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"reset answered {resp.status}")

    def start(self, timeout: float = 60) -> "KeyplaneServer":
        self._dir = tempfile.TemporaryDirectory(prefix="keyplane-test-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # the server runs the same keyplane as this process imported, installed or not
        source = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = source + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.update(self._env)
        # O_APPEND: the server writes through a descriptor sharing this file's offset, so with "w+"
        # a line it wrote just after output()'s seek(0) overwrote the log's first lines
        self._log = open(os.path.join(self._dir.name, "serve.log"), "a+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "keyplane.cli", "serve", "--dev", "--host", "127.0.0.1",
             "--port", str(self.port), "--state", os.path.join(self._dir.name, "state"), *self.args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self._dir.name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"keyplane serve exited with {self.proc.returncode}:\n{self.output()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/_keyplane/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)   # waiting for the process to bind its port
        self.stop()
        raise RuntimeError(f"keyplane serve did not answer on {self.endpoint}:\n{self.output()}")

    def output(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._dir is not None:
            self._log.close()
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> "KeyplaneServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve_keyplane(*args: str, **kwargs) -> KeyplaneServer:
    """A served keyplane (dev mode) on a free port; extra `keyplane serve` flags as args."""
    return KeyplaneServer(*args, **kwargs)
