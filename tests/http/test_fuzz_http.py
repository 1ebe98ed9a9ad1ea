"""The fuzz property over real HTTP: generated requests (tests/fuzz/requests.py), SigV4-signed as an
SDK signs them, sent to `keyplane serve`; never a 5xx, error bodies bounded, and the trail verifies
with no gap afterwards. A short run (KEYPLANE_FUZZ_HTTP_EXAMPLES, default 60): the in-process suite
covers the same property at volume."""
from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keyplane.engine import apimodel

from keyplane_server import keyplane

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from fuzz.requests import encode, valid  # noqa: E402
from fuzz.test_fuzz_wire import MAX_ERROR_BODY, OPERATIONS, TARGETS  # noqa: E402

EXAMPLES = int(os.environ.get("KEYPLANE_FUZZ_HTTP_EXAMPLES", "60"))


@pytest.fixture(scope="module")
def seeded(server):
    kms, ssm, sm = server.client("kms"), server.client("ssm"), server.client("secretsmanager")
    key = kms.create_key(Description="http fuzz")["KeyMetadata"]
    ssm.put_parameter(Name="/httpfuzz/a", Value="v1", Type="String")
    secret = sm.create_secret(Name="httpfuzz/secret", SecretString="s")["ARN"]
    return {"key": [key["KeyId"], key["Arn"]], "name": ["/httpfuzz/a", "httpfuzz/secret"],
            "secret": ["httpfuzz/secret", secret], "arn": [key["Arn"], secret]}


def _send(server, target: str, service: str, body: bytes) -> tuple[int, bytes]:
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                         headers={"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials(server.access_key, server.secret_key), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    req = urllib.request.Request(prepared.url, data=body, headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_request_over_http_gets_a_5xx_or_a_big_error(server, seeded, data):
    service, name = data.draw(st.sampled_from(OPERATIONS), label="operation")
    shape = apimodel.operation_model(service, name).input_shape
    body = encode(valid(data.draw, shape, seeded, hostile=data.draw(st.booleans())) if shape is not None else {})
    status, answer = _send(server, f"{TARGETS[service]}.{name}", service, body)
    assert status < 500, (service, name, body[:300], answer[:300])
    if status >= 400:
        assert len(answer) <= MAX_ERROR_BODY, (service, name, len(answer))


def test_the_servers_trail_verifies_after_the_run(server, seeded):
    out = keyplane("audit", "--state", str(server.state), "--verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "audit chain intact" in out.stdout and "complete" in out.stdout
