"""A real `keyplane serve` on the identities `keyplane init` writes, untouched, for provider tests
that must hold for a new user (the examples, up.sh); and the stack config that points the
provider at it (`keyplane:endpoint`, SigV4 with init's access key)."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]


def http_fixtures():
    """tests/http/keyplane_server.py: the one way this suite starts and waits for a server."""
    path = TREE / "tests" / "http" / "keyplane_server.py"
    spec = importlib.util.spec_from_file_location("keyplane_server", path)
    module = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    if not hasattr(module, "start_server"):
        spec.loader.exec_module(module)
    return module


def init(state: Path) -> tuple[str, str]:
    """`keyplane init --state STATE`; the access key pair it prints."""
    out = http_fixtures().keyplane("init", "--state", str(state), cwd=state.parent)
    assert out.returncode == 0, out.stderr
    found = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out.stdout)
    return found.group(1), found.group(2)


class Served:
    """`keyplane init` then `keyplane serve` in `folder`, stopped by `stop()`."""

    def __init__(self, folder: Path, region: str = "us-east-1"):
        kps = http_fixtures()
        self.state = folder / ".keyplane"
        folder.mkdir(parents=True, exist_ok=True)
        self.access_key, self.secret_key = init(self.state)
        port = kps.free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.region = region
        self.log = folder / "serve.log"
        with open(self.log, "w") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "keyplane.cli", "serve", "--state", str(self.state), "--port", str(port)],
                env=kps.keyplane_env(), stdout=f, stderr=subprocess.STDOUT, cwd=folder)
        try:
            kps.wait_healthy(self.endpoint, self.proc, self.log)
        except Exception:
            self.stop()
            raise

    def config(self, **overrides) -> dict:
        """The stack config up.sh sets (plus the region)."""
        return {"keyplane:endpoint": self.endpoint, "keyplane:region": self.region,
                "keyplane:accessKey": self.access_key, "keyplane:secretKey": self.secret_key, **overrides}

    def connect(self, **credentials):
        """A keyplane connection (boto3 clients) to this server as init's admin, or as given."""
        import keyplane

        creds = {"access_key": self.access_key, "secret_key": self.secret_key, **credentials}
        return keyplane.connect(endpoint=self.endpoint, region=self.region, **creds)

    def assume(self, *role_arns: str):
        """A connection as a session of the last role, reached by assuming each role in turn."""
        conn = self.connect()
        for arn in role_arns:
            creds = conn.client("sts").assume_role(RoleArn=arn, RoleSessionName="test")["Credentials"]
            conn = self.connect(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                                session_token=creds["SessionToken"])
        return conn

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
