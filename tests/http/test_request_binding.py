"""A signed request is bound to what it says: every x-amz-* header it carries, its Region, its Host.

Finding 8 and 9 of issue 17: a request signed over host and date only was retargeted in transit,
and made-up Regions (and a Host of real AWS) were accepted."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError


def _send(server, body: bytes, headers: dict, *, signed_only=None, region="us-east-1", host=None):
    class Narrow(SigV4Auth):
        def headers_to_sign(self, request):
            out = super().headers_to_sign(request)
            for name in list(out.keys()):
                if signed_only is not None and name.lower() not in signed_only:
                    del out[name]
            return out
    host = host or server.endpoint.split("://", 1)[1]
    request = AWSRequest(method="POST", url=server.endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "Host": host, **headers})
    Narrow(Credentials(server.access_key, server.secret_key), "kms", region).add_auth(request)
    return request


def _post(server, request, **override):
    headers = dict(request.headers.items(), **override)
    raw = urllib.request.Request(server.endpoint + "/", data=request.body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(raw, timeout=30) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def test_request_retargeted_in_transit_is_refused_and_the_key_stays_enabled(server, kms):
    """AWS: the host and every x-amz-* header must be signed
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html)."""
    key_id = kms.create_key(Description="retarget")["KeyMetadata"]["KeyId"]
    body = json.dumps({"KeyId": key_id}).encode()
    request = _send(server, body, {"X-Amz-Target": "TrentService.DescribeKey"}, signed_only=("host", "x-amz-date"))
    status, doc = _post(server, request, **{"X-Amz-Target": "TrentService.DisableKey"})
    assert (status, doc["__type"]) == (400, "IncompleteSignatureException")
    assert doc["message"] == "'x-amz-target' must be a 'SignedHeader' in the AWS Authorization."
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"] is True


def test_made_up_region_is_refused_and_creates_nothing(server):
    """Regions are botocore's partitions plus regions.yaml; AWS answers a scope it does not serve
    with InvalidSignatureException "Credential should be scoped to a valid region."."""
    for region in ("xx-madeup-1", "xx-" + "q" * 55 + "-1"):
        client = server.client("kms", region=region)
        with pytest.raises(ClientError) as e:
            client.create_key(Description="nowhere")
        err = e.value.response
        assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("InvalidSignatureException", 400)
        assert err["Error"]["Message"].startswith("Credential should be scoped to a valid region.")
    # any real Region verifies (and starts empty)
    assert server.client("kms", region="eu-west-3").list_keys()["Keys"] == []
