"""keyplane serve driven by the AWS SDK for JavaScript v3 (@aws-sdk/client-kms, -ssm,
-secrets-manager, -sts from npm): an SDK that parses statuses and error bodies its own way sees
what it sees from AWS — results, error names, HTTP statuses (400 for client errors).

Error codes and statuses per the API references:
https://docs.aws.amazon.com/kms/latest/APIReference/API_Decrypt.html#API_Decrypt_Errors
https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html
https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html#API_GetParameter_Errors
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html#API_GetSecretValue_Errors
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "tests" / "http"))
from keyplane_server import start_server  # noqa: E402

PACKAGES = ["@aws-sdk/client-kms@3", "@aws-sdk/client-ssm@3", "@aws-sdk/client-secrets-manager@3",
            "@aws-sdk/client-sts@3"]


@pytest.fixture(scope="module")
def js_sdk(tmp_path_factory):
    if shutil.which("node") is None or shutil.which("npm") is None:
        _missing("Node.js and npm are not installed")
    where = Path(os.environ.get("KEYPLANE_JS_SDK_DIR") or tmp_path_factory.mktemp("js-sdk"))
    where.mkdir(parents=True, exist_ok=True)
    if not (where / "node_modules" / "@aws-sdk" / "client-sts").exists():
        (where / "package.json").write_text('{"private": true, "type": "module"}')
        out = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", *PACKAGES], cwd=where,
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            _missing(f"npm could not install the AWS SDK for JavaScript: {out.stderr[-500:]}")
    shutil.copy(HERE / "js" / "drive.mjs", where / "drive.mjs")
    return where


def _missing(reason: str) -> None:
    if os.environ.get("KEYPLANE_REQUIRE_ALL") == "1":
        pytest.fail(f"required for this test but missing: {reason}", pytrace=False)
    pytest.skip(reason)


def test_the_javascript_sdk_sees_aws_answers(js_sdk, tmp_path):
    server = start_server(tmp_path)
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ENDPOINT_URL=server.endpoint, AWS_ACCESS_KEY_ID=server.access_key,
                   AWS_SECRET_ACCESS_KEY=server.secret_key, AWS_REGION="us-east-1")
        run = subprocess.run(["node", "drive.mjs"], cwd=js_sdk, env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        seen = {line["name"]: line for line in map(json.loads, run.stdout.splitlines())}
    finally:
        server.stop()

    assert seen["CreateKey"]["state"] == "Enabled" and seen["CreateKey"]["created"] is True
    assert seen["CreateKey"]["arn"].startswith("arn:aws:kms:us-east-1:")
    assert "alias/js" in seen["ListAliases"]["aliases"]
    assert seen["Decrypt"]["plaintext"] == "hello from js" and seen["Decrypt"]["keyId"] == seen["CreateKey"]["arn"]
    assert seen["GenerateDataKey"]["plaintextLength"] == 32

    def error(name):
        e = seen[name]
        assert e["ok"] is False, name
        return e["error"], e["status"], e["fault"]

    assert error("DecryptWrongContext") == ("InvalidCiphertextException", 400, "client")
    assert error("DescribeMissingKey") == ("NotFoundException", 400, "client")
    assert error("EncryptDisabled") == ("DisabledException", 400, "client")
    assert error("EncryptTooLong") == ("ValidationException", 400, "client")

    assert seen["GetParameter"] == {"name": "GetParameter", "value": "s3cret", "type": "SecureString", "version": 1}
    assert seen["GetParametersByPath"]["names"] == ["/js/db/host", "/js/db/password"]
    assert error("GetMissingParameter") == ("ParameterNotFound", 400, "client")
    assert error("PutExistingParameter") == ("ParameterAlreadyExists", 400, "client")

    assert seen["GetSecretValue"]["value"] == "v2" and seen["GetSecretValue"]["stages"] == ["AWSCURRENT"]
    assert seen["DescribeSecret"]["secretName"] == "js/app" and seen["DescribeSecret"]["versions"] == 2
    assert error("GetMissingSecret") == ("ResourceNotFoundException", 400, "client")
    assert error("CreateExistingSecret") == ("ResourceExistsException", 400, "client")

    assert seen["GetCallerIdentity"]["account"] == "111122223333"
