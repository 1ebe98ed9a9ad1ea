"""keyplane as a drop-in for development and CI: dev credentials (test/test and any key as the dev
account's root, nothing of it outside --dev), seed files across restarts, configuration by
environment, --version, health, a port in use, the access log and refused authentications, and
`keyplane init --profile` with a services section."""
from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from keyplane.testing import serve_keyplane
from keyplane_server import ROOT, free_port, keyplane_env, start_server, wait_healthy

NO_RETRY = botocore.config.Config(retries={"total_max_attempts": 1})


def _client(service: str, endpoint: str, key: str, secret: str):
    return boto3.session.Session().client(service, region_name="us-east-1", endpoint_url=endpoint,
                                          aws_access_key_id=key, aws_secret_access_key=secret, config=NO_RETRY)


def _serve(tmp_path, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, str, "os.PathLike"]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "keyplane.cli", "serve", "--port", str(port), *args],
                                env=keyplane_env(**(env or {})), stdout=f, stderr=subprocess.STDOUT, cwd=tmp_path)
    return proc, f"http://127.0.0.1:{port}", log


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


def test_dev_mode_takes_test_test_and_any_key_as_the_dev_accounts_root(tmp_path):
    with serve_keyplane() as server:
        assert "AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test" in server.output()
        assert f"AWS_ENDPOINT_URL_KMS={server.endpoint}" in server.output()
        me = _client("sts", server.endpoint, "test", "test").get_caller_identity()
        assert (me["Account"], me["Arn"]) == ("000000000000", "arn:aws:iam::000000000000:root")
        key = _client("kms", server.endpoint, "test", "test").create_key()["KeyMetadata"]
        assert key["Arn"].startswith("arn:aws:kms:us-east-1:000000000000:key/")
        # moto's habitual pair, and any other: accepted on a well-formed signature
        moto_kms = _client("kms", server.endpoint, "testing", "testing")
        assert moto_kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyId"] == key["KeyId"]
        out = subprocess.run(["aws", "kms", "list-keys", "--endpoint-url", server.endpoint, "--output", "json"],
                             env=keyplane_env(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                                              AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
                                              AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none")),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert [k["KeyId"] for k in json.loads(out.stdout)["Keys"]] == [key["KeyId"]]
        # a wrong secret for the documented pair is still a wrong signature
        with pytest.raises(ClientError) as wrong:
            _client("kms", server.endpoint, "test", "not-test").list_keys()
        assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_dev_account_is_chosen_with_dev_account(tmp_path):
    with serve_keyplane("--dev-account", "123456789012") as server:
        assert _client("sts", server.endpoint, "anything", "x").get_caller_identity()["Account"] == "123456789012"


def test_outside_dev_mode_test_test_is_refused_logged_and_audited(tmp_path):
    server = start_server(tmp_path, "--log-format", "json")
    try:
        with pytest.raises(ClientError) as refused:
            _client("kms", server.endpoint, "test", "test").list_keys()
        assert refused.value.response["Error"]["Code"] == "UnrecognizedClientException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        with pytest.raises(ClientError):
            _client("kms", server.endpoint, server.access_key, "0" * 40).list_keys()
    finally:
        server.stop()
    lines = [json.loads(line) for line in server.output().splitlines() if line.startswith("{")]
    refusals = [line for line in lines if line["logger"] == "keyplane.auth"]
    assert [(r["level"], r["access_key_id"], r["error"]) for r in refusals] == [
        ("WARNING", "test", "UnrecognizedClientException"),
        ("WARNING", server.access_key, "InvalidSignatureException")]
    assert "0" * 40 not in server.output() and server.secret_key not in server.output()
    audit = subprocess.run([sys.executable, "-m", "keyplane.cli", "audit", "--state", str(server.state),
                            "--operation", "RefusedAuthentication", "--json"], env=keyplane_env(),
                           capture_output=True, text=True, timeout=120)
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert {r["userIdentity"]["accessKeyId"] for r in records} == {"test", server.access_key}
    assert {r["errorCode"] for r in records} == {"UnrecognizedClientException", "InvalidSignatureException"}


def _seed(tmp_path) -> str:
    path = tmp_path / "seed.yaml"
    path.write_text(f"""\
keys:
  - id: 0b8a3f5e-3c1d-4e6f-9a7b-2c4d6e8f0a1b
    material: {base64.b64encode(bytes(range(100, 132))).decode()}
    aliases: [alias/fixture]
parameters:
  - name: /fixture/endpoint
    value: https://example.internal
secrets:
  - name: fixture/token
    secret_string: seeded
""")
    return str(path)


def test_a_seeded_dev_server_restarted_twice_decrypts_what_the_first_start_encrypted(tmp_path):
    seed = _seed(tmp_path)
    with serve_keyplane("--seed", seed) as first:
        assert f"seed {seed}: 4 created, 0 already there" in first.output()   # key, alias, parameter, secret
        kms = first.client("kms")
        blob = kms.encrypt(KeyId="alias/fixture", Plaintext=b"held by a fixture")["CiphertextBlob"]
    for _ in range(2):           # each dev start has new, empty state and a new root key
        with serve_keyplane(env={"KEYPLANE_SEED": seed}) as again:
            kms = again.client("kms")
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"held by a fixture"
            assert again.client("ssm").get_parameter(Name="/fixture/endpoint")["Parameter"]["Value"] == \
                "https://example.internal"
            assert again.client("secretsmanager").get_secret_value(SecretId="fixture/token")["SecretString"] == "seeded"


def test_a_bad_seed_file_stops_the_server_with_its_file_line_and_path(tmp_path):
    seed = tmp_path / "bad.yaml"
    seed.write_text("keys:\n  - id: 0b8a3f5e-3c1d-4e6f-9a7b-2c4d6e8f0a1b\n    key_spec: HMAC_256\n    key_usage: ENCRYPT_DECRYPT\n")
    proc, _, log = _serve(tmp_path, "--dev", "--seed", str(seed))
    assert proc.wait(60) == 2
    assert f"{seed}:4: $.keys[0].key_usage: HMAC_256 keys take GENERATE_VERIFY_MAC" in log.read_text()


def test_every_serve_option_comes_from_the_environment_and_the_flag_wins(tmp_path):
    port, other = free_port(), free_port()
    env = {"KEYPLANE_PORT": str(port), "KEYPLANE_DEV": "1", "KEYPLANE_LOG_FORMAT": "json",
           "KEYPLANE_DEV_ACCOUNT": "210987654321"}
    log = tmp_path / "env.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "keyplane.cli", "serve"], env=keyplane_env(**env),
                                stdout=f, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log)
        sts = _client("sts", f"http://127.0.0.1:{port}", "test", "test")
        assert sts.get_caller_identity()["Account"] == "210987654321"
    finally:
        _stop(proc)
    # the access log is on in dev mode, in the format the environment chose
    access = [json.loads(line) for line in log.read_text().splitlines()
              if line.startswith("{") and json.loads(line)["logger"] == "keyplane.access"]
    assert access and access[-1]["operation"] == "sts.GetCallerIdentity" and access[-1]["status"] == 200
    proc, endpoint, log = _serve(tmp_path, "--port", str(other), env=env)   # the flag wins over KEYPLANE_PORT
    try:
        wait_healthy(f"http://127.0.0.1:{other}", proc, log)
    finally:
        _stop(proc)
    helped = subprocess.run([sys.executable, "-m", "keyplane.cli", "serve", "--help"], env=keyplane_env(),
                            capture_output=True, text=True, timeout=60).stdout
    for option in ("--host", "--port", "--workers", "--log-level", "--log-format", "--dev", "--tls", "--seed"):
        assert option in helped
    assert "env KEYPLANE_PORT; default: 4566" in " ".join(helped.split())


def test_version_and_health(tmp_path):
    from keyplane.version import version
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "--version"], env=keyplane_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == f"keyplane {version()}" and version()[0].isdigit()
    with serve_keyplane() as server:
        with urllib.request.urlopen(server.endpoint + "/_keyplane/health", timeout=10) as r:
            health = json.loads(r.read())
    assert health.pop("pid") == server.proc.pid       # one worker: the process it started
    assert health == {"status": "ok", "version": version(), "services": ["kms", "secretsmanager", "ssm", "sts"],
                      "store": "reachable", "dev": True}


