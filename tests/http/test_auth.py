"""Requests that must not get in: forged, stale, unsigned, unknown key; they change nothing."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import botocore.auth
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError


def _key_count(kms) -> int:
    return len(kms.list_keys(Limit=1000)["Keys"])


def _error(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"].get("Message", ""), r


def test_forged_signature_is_invalid_signature_and_creates_nothing(server, kms):
    before = _key_count(kms)
    forged = server.client("kms", aws_secret_access_key="A" * 40)
    code, status, message, resp = _error(lambda: forged.create_key(Description="forged"))
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("The request signature we calculated does not match")
    assert resp["ResponseMetadata"]["RequestId"]
    assert _key_count(kms) == before


def test_unknown_access_key_is_unrecognized_client(server, kms):
    before = _key_count(kms)
    stranger = server.client("kms", aws_access_key_id="AKIAUNKNOWN000000000")
    code, status, message, _ = _error(lambda: stranger.create_key())
    assert (code, status) == ("UnrecognizedClientException", 400)
    assert message == "The security token included in the request is invalid."
    assert _key_count(kms) == before


def test_unsigned_request_is_missing_authentication_token(server, kms):
    before = _key_count(kms)
    anonymous = server.client("kms", signature_version=UNSIGNED)
    code, status, message, _ = _error(lambda: anonymous.create_key())
    assert (code, status, message) == ("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
    assert _key_count(kms) == before


def test_request_signed_twenty_minutes_ago_is_signature_expired(server, kms, monkeypatch):
    before = _key_count(kms)
    stale = server.client("kms")
    past = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=20)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: past)  # the client's clock is slow
    code, status, message, _ = _error(lambda: stale.create_key())
    monkeypatch.undo()
    assert (code, status) == ("InvalidSignatureException", 400)
    assert message.startswith("Signature expired: ") and message.endswith(" - 15 min.)")
    assert _key_count(kms) == before


def test_sts_rejections_use_query_protocol_codes(server):
    sts_forged = server.client("sts", aws_secret_access_key="A" * 40)
    code, status, _, _ = _error(sts_forged.get_caller_identity)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    code, status, message, _ = _error(server.client("sts", signature_version=UNSIGNED).get_caller_identity)
    assert (code, status, message) == ("MissingAuthenticationToken", 403, "Request is missing Authentication Token")
    code, status, _, _ = _error(server.client("sts", aws_access_key_id="AKIAUNKNOWN000000000").get_caller_identity)
    assert (code, status) == ("InvalidClientTokenId", 403)


def _signed(server, body: bytes, target: str | None, secret=None):
    host = server.endpoint.split("://", 1)[1]
    headers = {"Content-Type": "application/x-amz-json-1.1", "Host": host}
    if target:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body, headers=headers)
    SigV4Auth(Credentials(server.access_key, secret or server.secret_key), "kms", "us-east-1").add_auth(request)
    raw = urllib.request.Request(server.endpoint + "/", data=body, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(raw, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_malformed_json_is_serialization_exception_without_traceback(server):
    status, headers, body = _signed(server, b'{"KeyId": ', "TrentService.DescribeKey")
    doc = json.loads(body)
    assert status == 400 and doc["__type"] == "SerializationException"
    assert "Traceback" not in body.decode() and headers.get("x-amzn-requestid")


def test_unknown_target_is_unknown_operation(server):
    status, _, body = _signed(server, b"{}", "TrentService.MakeCoffee")
    assert status == 400 and json.loads(body)["__type"] == "UnknownOperationException"


def test_raw_request_with_tampered_body_after_signing_is_rejected(server, kms):
    before = _key_count(kms)
    host = server.endpoint.split("://", 1)[1]
    body = b'{"Description": "signed"}'
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "Host": host,
                                  "X-Amz-Target": "TrentService.CreateKey"})
    SigV4Auth(Credentials(server.access_key, server.secret_key), "kms", "us-east-1").add_auth(request)
    tampered = b'{"Description": "evil!"}'
    raw = urllib.request.Request(server.endpoint + "/", data=tampered, method="POST",
                                 headers=dict(request.headers.items()))
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(raw, timeout=30)
    assert e.value.code == 400 and json.loads(e.value.read())["__type"] == "InvalidSignatureException"
    assert _key_count(kms) == before


def test_presigned_get_caller_identity_url_works_and_tampering_fails(server, sts):
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)
    # botocore presigns STS calls for POST (the EKS / Vault identity-proof pattern)
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=30) as r:
        body = r.read().decode()
    assert r.status == 200 and "<Arn>arn:aws:iam::111122223333:user/admin</Arn>" in body
    assert "<GetCallerIdentityResult>" in body
    tampered = url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(tampered, data=b"", method="POST"), timeout=30)
    assert e.value.code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in e.value.read()
