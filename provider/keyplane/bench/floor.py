"""The floors: what a KMS call costs when the answer costs nothing.

Over HTTP (`keyplane bench --endpoint URL --floor`), a server that answers every KMS call with a
fixed, valid response and checks nothing (no auth, no state, no crypto), run by uvicorn as keyplane
is. In-process (`keyplane bench`), a boto3 client configured as `keyplane.connect()` configures
one, whose before-send hook returns the same fixed responses. What a client spends against either
is botocore's own cost (and HTTP's); the gap to keyplane is what keyplane's own work costs.
"""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid


class FloorApp:
    """Answers every call the HTTP bench makes (KMS's, and Parameter Store's and Secrets Manager's
    reads) with a fixed valid response; no auth, no state, no crypto."""

    def __init__(self):
        arn = "arn:aws:kms:us-east-1:111122223333:key/" + str(uuid.UUID(int=0))
        blob = base64.b64encode(os.urandom(150)).decode()
        key = base64.b64encode(os.urandom(32)).decode()
        meta = {"KeyId": arn.rsplit("/", 1)[1], "Arn": arn, "AWSAccountId": "111122223333", "Enabled": True,
                "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT",
                "CreationDate": time.time(), "Origin": "AWS_KMS", "KeyManager": "CUSTOMER", "Description": ""}
        secret_arn = "arn:aws:secretsmanager:us-east-1:111122223333:secret:bench/secret-AbCdEf"
        version = str(uuid.UUID(int=1))
        self.responses = {
            "TrentService.CreateKey": {"KeyMetadata": meta},
            "TrentService.Encrypt": {"CiphertextBlob": blob, "KeyId": arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            "TrentService.Decrypt": {"Plaintext": base64.b64encode(b"x" * 100).decode(), "KeyId": arn,
                                     "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
            "TrentService.GenerateDataKey": {"CiphertextBlob": blob, "Plaintext": key, "KeyId": arn},
            "AmazonSSM.PutParameter": {"Version": 1, "Tier": "Standard"},
            "AmazonSSM.GetParameter": {"Parameter": {
                "Name": "/bench/secure", "Type": "SecureString", "Value": "x" * 100, "Version": 1,
                "LastModifiedDate": time.time(), "DataType": "text",
                "ARN": "arn:aws:ssm:us-east-1:111122223333:parameter/bench/secure"}},
            "secretsmanager.CreateSecret": {"ARN": secret_arn, "Name": "bench/secret", "VersionId": version},
            "secretsmanager.GetSecretValue": {"ARN": secret_arn, "Name": "bench/secret", "VersionId": version,
                                              "SecretString": "x" * 100, "VersionStages": ["AWSCURRENT"],
                                              "CreatedDate": time.time()},
        }
        self.encoded = {k: json.dumps(v).encode() for k, v in self.responses.items()}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                while True:
                    m = await receive()
                    if m["type"] == "lifespan.startup":
                        await send({"type": "lifespan.startup.complete"})
                    elif m["type"] == "lifespan.shutdown":
                        await send({"type": "lifespan.shutdown.complete"})
                        return
            return
        more = True
        while more:
            m = await receive()
            more = m.get("more_body", False)
        target = dict(scope["headers"]).get(b"x-amz-target", b"").decode()
        body = self.encoded.get(target, b"{}")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-amz-json-1.1"),
                                (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_floor(workers: int = 1) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "keyplane.bench.floor:FloorApp", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                             "--log-level", "warning", "--no-access-log"],
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, endpoint
        except OSError:
            time.sleep(0.05)  # waiting for the floor server to bind
    proc.kill()
    raise RuntimeError("the floor server did not start")


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


def in_process_client(region: str = "us-east-1"):
    """A KMS client whose every call gets FloorApp's fixed answer from a no-op before-send hook."""
    import botocore.config
    import botocore.session
    from botocore import UNSIGNED
    from botocore.awsrequest import AWSResponse

    canned = FloorApp().encoded
    config = botocore.config.Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1})
    client = botocore.session.get_session().create_client(
        "kms", region_name=region, config=config, endpoint_url=f"https://kms.{region}.keyplane.internal")

    def send(request, **_):
        target = request.headers.get("X-Amz-Target")
        target = target.decode() if isinstance(target, bytes) else target
        return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.1"},
                           _Body(canned.get(target, b"{}")))
    client.meta.events.register("before-send", send)
    return client