def test_health_is_503_when_the_store_is_unreachable(postgres_url, tmp_path):
    import psycopg

    from keyplane.engine.core import Engine
    from keyplane.engine.identity import Identities
    from keyplane.server import KeyplaneApp
    from keyplane.engine.sealing import RootKey
    pg_dsn = os.environ.get("KEYPLANE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
    engine = Engine(postgres_url, root_key=RootKey(os.urandom(32), "test"))
    app = KeyplaneApp(engine, Identities.create_default(tmp_path / "ids.yaml"))
    scope = {"type": "http", "method": "GET", "path": "/_keyplane/health", "headers": [(b"host", b"localhost")]}
    status, _, body = app.handle(scope, b"", "r1")
    assert status == 200 and json.loads(body)["store"] == "reachable"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{postgres_url.rsplit("/", 1)[1]}" WITH (FORCE)')
    status, _, body = app.handle(scope, b"", "r2")
    assert status == 503 and json.loads(body)["status"] == "unavailable"
    assert json.loads(body)["store"] == "unreachable"


def test_a_port_in_use_is_one_line_and_nothing_is_announced(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "keyplane.cli", "serve", "--dev", "--port", str(port)],
                             env=keyplane_env(), capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"keyplane: port {port} on 127.0.0.1 is already in use (another keyplane, LocalStack, ...?); "
        "choose another with --port or KEYPLANE_PORT"]
    assert "serving" not in out.stdout


