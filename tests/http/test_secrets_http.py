"""Secrets Manager over HTTP from `keyplane serve`: the AWS CLI and boto3, unchanged, with
AWS_ENDPOINT_URL; the value never reaches the server's log or its audit trail."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid


def _aws(cli_env, cwd, *args) -> str:
    out = subprocess.run([sys.executable, "-m", "awscli", *args], env=cli_env, cwd=cwd,
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({out.returncode}): {out.stderr}")
    return out.stdout


def test_aws_cli_creates_reads_and_rotates_labels_of_a_secret(server, cli_env, tmp_path):
    name = "cli/" + uuid.uuid4().hex[:8]
    marker = "cli-value-" + uuid.uuid4().hex
    created = json.loads(_aws(cli_env, tmp_path, "secretsmanager", "create-secret", "--name", name,
                              "--secret-string", marker))
    assert created["Name"] == name and created["ARN"].startswith("arn:aws:secretsmanager:us-east-1:")
    got = json.loads(_aws(cli_env, tmp_path, "secretsmanager", "get-secret-value", "--secret-id", name))
    assert got["SecretString"] == marker and got["VersionStages"] == ["AWSCURRENT"]
    _aws(cli_env, tmp_path, "secretsmanager", "put-secret-value", "--secret-id", name, "--secret-string", "v2")
    previous = json.loads(_aws(cli_env, tmp_path, "secretsmanager", "get-secret-value", "--secret-id", name,
                               "--version-stage", "AWSPREVIOUS"))
    assert previous["SecretString"] == marker

    sm = server.client("secretsmanager")
    assert sm.get_secret_value(SecretId=created["ARN"])["SecretString"] == "v2"
    listed = [s["Name"] for s in sm.get_paginator("list_secrets").paginate().build_full_result()["SecretList"]]
    assert name in listed
    # the value is in neither the server's log nor its state in plaintext
    assert marker not in server.log.read_text(errors="replace")
    for path in server.state.rglob("*"):
        if path.is_file():
            assert marker.encode() not in path.read_bytes(), path


def test_boto3_over_http_gets_secrets_manager_errors_by_code(server):
    sm = server.client("secretsmanager")
    try:
        sm.get_secret_value(SecretId="no/such/secret")
        raise AssertionError("found a secret that does not exist")
    except sm.exceptions.ResourceNotFoundException as err:
        assert err.response["Error"]["Message"] == "Secrets Manager can't find the specified secret."
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_webhook_rotator_calls_back_over_http_while_the_server_rotates(server):
    """The webhook gets the Lambda event from the server and answers each step with its own
    SigV4 calls to the same server, as a rotation Lambda does with Secrets Manager."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    steps = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            event = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            steps.append(event["Step"])
            sm = server.client("secretsmanager")
            arn, token = event["SecretId"], event["ClientRequestToken"]
            if event["Step"] == "createSecret":
                sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString="rotated-over-http",
                                    VersionStages=["AWSPENDING"])
            elif event["Step"] == "finishSecret":
                stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
                current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
                sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                               RemoveFromVersionId=current)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        sm = server.client("secretsmanager")
        arn = sm.create_secret(Name="http/" + uuid.uuid4().hex[:8], SecretString="before")["ARN"]
        sm.rotate_secret(SecretId=arn, RotationLambdaARN=f"http://127.0.0.1:{hook.server_port}/rotate",
                         RotationRules={"AutomaticallyAfterDays": 30})
        # over HTTP RotateSecret returns at once and the rotation runs beside the server's loop
        # (as on AWS): wait for the steps on the wall clock, bounded
        import time
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "LastRotatedDate" not in sm.describe_secret(SecretId=arn):
            time.sleep(0.05)
        assert steps == ["createSecret", "setSecret", "testSecret", "finishSecret"]
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == "rotated-over-http"
    finally:
        hook.shutdown()
        hook.server_close()
