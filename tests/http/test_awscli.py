"""The AWS CLI, unchanged, pointed at keyplane with AWS_ENDPOINT_URL."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest


@pytest.fixture
def aws(cli_env, tmp_path, require):
    import importlib.util
    require(importlib.util.find_spec("awscli") is not None, "the AWS CLI (awscli) is not installed")

    def run(*args) -> str:
        out = subprocess.run([sys.executable, "-m", "awscli", *args], env=cli_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout
    return run


def test_aws_cli_create_key_encrypt_file_decrypt_and_list_aliases(aws, tmp_path):
    key = json.loads(aws("kms", "create-key", "--description", "from the aws cli"))["KeyMetadata"]
    assert key["Description"] == "from the aws cli" and key["KeyState"] == "Enabled"
    aws("kms", "create-alias", "--alias-name", "alias/cli-test", "--target-key-id", key["KeyId"])

    secret = tmp_path / "plain.bin"
    secret.write_bytes(bytes(range(256)) * 4)
    ct_b64 = aws("kms", "encrypt", "--key-id", "alias/cli-test", "--plaintext", "fileb://plain.bin",
                 "--encryption-context", "purpose=cli", "--query", "CiphertextBlob", "--output", "text").strip()
    (tmp_path / "ct.bin").write_bytes(base64.b64decode(ct_b64))
    pt_b64 = aws("kms", "decrypt", "--ciphertext-blob", "fileb://ct.bin",
                 "--encryption-context", "purpose=cli", "--query", "Plaintext", "--output", "text").strip()
    assert base64.b64decode(pt_b64) == secret.read_bytes()

    aliases = json.loads(aws("kms", "list-aliases"))["Aliases"]
    assert {"AliasName": "alias/cli-test", "TargetKeyId": key["KeyId"]}.items() <= \
        next(a for a in aliases if a["AliasName"] == "alias/cli-test").items()


def test_aws_cli_sees_the_wrong_context_as_invalid_ciphertext(aws, tmp_path):
    key = json.loads(aws("kms", "create-key"))["KeyMetadata"]["KeyId"]
    (tmp_path / "p.txt").write_text("hello")
    ct = aws("kms", "encrypt", "--key-id", key, "--plaintext", "fileb://p.txt",
             "--encryption-context", "a=1", "--query", "CiphertextBlob", "--output", "text").strip()
    (tmp_path / "c.bin").write_bytes(base64.b64decode(ct))
    with pytest.raises(AssertionError, match="InvalidCiphertextException"):
        aws("kms", "decrypt", "--ciphertext-blob", "fileb://c.bin", "--encryption-context", "a=2")


def test_aws_cli_sts_get_caller_identity(aws):
    me = json.loads(aws("sts", "get-caller-identity"))
    assert me["Arn"] == "arn:aws:iam::111122223333:user/admin"
