"""SigV4 verification against requests signed by real botocore (header and presigned forms)."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import botocore.session
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials

from keyplane.engine.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from keyplane.engine.identity import Identities, TemporaryCredentials, ExpiredTokenException
from keyplane.wire import sigv4

AKID, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT = "111122223333"


@pytest.fixture
def identities():
    return Identities({"accounts": [{"id": ACCOUNT, "users": [{
        "name": "alice", "access_keys": [{"id": AKID, "secret": SECRET},
                                          {"id": "AKIAINACTIVEKEY00000", "secret": SECRET, "status": "Inactive"}]}]}]})


class Captured:
    """The request a real boto3 client put on the wire (the before-send hook stops it there)."""

    def __init__(self, request):
        parts = urlsplit(request.url)
        self.method, self.path, self.query = request.method, parts.path, parts.query
        self.headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        self.headers.setdefault("Host", parts.netloc)  # what urllib3 adds on the wire
        body = request.body
        self.body = body if isinstance(body, bytes) else (body or "").encode()
        self.at = None

    def verify(self, lookup, now=None, **kw):
        return sigv4.verify(self.method, self.path, self.query, self.headers, self.body, lookup,
                            now or self.at, **kw)


def send_with_boto3(service, op, params, *, key=AKID, secret=SECRET, token=None, region="eu-west-1"):
    from datetime import datetime, timezone
    seen = []

    def stop(request, **_):
        seen.append(Captured(request))
        return AWSResponse(request.url, 200, {}, _Raw(b"{}"))

    session = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                    aws_session_token=token, region_name=region)
    client = session.client(service, endpoint_url="http://127.0.0.1:4566")
    client.meta.events.register("before-send", stop)
    before = datetime.now(timezone.utc)
    try:
        getattr(client, op)(**params)
    except Exception:
        pass  # only the request matters here
    seen[0].at = before
    return seen[0]


class _Raw:
    def __init__(self, data):
        self.data = data

    def stream(self, *a, **k):
        yield self.data


def test_boto3_signed_kms_request_verifies_to_the_user_region_and_service(identities):
    req = send_with_boto3("kms", "encrypt", {"KeyId": "alias/x", "Plaintext": b"hello"})
    principal, region, service = req.verify(identities)
    assert principal.arn == f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert principal.access_key_id == AKID
    assert (region, service) == ("eu-west-1", "kms")


def test_tampered_body_is_invalid_signature(identities):
    req = send_with_boto3("kms", "encrypt", {"KeyId": "alias/x", "Plaintext": b"hello"})
    doc = json.loads(req.body)
    doc["KeyId"] = "alias/y"
    req.body = json.dumps(doc).encode()
    with pytest.raises(InvalidSignatureException) as e:
        req.verify(identities)
    assert e.value.message == sigv4.SIGNATURE_MISMATCH


def test_tampered_signed_header_is_invalid_signature(identities):
    req = send_with_boto3("kms", "list_keys", {})
    req.headers["X-Amz-Target"] = "TrentService.ScheduleKeyDeletion"
    with pytest.raises(InvalidSignatureException):
        req.verify(identities)


def test_wrong_secret_is_invalid_signature(identities):
    req = send_with_boto3("kms", "list_keys", {}, secret="x" * 40)
    with pytest.raises(InvalidSignatureException) as e:
        req.verify(identities)
    assert "does not match the signature you provided" in e.value.message


def test_unknown_access_key_is_unrecognized_client(identities):
    req = send_with_boto3("kms", "list_keys", {}, key="AKIAUNKNOWNKEY000000")
    with pytest.raises(UnrecognizedClientException) as e:
        req.verify(identities)
    assert e.value.message == "The security token included in the request is invalid."


def test_inactive_access_key_is_rejected_like_an_unknown_one(identities):
    req = send_with_boto3("kms", "list_keys", {}, key="AKIAINACTIVEKEY00000")
    with pytest.raises(UnrecognizedClientException):
        req.verify(identities)


def test_request_older_than_fifteen_minutes_is_signature_expired(identities):
    req = send_with_boto3("kms", "list_keys", {})
    stamp = req.headers["X-Amz-Date"]
    with pytest.raises(InvalidSignatureException) as e:
        req.verify(identities, now=req.at + timedelta(minutes=16))
    assert e.value.message.startswith(f"Signature expired: {stamp} is now earlier than ")
    assert e.value.message.endswith(" - 15 min.)")
    # inside the window it is fine
    req.verify(identities, now=req.at + timedelta(minutes=14))


def test_request_from_the_future_is_not_yet_current(identities):
    req = send_with_boto3("kms", "list_keys", {})
    with pytest.raises(InvalidSignatureException) as e:
        req.verify(identities, now=req.at - timedelta(minutes=16))
    assert e.value.message.startswith("Signature not yet current:")


def test_unsigned_request_is_missing_authentication_token(identities):
    req = send_with_boto3("kms", "list_keys", {})
    del req.headers["Authorization"]
    with pytest.raises(MissingAuthenticationTokenException) as e:
        req.verify(identities)
    assert e.value.status == 403 and e.value.message == "Missing Authentication Token"


def test_authorization_header_without_parts_is_incomplete_signature(identities):
    with pytest.raises(IncompleteSignatureException) as e:
        sigv4.verify("POST", "/", "", {"Host": "h", "Authorization": "Bearer abc"}, b"{}", identities)
    assert "Authorization header requires 'Credential' parameter." in e.value.message
    assert "'X-Amz-Date' or a 'Date' header" in e.value.message


def test_scope_for_another_service_is_rejected_when_services_are_given(identities):
    req = send_with_boto3("kms", "list_keys", {})
    with pytest.raises(InvalidSignatureException) as e:
        req.verify(identities, services={"sts"})
    assert "Credential should be scoped to correct service: 'sts'" in e.value.message
    assert req.verify(identities, services={"kms", "ssm"})[2] == "kms"


def test_request_signed_with_user_agent_in_signed_headers_verifies(identities):
    # A non-botocore client may sign headers botocore never would; the verifier follows the list.
    from datetime import datetime, timezone
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=b"{}",
                         headers={"Content-Type": "application/x-amz-json-1.1", "User-Agent": "curl/8",
                                  "X-Amz-Target": "TrentService.ListKeys"})

    class SignEverything(SigV4Auth):
        def headers_to_sign(self, req):
            hm = super().headers_to_sign(req)
            hm["user-agent"] = req.headers["User-Agent"]
            return hm

    SignEverything(Credentials(AKID, SECRET), "kms", "us-east-1").add_auth(request)
    assert "user-agent" in request.headers["Authorization"]
    headers = dict(request.headers.items(), Host="127.0.0.1:4566")
    sigv4.verify("POST", "/", "", headers, b"{}", identities, datetime.now(timezone.utc))
    headers["User-Agent"] = "evil/1"
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", "/", "", headers, b"{}", identities, datetime.now(timezone.utc))


# ---- presigned (query string) -----------------------------------------------------------------

def presigned_sts_url(expires=60, key=AKID, secret=SECRET, token=None):
    client = boto3.client("sts", aws_access_key_id=key, aws_secret_access_key=secret, aws_session_token=token,
                          region_name="us-east-1", endpoint_url="http://127.0.0.1:4566")
    return urlsplit(client.generate_presigned_url("get_caller_identity", ExpiresIn=expires))


def test_presigned_url_from_boto3_verifies(identities):
    # botocore presigns with the operation's HTTP method: POST for STS.
    from datetime import datetime, timezone
    url = presigned_sts_url()
    principal, region, service = sigv4.verify("POST", url.path, url.query, {"Host": url.netloc}, b"", identities,
                                              datetime.now(timezone.utc))
    assert principal.name == "alice" and (region, service) == ("us-east-1", "sts")


def test_presigned_url_with_changed_parameter_is_invalid_signature(identities):
    from datetime import datetime, timezone
    url = presigned_sts_url()
    query = url.query.replace("Action=GetCallerIdentity", "Action=AssumeRole")
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", url.path, query, {"Host": url.netloc}, b"", identities, datetime.now(timezone.utc))


def test_presigned_url_past_its_expiry_is_signature_expired(identities):
    from datetime import datetime, timezone
    url = presigned_sts_url(expires=60)
    with pytest.raises(InvalidSignatureException) as e:
        sigv4.verify("POST", url.path, url.query, {"Host": url.netloc}, b"", identities,
                     datetime.now(timezone.utc) + timedelta(seconds=120))
    assert e.value.message.startswith("Signature expired:")


def test_presigned_url_missing_a_parameter_is_incomplete_signature(identities):
    url = presigned_sts_url()
    query = "&".join(p for p in url.query.split("&") if not p.startswith("X-Amz-Credential="))
    with pytest.raises(IncompleteSignatureException) as e:
        sigv4.verify("GET", url.path, query, {"Host": url.netloc}, b"", identities)
    assert "'X-Amz-Credential'" in e.value.message


def test_query_auth_signer_with_a_form_body_verifies(identities):
    # SigV4QueryAuth moves a form body into the query, as presigning an STS call does.
    from datetime import datetime, timezone
    request = AWSRequest(method="GET", url="http://localhost:4566/",
                         data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    SigV4QueryAuth(Credentials(AKID, SECRET), "sts", "eu-central-1", expires=300).add_auth(request)
    url = urlsplit(request.url)
    _, region, _ = sigv4.verify("GET", url.path, url.query, {"host": "localhost:4566"}, b"", identities,
                                datetime.now(timezone.utc))
    assert region == "eu-central-1"


# ---- temporary credentials ------------------------------------------------------------------------

def _session_identities(expiration):
    creds = TemporaryCredentials(
        access_key_id="ASIATEMPORARYKEY0001", secret_access_key="t" * 40, session_token="tok-123",
        expiration=expiration, account=ACCOUNT, role_name="deployer",
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/deployer", session_name="ci")
    ids = Identities({"accounts": [{"id": ACCOUNT, "roles": [{
        "name": "deployer", "trust_policy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}]}}]}]},
        sessions=lambda akid: creds if akid == creds.access_key_id else None)
    return ids, creds


def test_session_credentials_verify_as_the_assumed_role():
    from datetime import datetime, timezone
    ids, creds = _session_identities(datetime.now(timezone.utc) + timedelta(hours=1))
    req = send_with_boto3("kms", "list_keys", {}, key=creds.access_key_id, secret=creds.secret_access_key,
                          token=creds.session_token)
    principal, _, _ = req.verify(ids)
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/ci"
    assert principal.type == "AssumedRole" and principal.role_arn == creds.role_arn


def test_session_credentials_with_wrong_token_are_unrecognized():
    from datetime import datetime, timezone
    ids, creds = _session_identities(datetime.now(timezone.utc) + timedelta(hours=1))
    req = send_with_boto3("kms", "list_keys", {}, key=creds.access_key_id, secret=creds.secret_access_key,
                          token="forged-token")
    with pytest.raises(UnrecognizedClientException):
        req.verify(ids)
    req = send_with_boto3("kms", "list_keys", {}, key=creds.access_key_id, secret=creds.secret_access_key)
    with pytest.raises(UnrecognizedClientException):
        req.verify(ids)


def test_long_term_key_with_a_session_token_is_unrecognized(identities):
    req = send_with_boto3("kms", "list_keys", {}, token="something")
    with pytest.raises(UnrecognizedClientException):
        req.verify(identities)


def test_expired_session_credentials_are_expired_token():
    from datetime import datetime, timezone
    ids, creds = _session_identities(datetime.now(timezone.utc) - timedelta(seconds=1))
    req = send_with_boto3("kms", "list_keys", {}, key=creds.access_key_id, secret=creds.secret_access_key,
                          token=creds.session_token)
    with pytest.raises(ExpiredTokenException) as e:
        req.verify(ids)
    assert e.value.message == "The security token included in the request is expired"


def test_request_carrying_its_payload_hash_header_verifies_and_a_wrong_hash_does_not(identities):
    from datetime import datetime, timezone
    import hashlib
    body = b'{"KeyId": "alias/x"}'
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body,
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
                                  "X-Amz-Target": "TrentService.DescribeKey"})
    SigV4Auth(Credentials(AKID, SECRET), "kms", "us-east-1").add_auth(request)
    headers = dict(request.headers.items(), Host="127.0.0.1:4566")
    assert "x-amz-content-sha256" in headers["Authorization"]
    sigv4.verify("POST", "/", "", headers, body, identities, datetime.now(timezone.utc))
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", "/", "", headers, b'{"KeyId": "alias/y"}', identities, datetime.now(timezone.utc))


def _sign_only(headers_signed: tuple, headers: dict, body: bytes, region="us-east-1"):
    """A request whose Authorization covers only `headers_signed` (a hostile or sloppy signer)."""
    class Narrow(SigV4Auth):
        def headers_to_sign(self, request):
            out = super().headers_to_sign(request)
            for name in list(out.keys()):
                if name.lower() not in headers_signed:
                    del out[name]
            return out
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body, headers=dict(headers))
    Narrow(Credentials(AKID, SECRET), "kms", region).add_auth(request)
    return dict(request.headers.items(), Host="127.0.0.1:4566")


def test_x_amz_target_outside_the_signed_headers_is_refused(identities):
    """AWS requires the host and every x-amz-* header of the request to be signed
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html):
    a request signed over host and date only could be retargeted from DescribeKey to DisableKey."""
    from datetime import datetime, timezone
    body = b'{"KeyId": "alias/x"}'
    headers = _sign_only(("host", "x-amz-date"), {"X-Amz-Target": "TrentService.DescribeKey",
                                                   "Content-Type": "application/x-amz-json-1.1"}, body)
    assert "x-amz-target" not in headers["Authorization"]
    headers["X-Amz-Target"] = "TrentService.DisableKey"  # retargeted in transit
    with pytest.raises(IncompleteSignatureException) as e:
        sigv4.verify("POST", "/", "", headers, body, identities, datetime.now(timezone.utc))
    assert e.value.message == "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization."


def test_unsigned_x_amz_date_is_refused(identities):
    from datetime import datetime, timezone
    headers = _sign_only(("host", "x-amz-target"), {"X-Amz-Target": "TrentService.ListKeys"}, b"{}")
    with pytest.raises(IncompleteSignatureException) as e:
        sigv4.verify("POST", "/", "", headers, b"{}", identities, datetime.now(timezone.utc))
    assert "'x-amz-date' must be a 'SignedHeader'" in e.value.message


def test_unsigned_payload_is_refused_the_payload_hash_is_always_signed(identities):
    """UNSIGNED-PAYLOAD is S3's; a JSON API request's signature always covers the body's hash."""
    from datetime import datetime, timezone
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=b"{}",
                         headers={"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
                                  "X-Amz-Target": "TrentService.ListKeys"})
    SigV4Auth(Credentials(AKID, SECRET), "kms", "us-east-1").add_auth(request)
    headers = dict(request.headers.items(), Host="127.0.0.1:4566")
    with pytest.raises(InvalidSignatureException):
        sigv4.verify("POST", "/", "", headers, b'{"Limit": 1}', identities, datetime.now(timezone.utc))


