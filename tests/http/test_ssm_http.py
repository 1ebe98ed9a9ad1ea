"""Parameter Store over HTTP: the AWS CLI, unchanged, and boto3 against `keyplane serve` (SigV4),
every parameter operation and its errors as the CLI shows them."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def aws(cli_env, tmp_path):
    def run(*args, ok: bool = True) -> str:
        out = subprocess.run([sys.executable, "-m", "awscli", *args], env=cli_env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        if ok and out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({out.returncode}): {out.stderr}")
        if not ok:
            assert out.returncode != 0, out.stdout
            return out.stderr
        return out.stdout
    return run


@pytest.fixture
def base():
    return f"/cli/{uuid.uuid4().hex[:8]}"


def test_aws_cli_parameter_life_cycle(aws, base, server):
    j = lambda *a: json.loads(aws(*a))  # noqa: E731
    assert j("ssm", "put-parameter", "--name", f"{base}/url", "--value", "host-a", "--type", "String",
             "--tags", "Key=team,Value=a")["Version"] == 1
    assert j("ssm", "put-parameter", "--name", f"{base}/url", "--value", "host-b", "--overwrite")["Version"] == 2
    j("ssm", "put-parameter", "--name", f"{base}/db/password", "--value", "s3cr3t", "--type", "SecureString")
    j("ssm", "put-parameter", "--name", f"{base}/list", "--value", "a,b,c", "--type", "StringList")

    p = j("ssm", "get-parameter", "--name", f"{base}/db/password", "--with-decryption")["Parameter"]
    assert p["Value"] == "s3cr3t" and p["Type"] == "SecureString"
    assert j("ssm", "get-parameter", "--name", f"{base}/db/password")["Parameter"]["Value"] != "s3cr3t"
    assert j("ssm", "get-parameter", "--name", f"{base}/url:1")["Parameter"]["Value"] == "host-a"

    got = j("ssm", "get-parameters", "--names", f"{base}/url", f"{base}/missing")
    assert [x["Name"] for x in got["Parameters"]] == [f"{base}/url"] and got["InvalidParameters"] == [f"{base}/missing"]

    # the CLI pages GetParametersByPath itself (MaxResults 10 per call)
    ssm = server.client("ssm")          # (boto3 for the bulk of them: each CLI run costs a second)
    for i in range(12):
        ssm.put_parameter(Name=f"{base}/many/p{i:02d}", Value=str(i), Type="String")
    many = j("ssm", "get-parameters-by-path", "--path", f"{base}/many")["Parameters"]
    assert [x["Name"] for x in many] == [f"{base}/many/p{i:02d}" for i in range(12)]
    rec = j("ssm", "get-parameters-by-path", "--path", base, "--recursive", "--with-decryption",
            "--parameter-filters", "Key=Type,Values=SecureString")["Parameters"]
    assert [(x["Name"], x["Value"]) for x in rec] == [(f"{base}/db/password", "s3cr3t")]

    described = j("ssm", "describe-parameters", "--parameter-filters",
                  f"Key=Path,Option=Recursive,Values={base}", "Key=Type,Values=SecureString")["Parameters"]
    assert [(d["Name"], d["KeyId"]) for d in described] == [(f"{base}/db/password", "alias/aws/ssm")]

    label = j("ssm", "label-parameter-version", "--name", f"{base}/url", "--parameter-version", "1",
              "--labels", "stable", "1bad")
    assert label["InvalidLabels"] == ["1bad"] and label["ParameterVersion"] == 1
    assert j("ssm", "get-parameter", "--name", f"{base}/url:stable")["Parameter"]["Version"] == 1
    history = j("ssm", "get-parameter-history", "--name", f"{base}/url")["Parameters"]
    assert [(h["Version"], h["Labels"]) for h in history] == [(1, ["stable"]), (2, [])]
    assert j("ssm", "unlabel-parameter-version", "--name", f"{base}/url", "--parameter-version", "1",
             "--labels", "stable")["RemovedLabels"] == ["stable"]

    aws("ssm", "add-tags-to-resource", "--resource-type", "Parameter", "--resource-id", f"{base}/url",
        "--tags", "Key=env,Value=dev")
    aws("ssm", "remove-tags-from-resource", "--resource-type", "Parameter", "--resource-id", f"{base}/url",
        "--tag-keys", "team")
    assert j("ssm", "list-tags-for-resource", "--resource-type", "Parameter",
             "--resource-id", f"{base}/url")["TagList"] == [{"Key": "env", "Value": "dev"}]

    aws("ssm", "delete-parameter", "--name", f"{base}/list")
    deleted = j("ssm", "delete-parameters", "--names", f"{base}/url", f"{base}/nope")
    assert deleted == {"DeletedParameters": [f"{base}/url"], "InvalidParameters": [f"{base}/nope"]}


def test_aws_cli_shows_parameter_store_errors(aws, base):
    aws("ssm", "put-parameter", "--name", f"{base}/x", "--value", "1", "--type", "String")
    assert "ParameterAlreadyExists" in aws("ssm", "put-parameter", "--name", f"{base}/x", "--value", "2",
                                           "--type", "String", ok=False)
    assert "ParameterNotFound" in aws("ssm", "get-parameter", "--name", f"{base}/nope", ok=False)
    assert "ParameterVersionNotFound" in aws("ssm", "get-parameter", "--name", f"{base}/x:9", ok=False)
    assert "ValidationException" in aws("ssm", "put-parameter", "--name", "/aws/reserved", "--value", "1",
                                        "--type", "String", ok=False)
    assert "HierarchyLevelLimitExceededException" in aws(
        "ssm", "put-parameter", "--name", base + "".join(f"/l{i}" for i in range(15)), "--value", "1",
        "--type", "String", ok=False)
    assert "InvalidKeyId" in aws("ssm", "put-parameter", "--name", f"{base}/s", "--value", "1",
                                 "--type", "SecureString", "--key-id", "alias/none", ok=False)
    assert "InvalidPolicyTypeException" in aws(
        "ssm", "put-parameter", "--name", f"{base}/p", "--value", "1", "--type", "String", "--tier", "Advanced",
        "--policies", json.dumps([{"Type": "Nope", "Version": "1.0", "Attributes": {}}]), ok=False)


def test_boto3_over_http_securestring_with_customer_key(server, base):
    kms, ssm = server.client("kms"), server.client("ssm")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    ssm.put_parameter(Name=f"{base}/k", Value="v" * 5000, Type="SecureString", KeyId=key, Tier="Advanced")
    assert ssm.get_parameter(Name=f"{base}/k", WithDecryption=True)["Parameter"]["Value"] == "v" * 5000
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=f"{base}/k", WithDecryption=True)
    assert e.value.response["Error"]["Code"] == "InvalidKeyId"


def test_serve_delivers_parameter_events_to_its_file_and_webhook(tmp_path):
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from keyplane_server import start_server

    received = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    rx = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=rx.serve_forever, daemon=True).start()
    jsonl = tmp_path / "events.jsonl"
    srv = start_server(tmp_path, "--events-file", str(jsonl),
                       "--events-webhook", f"http://127.0.0.1:{rx.server_address[1]}/hook")
    try:
        srv.client("ssm").put_parameter(Name="/served/x", Value="1", Type="String")
        deadline = time.monotonic() + 30
        while (not received or not jsonl.exists()) and time.monotonic() < deadline:
            time.sleep(0.1)   # the server's own scheduler ticks on the wall clock; we wait for it
        lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
        assert [e["detail"] for e in lines] == [{"operation": "Create", "name": "/served/x", "type": "String",
                                                 "description": ""}]
        assert [e["id"] for e in received] == [lines[0]["id"]]
    finally:
        srv.stop()
        rx.shutdown()
        rx.server_close()
