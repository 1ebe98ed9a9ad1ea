"""Raw AWS wire calls for conformance tests: a SigV4-signed request through keyplane's whole HTTP
path (the ASGI app: body limit, signature check, protocol dispatch, engine, error table), without a
socket, and the raw answer back — status, headers and the parsed body, not an SDK's view of it.

Each service's tests live beside this module (`tests/conformance/kms`, `.../secretsmanager`,
`.../ssm`) and cite, in each test's docstring, the AWS documentation page the answer comes from.
"""
from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

TARGET_PREFIX = {"kms": "TrentService", "ssm": "AmazonSSM", "secretsmanager": "secretsmanager"}
HOST = "127.0.0.1:4566"


@dataclass
class WireResponse:
    status: int
    headers: dict          # lower-case name -> value
    raw: bytes
    body: dict | str       # parsed JSON, or the text of a non-JSON answer

    @property
    def error_type(self) -> str | None:
        return self.body.get("__type") if isinstance(self.body, dict) else None

    def error(self) -> tuple[int, str | None, object]:
        """(status, __type, message member or None when AWS-style absent) of an error answer."""
        body = self.body if isinstance(self.body, dict) else {}
        message = body.get("message", body.get("Message"))
        return self.status, self.error_type, message

    def has_message_member(self) -> bool:
        return isinstance(self.body, dict) and ("message" in self.body or "Message" in self.body)


class Wire:
    """Signs and sends raw requests to one in-process keyplane app as one identity."""

    def __init__(self, app, access_key: str, secret_key: str, region: str = "us-east-1"):
        self.app = app
        self.credentials = Credentials(access_key, secret_key)
        self.region = region

    def send(self, *, body: bytes = b"", headers: dict | None = None, signing_service: str = "kms",
             region: str | None = None, method: str = "POST", path: str = "/", query: str = "",
             sign: bool = True) -> WireResponse:
        url = f"http://{HOST}{path}" + (f"?{query}" if query else "")
        request = AWSRequest(method=method, url=url, data=body, headers={"Host": HOST, **(headers or {})})
        if sign:
            SigV4Auth(self.credentials, signing_service, region or self.region).add_auth(request)
        raw_headers = [(k.lower().encode(), v.encode() if isinstance(v, str) else v)
                       for k, v in request.headers.items()]
        scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
                 "headers": raw_headers, "scheme": "http", "client": ("127.0.0.1", 40000)}
        # a private loop: asyncio.run() would leave the thread without a current event loop,
        # which later tests (Pulumi's mocks) rely on
        loop = asyncio.new_event_loop()
        try:
            status, hdrs, payload = loop.run_until_complete(_asgi_call(self.app, scope, body))
        finally:
            loop.close()
        try:
            parsed = json.loads(payload) if payload else {}
        except ValueError:
            parsed = payload.decode("utf-8", "replace")
        return WireResponse(status, hdrs, payload, parsed)

    def call(self, service: str, operation: str, params: dict | None = None, *, raw: bytes | None = None,
             region: str | None = None) -> WireResponse:
        """One AWS JSON 1.1 call: `params` as the JSON body (bytes values become base64)."""
        body = raw if raw is not None else json.dumps(_jsonable(params or {})).encode()
        return self.send(body=body, signing_service=service, region=region, headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"{TARGET_PREFIX[service]}.{operation}"})


async def _asgi_call(app, scope, body: bytes) -> tuple[int, dict, bytes]:
    """One request through the ASGI app exactly as uvicorn delivers it."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)
    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], headers, payload


def _jsonable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def make_wire(engine, identities_path, region: str = "us-east-1") -> tuple[Wire, object]:
    """A Wire on a fresh app over `engine`, as the default identity (the account's admin user).
    The engine's clock is set to now: SigV4 is checked against it."""
    from keyplane.engine.identity import Identities
    from keyplane.engine.sts.sessions import lookup_for
    from keyplane.server import KeyplaneApp
    engine.clock.set(datetime.now(timezone.utc))
    ids = Identities.create_default(identities_path, sessions=lookup_for(engine), clock=engine.clock)
    engine.identities = ids  # identity policies are read by the engine, as `keyplane serve` wires it
    akid, secret = ids.default_credentials()
    app = KeyplaneApp(engine, ids)
    return Wire(app, akid, secret, region), app