def test_declared_payload_hash_lets_the_signature_be_checked_before_the_body(identities):
    """With x-amz-content-sha256 the whole signature is settled from the headers; the body then
    only has to match the declared hash."""
    from datetime import datetime, timezone
    import hashlib
    body = b'{"KeyId": "alias/x"}'
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body,
                         headers={"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(),
                                  "X-Amz-Target": "TrentService.DescribeKey"})
    SigV4Auth(Credentials(AKID, SECRET), "kms", "us-east-1").add_auth(request)
    headers = dict(request.headers.items(), Host="127.0.0.1:4566")
    pending = sigv4.verify_headers("POST", "/", "", headers, identities, datetime.now(timezone.utc))
    assert pending.signature_checked
    forged = dict(headers, Authorization=headers["Authorization"][:-4] + "0000")
    with pytest.raises(InvalidSignatureException):
        sigv4.verify_headers("POST", "/", "", forged, identities, datetime.now(timezone.utc))
    with pytest.raises(InvalidSignatureException):
        pending.verify_body(b'{"KeyId": "alias/y"}')
    assert pending.verify_body(body)[0].arn.endswith(":user/alice")


def test_scope_outside_the_known_regions_is_refused(identities):
    """A made-up Region of any length is refused with AWS's scope error, before the key is looked up."""
    from keyplane.engine.regions import known_regions
    regions = known_regions(["eu-local-1"])
    assert "us-east-1" in regions and "cn-north-1" in regions and "aws-global" not in regions
    req = send_with_boto3("kms", "list_keys", {}, region="xx-madeup-" + "9" * 40)
    with pytest.raises(InvalidSignatureException) as e:
        req.verify(identities, regions=regions)
    assert e.value.message == "Credential should be scoped to a valid region. "
    assert send_with_boto3("kms", "list_keys", {}, region="eu-local-1").verify(identities, regions=regions)[1] == "eu-local-1"


