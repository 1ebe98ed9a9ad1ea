"""Imported key material and on-demand rotation with the AWS CLI against `keyplane serve`: the
commands of AWS's "import key material" guide (aws kms ..., openssl rand, openssl pkeyutl), unchanged."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import pytest


@pytest.fixture
def aws(cli_env, tmp_path):
    def run(*args) -> str:
        out = subprocess.run([sys.executable, "-m", "awscli", *args], env=cli_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        return out.stdout
    return run


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def test_aws_cli_imports_openssl_wrapped_material_and_rotates_on_demand(aws, tmp_path, require):
    require(shutil.which("openssl") is not None, "the openssl command is not installed")
    key_id = json.loads(aws("kms", "create-key", "--origin", "EXTERNAL"))["KeyMetadata"]["KeyId"]
    params = json.loads(aws("kms", "get-parameters-for-import", "--key-id", key_id,
                            "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048"))
    (tmp_path / "WrappingPublicKey.bin").write_bytes(base64.b64decode(params["PublicKey"]))
    (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    openssl("rand", "-out", "PlaintextKeyMaterial.bin", "32", cwd=tmp_path)
    openssl("pkeyutl", "-encrypt", "-in", "PlaintextKeyMaterial.bin", "-out", "EncryptedKeyMaterial.bin",
            "-inkey", "WrappingPublicKey.bin", "-keyform", "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep",
            "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256", cwd=tmp_path)
    imported = json.loads(aws("kms", "import-key-material", "--key-id", key_id,
                              "--encrypted-key-material", "fileb://EncryptedKeyMaterial.bin",
                              "--import-token", "fileb://ImportToken.bin",
                              "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE"))
    assert json.loads(aws("kms", "describe-key", "--key-id", key_id))["KeyMetadata"]["KeyState"] == "Enabled"
    (tmp_path / "p.txt").write_text("brought my own key")
    ct = aws("kms", "encrypt", "--key-id", key_id, "--plaintext", "fileb://p.txt",
             "--query", "CiphertextBlob", "--output", "text").strip()
    (tmp_path / "c.bin").write_bytes(base64.b64decode(ct))

    # a second material, imported as NEW_KEY_MATERIAL, becomes current by on-demand rotation
    params = json.loads(aws("kms", "get-parameters-for-import", "--key-id", key_id,
                            "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048"))
    (tmp_path / "WrappingPublicKey.bin").write_bytes(base64.b64decode(params["PublicKey"]))
    (tmp_path / "ImportToken.bin").write_bytes(base64.b64decode(params["ImportToken"]))
    openssl("rand", "-out", "PlaintextKeyMaterial.bin", "32", cwd=tmp_path)
    openssl("pkeyutl", "-encrypt", "-in", "PlaintextKeyMaterial.bin", "-out", "EncryptedKeyMaterial.bin",
            "-inkey", "WrappingPublicKey.bin", "-keyform", "DER", "-pubin", "-pkeyopt", "rsa_padding_mode:oaep",
            "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256", cwd=tmp_path)
    second = json.loads(aws("kms", "import-key-material", "--key-id", key_id,
                            "--encrypted-key-material", "fileb://EncryptedKeyMaterial.bin",
                            "--import-token", "fileb://ImportToken.bin", "--import-type", "NEW_KEY_MATERIAL",
                            "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE"))
    aws("kms", "rotate-key-on-demand", "--key-id", key_id)
    rotations = json.loads(aws("kms", "list-key-rotations", "--key-id", key_id))["Rotations"]
    assert [r["KeyMaterialId"] for r in rotations] == [second["KeyMaterialId"]]
    meta = json.loads(aws("kms", "describe-key", "--key-id", key_id))["KeyMetadata"]
    assert meta["CurrentKeyMaterialId"] == second["KeyMaterialId"] != imported["KeyMaterialId"]
    pt = aws("kms", "decrypt", "--ciphertext-blob", "fileb://c.bin", "--query", "Plaintext", "--output", "text")
    assert base64.b64decode(pt.strip()) == b"brought my own key"
