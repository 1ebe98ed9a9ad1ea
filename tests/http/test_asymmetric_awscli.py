"""An asymmetric key end to end over HTTP with tools that know nothing of keyplane: the AWS CLI
creates an ECC key and signs a file through `keyplane serve`, fetches the public key, and OpenSSL
verifies the signature with it; boto3 over SigV4 verifies it through Verify."""
from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys


def test_aws_cli_signs_over_http_and_openssl_verifies_with_get_public_key(cli_env, kms, tmp_path, require):
    openssl = shutil.which("openssl")
    require(openssl is not None, "the openssl command is not installed")

    def aws(*args) -> str:
        out = subprocess.run([sys.executable, "-m", "awscli", *args], env=cli_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, f"aws {' '.join(args)} failed: {out.stderr}"
        return out.stdout

    key = json.loads(aws("kms", "create-key", "--key-spec", "ECC_NIST_P256", "--key-usage", "SIGN_VERIFY"))
    key_id = key["KeyMetadata"]["KeyId"]
    assert key["KeyMetadata"]["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    manifest = tmp_path / "manifest.txt"
    manifest.write_bytes(b"artifact sha256 " + hashlib.sha256(b"build").hexdigest().encode() + b"\n")
    signature = base64.b64decode(aws("kms", "sign", "--key-id", key_id, "--message", "fileb://manifest.txt",
                                     "--message-type", "RAW", "--signing-algorithm", "ECDSA_SHA_256",
                                     "--query", "Signature", "--output", "text").strip())
    (tmp_path / "sig.bin").write_bytes(signature)
    public = base64.b64decode(aws("kms", "get-public-key", "--key-id", key_id, "--query", "PublicKey",
                                  "--output", "text").strip())
    (tmp_path / "pub.der").write_bytes(public)
    subprocess.run([openssl, "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem"],
                   cwd=tmp_path, check=True, capture_output=True)
    done = subprocess.run([openssl, "dgst", "-sha256", "-verify", "pub.pem", "-signature", "sig.bin",
                           "manifest.txt"], cwd=tmp_path, capture_output=True)
    assert done.returncode == 0 and done.stdout.strip() == b"Verified OK"
    assert kms.verify(KeyId=key_id, Message=manifest.read_bytes(), Signature=signature,
                      SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