def test_the_access_log_names_operation_status_error_caller_request_id_and_latency(tmp_path):
    with serve_keyplane("--log-format", "text") as server:
        kms = server.client("kms")
        kms.create_key()
        with pytest.raises(ClientError) as missing:
            kms.describe_key(KeyId="alias/none")
        request_id = missing.value.response["ResponseMetadata"]["RequestId"]
        time.sleep(0.2)   # the server's stderr is a pipe to a file: let the line land
        lines = [line for line in server.output().splitlines() if " keyplane.access " in line]
    created = next(line for line in lines if "kms.CreateKey 200" in line)
    assert "arn:aws:iam::000000000000:root" in created and created.rstrip().endswith("ms")
    failed = next(line for line in lines if request_id in line)
    assert "kms.DescribeKey 400 NotFoundException arn:aws:iam::000000000000:root" in failed


def test_init_prints_service_endpoints_and_writes_a_profile_with_a_services_section(tmp_path):
    env = keyplane_env(AWS_CONFIG_FILE=str(tmp_path / "aws" / "config"),
                       AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws" / "credentials"))
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "init", "--state", str(tmp_path / "state"),
                          "--port", "4999", "--tls", "--profile", "keyplane"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for var in ("AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL_SSM", "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                "AWS_ENDPOINT_URL_STS"):
        assert f"{var}=https://127.0.0.1:4999" in out.stdout
    assert "AWS_ENDPOINT_URL=" not in out.stdout       # a global endpoint would send S3 there too
    assert oct(os.stat(tmp_path / "aws" / "credentials").st_mode & 0o777) == "0o600"
    probe = ("import boto3; s = boto3.session.Session(profile_name='keyplane'); "
             "print(s.client('kms').meta.endpoint_url, s.client('secretsmanager').meta.endpoint_url, "
             "s.client('s3').meta.endpoint_url, s.get_credentials().access_key[:4])")
    seen = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert seen.stdout.split() == ["https://127.0.0.1:4999", "https://127.0.0.1:4999",
                                   "https://s3.amazonaws.com", "AKIA"], seen.stderr


def test_the_audit_trail_records_the_socket_address_not_a_claimed_x_forwarded_for(tmp_path):
    """CloudTrail's sourceIPAddress is the address the request came from
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html).
    uvicorn trusts X-Forwarded-For from loopback by default, which let any local client write an
    address of its choosing into keyplane's audit trail; keyplane serves with it off."""
    state = tmp_path / "state"
    with serve_keyplane("--state", str(state)) as server:
        kms = _client("kms", server.endpoint, "test", "test")

        def claim(request, **_):
            request.headers["X-Forwarded-For"] = "203.0.113.9"
        kms.meta.events.register("before-sign.kms.ListKeys", claim)
        kms.list_keys()
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "audit", "--state", str(state), "--json",
                          "--operation", "ListKeys"], env=keyplane_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert [r["sourceIPAddress"] for r in records] == ["127.0.0.1"]


def test_dev_mode_takes_test_tools_key_shapes_in_identities_and_only_dev_mode(tmp_path):
    """A seed (or identities file) may give test/test, moto's testing/testing or a LocalStack-style
    LSIA... key to a named user, so a dev server checks a test's calls against that user's policy
    instead of the dev root's. IAM itself makes AKIA keys of 20 characters and 40-character secrets
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-unique-ids,
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_AccessKey.html); outside dev mode only
    those are taken, and the file is refused naming the key's place."""
    seed = tmp_path / "seed.yaml"
    seed.write_text("""\
identities:
  accounts:
    - id: "123456789012"
      users:
        - name: ci
          access_keys: [{id: test, secret: test}]
          policies:
            - name: list-only
              document: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:ListKeys", Resource: "*"}]}
        - name: localstack-style
          access_keys: [{id: LSIAQAAAAAAVNCBMPNSG, secret: testing}]
""")
    with serve_keyplane("--seed", str(seed)) as server:
        me = _client("sts", server.endpoint, "test", "test").get_caller_identity()
        assert me["Arn"] == "arn:aws:iam::123456789012:user/ci"
        ci = _client("kms", server.endpoint, "test", "test")
        assert ci.list_keys()["Keys"] == []
        with pytest.raises(ClientError) as denied:                 # the user's policy, not the dev root's
            ci.create_key()
        assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
        other = _client("sts", server.endpoint, "LSIAQAAAAAAVNCBMPNSG", "testing").get_caller_identity()
        assert other["Arn"] == "arn:aws:iam::123456789012:user/localstack-style"
        with pytest.raises(ClientError) as wrong:                  # a named key's secret is checked
            _client("sts", server.endpoint, "LSIAQAAAAAAVNCBMPNSG", "nope").get_caller_identity()
        assert wrong.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        # an unknown key is still the dev root
        assert _client("sts", server.endpoint, "anything", "x").get_caller_identity()["Account"] == "000000000000"
    from keyplane.engine.identity import Identities
    Identities.create_default(tmp_path / "ids.yaml")
    before = (tmp_path / "ids.yaml").read_text()
    proc, _, log = _serve(tmp_path, "--seed", str(seed), "--state", str(tmp_path / "state"),
                          "--identities", str(tmp_path / "ids.yaml"))
    assert proc.wait(60) == 2
    said = log.read_text()
    assert said.splitlines()[-1] == (
        "keyplane: identities file: $.accounts[2].users[0].access_keys[0].id: access key test is not of the "
        "shape IAM makes (AKIA and 16 capital letters or digits); test tools' shapes are taken only in dev mode "
        "(serve --dev)"), said
    assert (tmp_path / "ids.yaml").read_text() == before       # the refused seed changed nothing


def test_json_logs_carry_uvicorns_lines_and_every_access_field(tmp_path):
    """--log-format json: uvicorn's own lines are JSON lines of the same shape as keyplane's, and
    an access line has each field as a member (request id as AWS's x-amzn-RequestId gives it,
    https://docs.aws.amazon.com/kms/latest/developerguide/logging-using-cloudtrail.html names the
    same request id in its records)."""
    with serve_keyplane("--log-format", "json", "--log-level", "info") as server:
        kms = server.client("kms")
        with pytest.raises(ClientError) as missing:
            kms.describe_key(KeyId="alias/none")
        request_id = missing.value.response["ResponseMetadata"]["RequestId"]
        time.sleep(0.2)   # the server's stderr is a pipe to a file: let the line land
        logged = [line for line in server.output().splitlines() if line.startswith("{")]
    lines = [json.loads(line) for line in logged]
    assert all({"time", "level", "logger", "pid", "message"} <= set(line) for line in lines)
    assert any(line["logger"] == "uvicorn.error" and "Uvicorn running on" in line["message"] for line in lines)
    access = next(line for line in lines if line["logger"] == "keyplane.access" and line["request_id"] == request_id)
    assert (access["operation"], access["status"], access["error"], access["caller"]) == (
        "kms.DescribeKey", 400, "NotFoundException", "arn:aws:iam::000000000000:root")
    assert isinstance(access["latency_ms"], float) and access["latency_ms"] > 0
