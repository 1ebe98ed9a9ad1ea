"""`pip install keyplane` with no extras serves KMS, Parameter Store and Secrets Manager: the
Pulumi SDK, psycopg, python-pkcs11 and PyMySQL are extras, and a feature that needs one says
which (`pip install 'keyplane[postgres]'`, ...). Checked in a fresh virtual environment built
from this tree, with the server started from it and called over HTTP with SigV4."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import boto3
import botocore.config
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "http"))
from keyplane_server import free_port  # noqa: E402



def _require(ok: bool, reason: str) -> None:
    """tests/conftest.py's rule: a missing real part skips, except under KEYPLANE_REQUIRE_ALL."""
    if not ok:
        if os.environ.get("KEYPLANE_REQUIRE_ALL") == "1":
            pytest.fail(f"required for this test but missing: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def bare_venv(tmp_path_factory):
    """A venv with `pip install <this tree>` and nothing else (no extras)."""
    where = tmp_path_factory.mktemp("bare-venv")
    venv.EnvBuilder(with_pip=True).create(where)
    python = str(where / "bin" / "python")
    src = where / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", ".keyplane", "__pycache__", "*.egg-info",
                                                                 "build", "tests"))
    out = subprocess.run([python, "-m", "pip", "install", "-q", str(src)], capture_output=True, text=True,
                         timeout=900, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    _require(out.returncode == 0 or "Could not find a version" not in out.stderr and "connection" not in out.stderr.lower(),
             f"PyPI unreachable for a fresh venv: {out.stderr[-500:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    return python


def _run(python: str, code: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **kw)


def test_a_bare_install_has_none_of_the_extras(bare_venv):
    for module in ("pulumi", "psycopg", "pkcs11", "pymysql"):
        out = _run(bare_venv, f"import {module}")
        assert out.returncode != 0 and "ModuleNotFoundError" in out.stderr, module


def test_features_that_need_an_extra_name_it(bare_venv, tmp_path):
    out = _run(bare_venv, "import keyplane; keyplane.Key")
    assert "pip install 'keyplane[pulumi]'" in out.stderr
    out = _run(bare_venv, "import keyplane; keyplane.connect('postgresql://127.0.0.1/none')")
    assert "pip install 'keyplane[postgres]'" in out.stderr
    out = _run(bare_venv, "from keyplane.engine.secrets import db_mysql; "
                          "db_mysql.connect({'host': '127.0.0.1', 'username': 'u', 'password': 'p'})")
    assert "MySQL/MariaDB rotation needs PyMySQL" in out.stderr and "pip install 'keyplane[mysql]'" in out.stderr


def test_a_bare_install_serves_kms_over_http(bare_venv, tmp_path):
    port = free_port()
    keyplane = str(Path(bare_venv).parent / "keyplane")
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("AWS_")}
    with open(log, "w") as f:
        proc = subprocess.Popen([keyplane, "serve", "--dev", "--port", str(port)], stdout=f,
                                stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(endpoint + "/_keyplane/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)   # waiting for the process to bind its port
        m = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", log.read_text())
        assert m, log.read_text()
        kms = boto3.client("kms", region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id=m.group(1),
                           aws_secret_access_key=m.group(2),
                           config=botocore.config.Config(retries={"total_max_attempts": 1}))
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        blob = kms.encrypt(KeyId=key, Plaintext=b"no extras")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"no extras"
    finally:
        proc.terminate()
        proc.wait(30)