# ---- keyplane's canonical request is botocore's ------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAME = st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
_VALUE = st.text(st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from(" \t"), max_size=30)
_SEGMENT = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, blacklist_characters="/?#%"), max_size=8) \
    | st.sampled_from([".", "..", "", "a b", "caf\u00e9", "~x", "x+y"])


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "post", "PUT"]),
       segments=st.lists(_SEGMENT, max_size=5),
       query=st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=4),
       headers=st.lists(st.tuples(_NAME, _VALUE), min_size=1, max_size=6),
       declared=st.booleans())
def test_the_canonical_request_is_the_one_botocore_signs(method, segments, query, headers, declared):
    """keyplane builds SigV4's canonical request itself (botocore's signer, built around an
    AWSRequest for every call, was half of the server's CPU per Encrypt); over generated paths,
    queries and headers -- repeated names, runs of whitespace, dot segments, non-ASCII -- it is the
    string botocore's SigV4Auth.canonical_request gives for the same request, so whatever a
    botocore-based client signs, keyplane computes the same thing to check it.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html"""
    path = "/" + "/".join(segments)
    received = [("host", "kms.us-east-1.amazonaws.com")] + headers
    if declared:
        received.append(("x-amz-content-sha256", "ab" * 32))
    hdrs = sigv4._as_headers(received)
    signed = sorted({name for name, _ in received})
    body_hash = "cd" * 32

    class Told(SigV4Auth):
        def headers_to_sign(self, request):
            return sigv4._Headers((n, request.headers.get_all(n) or []) for n in signed)

        def payload(self, request):
            return body_hash

    request = AWSRequest(method=method, url=f"http://kms.us-east-1.amazonaws.com{path}", headers=None)
    request.headers = hdrs
    request.params = query
    expected = Told(Credentials(AKID, SECRET), "kms", "us-east-1").canonical_request(request)
    assert sigv4.canonical_request(method, path, query, hdrs, signed, body_hash) == expected
