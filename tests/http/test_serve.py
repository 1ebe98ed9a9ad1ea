"""`keyplane serve` as an operator runs it: several workers, SIGTERM, --dev, --tls."""
from __future__ import annotations

import json
import signal
import ssl
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError, SSLError



def test_two_workers_share_the_store_and_sessions_then_stop_cleanly_on_sigterm(tmp_path):
    from keyplane_server import start_server  # noqa: E402 - the http conftest's helper
    srv = start_server(tmp_path, "--workers", "2", "--threads", "4", "--log-level", "info")
    try:
        key = srv.client("kms").create_key(Description="shared")["KeyMetadata"]["KeyId"]
        creds = srv.client("sts").assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer",
                                              RoleSessionName="workers")["Credentials"]
        session = dict(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                       aws_session_token=creds["SessionToken"])
        # fresh clients open fresh connections, which the kernel spreads over both workers
        for _ in range(12):
            kms = srv.client("kms", **session)
            blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
            assert srv.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
        pids = {line.split("[", 1)[1].split("]", 1)[0] for line in srv.output().splitlines()
                if "Started server process" in line}
        assert len(pids) == 2, srv.output()
    finally:
        code = srv.stop(signal.SIGTERM)
    assert code == 0, srv.output()
    out = srv.output()
    assert out.count("runs the scheduler") == 1, out
    assert "Traceback" not in out


def test_two_servers_on_one_postgresql_store_share_keys_sessions_and_one_scheduler(tmp_path, postgres_url):
    from keyplane_server import start_server
    a = start_server(tmp_path / "a", "--log-level", "info", store=postgres_url)
    b = None
    try:
        # a second server: same database, same root key and identities (copied, as an operator would)
        import shutil
        shutil.copytree(tmp_path / "a" / ".keyplane", tmp_path / "b" / ".keyplane")
        b = start_server(tmp_path / "b", "--log-level", "info", init=False, store=postgres_url)
        b.access_key, b.secret_key = a.access_key, a.secret_key
        key = a.client("kms").create_key(Description="made on a")["KeyMetadata"]["KeyId"]
        blob = a.client("kms").encrypt(KeyId=key, Plaintext=b"shared")["CiphertextBlob"]
        assert b.client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
        creds = a.client("sts").assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer",
                                            RoleSessionName="across")["Credentials"]
        me = b.client("sts", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"]).get_caller_identity()
        assert me["Arn"].endswith(":assumed-role/deployer/across")
        runners = a.output().count("runs the scheduler") + b.output().count("runs the scheduler")
        assert runners == 1, a.output() + b.output()
    finally:
        assert a.stop() == 0
        if b is not None:
            assert b.stop() == 0


def test_sigterm_lets_a_request_in_flight_finish(tmp_path):
    import socket
    import time

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from keyplane_server import start_server

    srv = start_server(tmp_path)
    host = srv.endpoint.split("://", 1)[1]
    body = b'{"Description": "finished during shutdown"}'
    request = AWSRequest(method="POST", url=srv.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "Host": host,
                                  "X-Amz-Target": "TrentService.CreateKey", "Content-Length": str(len(body))})
    SigV4Auth(Credentials(srv.access_key, srv.secret_key), "kms", "us-east-1").add_auth(request)
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in request.headers.items()) + "\r\n"
    port = int(host.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + body[:10])      # the request has started...
        time.sleep(0.3)                              # (real time: the server must be reading it)
        srv.proc.send_signal(signal.SIGTERM)         # ...when the operator stops the server
        time.sleep(0.5)
        sock.sendall(body[10:])
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert b"finished during shutdown" in reply
    assert srv.proc.wait(30) == 0


