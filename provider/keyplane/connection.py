"""`Connection`: who you are and where keyplane is; `client(service)` gives real boto3 clients.

In-process, a client is a genuine boto3 client: botocore serialises the request and parses the
response; a `before-send` hook hands the request to the wire layer instead of a socket. So an
application sees in-process exactly what it will see over HTTP from `keyplane serve`. The engine
itself uses this for rotation functions, which get a boto3 client (`keyplane.connect()` is the
public way in, client.py).
"""
from __future__ import annotations

import boto3
import botocore.config
import botocore.loaders
import botocore.session
from botocore import UNSIGNED
from botocore.awsrequest import AWSResponse

from .engine.calls import DEFAULT_REGION, RequestContext
from .engine.identity import Principal
from .wire import dispatch

# one model loader for every connection: botocore caches parsed service models per loader, and
# re-reading the large SSM and KMS models for each new session costs ~0.4 s per client
_loader = botocore.loaders.create_loader()


def _boto_session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader)
    return boto3.session.Session(botocore_session=core)


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_):
        yield self._data


class Connection:
    """Who you are and where keyplane is; `client(service, region)` gives boto3 clients."""

    def __init__(self, engine=None, *, endpoint: str | None = None,
                 principal: Principal | None = None, region: str = DEFAULT_REGION,
                 access_key: str | None = None, secret_key: str | None = None,
                 session_token: str | None = None, verify=None):
        self.engine = engine
        self.endpoint = endpoint
        self.principal = principal
        self.region = region
        self._credentials = (access_key, secret_key, session_token)
        self._verify = verify
        self._session = _boto_session()

    def client(self, service: str, region: str | None = None, **config):
        region = region or self.region
        if self.engine is not None and region not in self.engine.regions:
            raise ValueError(f"{region!r} is not an AWS Region (botocore's partitions) nor one of regions.yaml")
        cfg = botocore.config.Config(retries={"total_max_attempts": 1 if self.endpoint is None else 3},
                                     **config)
        if self.endpoint is not None:
            access, secret, token = self._credentials
            return self._session.client(service, region_name=region, endpoint_url=self.endpoint,
                                        aws_access_key_id=access, aws_secret_access_key=secret,
                                        aws_session_token=token, verify=self._verify, config=cfg)
        cfg = cfg.merge(botocore.config.Config(signature_version=UNSIGNED))
        client = self._session.client(service, region_name=region, config=cfg,
                                      endpoint_url=f"https://{service}.{region}.keyplane.internal")
        client.meta.events.register("before-send", self._in_process(service, region))
        return client

    def _in_process(self, service: str, region: str):
        engine, principal = self.engine, self.principal

        def send(request, **_):
            body = request.body or b""
            if isinstance(body, str):
                body = body.encode()
            elif hasattr(body, "read"):
                body = body.read()
            # the two headers keyplane reads (HeadersDict looks them up without regard to case)
            target, agent = (_text(request.headers.get(name)) for name in ("X-Amz-Target", "User-Agent"))
            ctx = RequestContext(principal=principal, region=region, user_agent=agent)
            resp = dispatch(engine, service, {"X-Amz-Target": target}, body, ctx)
            return AWSResponse(request.url, resp.status, resp.headers, _Body(resp.body))
        return send
