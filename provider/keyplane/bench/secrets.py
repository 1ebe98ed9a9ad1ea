"""`keyplane bench --secrets`: Secrets Manager's read path.

GetSecretValue (a 100-byte SecretString under the AWS managed key, so each read is a KMS Decrypt of
the version's data key plus an AES-GCM open) through the engine API and a boto3 client in-process,
and DescribeSecret for comparison (no KMS call).
"""
from __future__ import annotations

import os
import tempfile

from .measure import line, measure


def add_arguments(p) -> None:
    p.add_argument("--secrets", action="store_true", help="bench Secrets Manager's GetSecretValue instead of KMS")


def run(args) -> int:
    run_secrets(args.seconds, args.state)
    return 0


def run_secrets(seconds: float, state: str | None, out=print) -> dict:
    import keyplane
    from ..engine.core import Engine

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(state or os.path.join(tmp, "state"))
        ctx = engine.context()
        name = "bench/secret-" + os.urandom(4).hex()
        engine.invoke("secretsmanager", "CreateSecret", {"Name": name, "SecretString": "x" * 100,
                                                         "ClientRequestToken": os.urandom(16).hex()}, ctx)
        client = keyplane.connect(engine=engine).client("secretsmanager")
        results = {}
        for label, fn in (
                ("GetSecretValue (engine API)",
                 lambda: engine.invoke("secretsmanager", "GetSecretValue", {"SecretId": name}, ctx)),
                ("GetSecretValue (boto3 in-process)", lambda: client.get_secret_value(SecretId=name)),
                ("DescribeSecret (engine API)",
                 lambda: engine.invoke("secretsmanager", "DescribeSecret", {"SecretId": name}, ctx))):
            results[label] = r = measure(fn, seconds)
            out(line(label, r))
        engine.close()
    return results