def test_dev_mode_prints_credentials_and_reset_wipes_state(tmp_path):
    import yaml
    from keyplane_server import ROLES, start_server

    from keyplane.engine.identity import Identities, write_private
    ids_file = tmp_path / "identities.yaml"
    Identities.create_default(ids_file)
    doc = yaml.safe_load(ids_file.read_text())
    doc["accounts"][0]["roles"] = ROLES
    write_private(ids_file, yaml.safe_dump(doc))
    srv = start_server(tmp_path, "--dev", "--identities", str(ids_file), init=False)
    try:
        kms = srv.client("kms")
        kms.create_key(Description="before reset")
        assert len(kms.list_keys()["Keys"]) == 1
        creds = srv.client("sts").assume_role(RoleArn="arn:aws:iam::111122223333:role/deployer",
                                              RoleSessionName="before-reset")["Credentials"]
        session = srv.client("sts", aws_access_key_id=creds["AccessKeyId"],
                             aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"])
        assert session.get_caller_identity()["Arn"].endswith("/before-reset")
        with pytest.raises(urllib.error.HTTPError) as unsigned:   # a cross-site POST cannot wipe state
            urllib.request.urlopen(urllib.request.Request(srv.endpoint + "/_keyplane/reset", data=b"",
                                                          method="POST"), timeout=30)
        assert unsigned.value.code == 403
        assert len(kms.list_keys()["Keys"]) == 1
        with urllib.request.urlopen(signed_reset(srv), timeout=30) as r:
            assert r.status == 200
        assert kms.list_keys()["Keys"] == []
        with pytest.raises(ClientError) as e:  # role sessions are state too
            session.get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        assert srv.client("sts").get_caller_identity()["Account"] == "111122223333"  # credentials survive
    finally:
        assert srv.stop() == 0


def signed_reset(srv) -> urllib.request.Request:
    """POST /_keyplane/reset signed with the dev credentials (any service's signature will do)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method="POST", url=srv.endpoint + "/_keyplane/reset", data=b"")
    SigV4Auth(Credentials(srv.access_key, srv.secret_key), "kms", "us-east-1").add_auth(request)
    return urllib.request.Request(srv.endpoint + "/_keyplane/reset", data=b"", method="POST",
                                  headers=dict(request.headers.items()))


def test_reset_does_not_exist_outside_dev_mode(server, kms):
    kms.create_key(Description="must survive")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(server.endpoint + "/_keyplane/reset", data=b"",
                                                      method="POST"), timeout=30)
    assert e.value.code == 404
    assert any(kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["Description"] == "must survive"
               for k in kms.list_keys(Limit=1000)["Keys"])
    with urllib.request.urlopen(server.endpoint + "/_keyplane/health", timeout=30) as r:
        assert json.loads(r.read())["status"] == "ok"


def test_tls_serves_https_with_a_generated_ca(tmp_path):
    from keyplane_server import start_server
    srv = start_server(tmp_path, "--tls")
    try:
        assert srv.endpoint.startswith("https://")
        assert f"TLS CA certificate: {srv.ca}" in srv.output()
        kms = srv.client("kms")  # verify= the generated CA
        assert kms.create_key()["KeyMetadata"]["Enabled"]
        untrusting = srv.client("kms")
        untrusting._endpoint.http_session._verify = True  # the system store does not know keyplane's CA
        with pytest.raises(SSLError):
            untrusting.list_keys()
        key_file = srv.state / "tls" / "server.key"
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        ctx = ssl.create_default_context(cafile=srv.ca)
        with urllib.request.urlopen(srv.endpoint + "/_keyplane/health", context=ctx, timeout=30) as r:
            assert r.status == 200
        kms._endpoint.http_session.close()  # a polite client: the TLS connection closes at once
    finally:
        assert srv.stop() == 0


def test_tls_with_the_operators_own_certificate(tmp_path, require):
    import shutil
    import subprocess
    from keyplane_server import start_server
    require(shutil.which("openssl") is not None, "openssl command not installed")
    cert, key = tmp_path / "mine.pem", tmp_path / "mine.key"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                           "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=keyplane-test",
                           "-addext", "subjectAltName=IP:127.0.0.1"], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    srv = start_server(tmp_path, "--tls-cert", str(cert), "--tls-key", str(key), tls_ca=str(cert))
    try:
        assert srv.endpoint.startswith("https://")
        assert srv.client("sts").get_caller_identity()["Account"] == "111122223333"
        assert not (srv.state / "tls").exists()  # nothing generated when the operator brings a certificate
        srv.client("sts")._endpoint.http_session.close()
    finally:
        assert srv.stop() == 0


def test_serve_without_identities_file_refuses_with_a_hint(tmp_path):
    from keyplane_server import keyplane
    out = keyplane("serve", "--state", str(tmp_path / "empty"), "--port", "1")
    assert out.returncode == 2 and "keyplane init" in out.stderr
