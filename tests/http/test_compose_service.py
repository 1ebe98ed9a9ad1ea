"""examples/compose.yaml's keyplane service, run as its container would run it but outside one (no
container runtime can run a compose file on these machines; tests/container builds and runs the
image itself): the image's entry point with the service's environment, read from the compose file,
its store a real PostgreSQL database. Answers the AWS CLI with test/test, passes the image's
healthcheck, keeps what it was given across a restart, and says which store it serves from
without the database password.

AWS CLI endpoint and credential variables as documented:
https://docs.aws.amazon.com/cli/latest/userguide/cli-configure-envvars.html"""
from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import yaml

from keyplane_server import ROOT, free_port, keyplane_env, wait_healthy


def _service_environment(database_url: str) -> dict:
    compose = yaml.safe_load((ROOT / "examples" / "compose.yaml").read_text())
    env = {k: str(v) for k, v in compose["services"]["keyplane"]["environment"].items()}
    assert env["KEYPLANE_STATE"].startswith("postgresql://keyplane:keyplane@postgres:5432/")
    assert env["KEYPLANE_ROOT_KEY"].startswith("${KEYPLANE_ROOT_KEY:?")     # the user's, never in the file
    # the service's database, here: the test's own (trust auth takes the compose file's password)
    env["KEYPLANE_STATE"] = database_url.replace("postgresql://postgres@", "postgresql://postgres:keyplane@")
    env["KEYPLANE_ROOT_KEY"] = base64.b64encode(os.urandom(32)).decode()
    return env


def _start(volume: Path, env: dict, port: int, log: Path) -> subprocess.Popen:
    with open(log, "w") as f:
        return subprocess.Popen(["sh", str(ROOT / "container" / "entrypoint.sh")], cwd=volume,
                                env=keyplane_env(KEYPLANE_PORT=str(port), KEYPLANE_HOST="127.0.0.1", **env),
                                stdout=f, stderr=subprocess.STDOUT)


def _aws(port: int, tmp_path: Path, *args: str) -> dict:
    env = keyplane_env(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                       AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    out = subprocess.run(["aws", "--endpoint-url", f"http://localhost:{port}", *args, "--output", "json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else {}


def test_the_compose_service_serves_from_postgresql_and_keeps_state_across_a_restart(postgres_url, tmp_path):
    env = _service_environment(postgres_url)
    volume = tmp_path / "var-lib-keyplane"
    volume.mkdir(mode=0o700)
    port = free_port()
    first = _start(volume, env, port, tmp_path / "first.log")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", first, tmp_path / "first.log")
        key = _aws(port, tmp_path, "kms", "create-key", "--description", "compose")["KeyMetadata"]
        _aws(port, tmp_path, "kms", "create-alias", "--alias-name", "alias/compose", "--target-key-id", key["KeyId"])
        assert key["Arn"].startswith("arn:aws:kms:us-east-1:000000000000:key/")     # KEYPLANE_DEV: test/test
        check = subprocess.run([sys.executable, str(ROOT / "container" / "healthcheck.py")], timeout=30,
                               env=keyplane_env(KEYPLANE_PORT=str(port)), capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
    finally:
        first.terminate()
        assert first.wait(30) == 0
    said = (tmp_path / "first.log").read_text()
    assert f"state: postgresql://postgres:***@127.0.0.1:5432/{postgres_url.rsplit('/', 1)[1]}" in said, said
    assert ":keyplane@" not in said
    # the server's own files (its identities) sit in a private folder on the volume
    assert stat.S_IMODE((volume / ".keyplane").stat().st_mode) == 0o700

    second = _start(volume, env, port, tmp_path / "second.log")
    try:
        wait_healthy(f"http://127.0.0.1:{port}", second, tmp_path / "second.log")
        aliases = _aws(port, tmp_path, "kms", "list-aliases")["Aliases"]
        assert {"AliasName": "alias/compose", "TargetKeyId": key["KeyId"]}.items() <= \
            next(a for a in aliases if a["AliasName"] == "alias/compose").items()
    finally:
        second.terminate()
        second.wait(30)
