"""Secrets Manager calls for the conformance tests, in one shape over two ways in:

- `Signed` wraps the shared `tests/conformance/wire.py` Wire: a SigV4-signed request through the
  whole HTTP app, as the account's admin user — what most tests use.
- `InProcess` hands the JSON body to the same protocol handler the app runs after SigV4, for a
  given principal: for tests that move the injected clock days ahead (a signature made now would
  be refused as expired) or that call as another account's root.

Both return (status, parsed body, headers) and add nothing a raw HTTP client would not send — no
ClientRequestToken filled in, no message member invented.
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from keyplane.engine.core import RequestContext
from keyplane.engine.identity import Principal
from keyplane.wire import dispatch


@dataclass
class Answer:
    status: int
    body: dict
    headers: dict

    @property
    def code(self) -> str | None:
        return self.body.get("__type")

    @property
    def message(self) -> str | None:
        return self.body.get("Message")


class _Calls:
    def __call__(self, operation: str, body: dict | None = None) -> Answer:
        raise NotImplementedError

    def ok(self, operation: str, body: dict | None = None) -> dict:
        answer = self(operation, body)
        assert answer.status == 200, (operation, answer.status, answer.body)
        return answer.body

    def create(self, name: str, value: str | None = "v1", **extra) -> dict:
        body = {"Name": name, "ClientRequestToken": token(), **extra}
        if value is not None:
            body["SecretString"] = value
        return self.ok("CreateSecret", body)


class Signed(_Calls):
    def __init__(self, wire):
        self.wire = wire

    def __call__(self, operation: str, body: dict | None = None) -> Answer:
        resp = self.wire.call("secretsmanager", operation, body or {})
        return Answer(resp.status, resp.body if isinstance(resp.body, dict) else {"raw": resp.body}, resp.headers)


class InProcess(_Calls):
    def __init__(self, engine, principal: Principal, region: str = "us-east-1"):
        self.engine, self.principal, self.region = engine, principal, region

    def __call__(self, operation: str, body: dict | None = None) -> Answer:
        ctx = RequestContext(principal=self.principal, region=self.region)
        resp = dispatch(self.engine, "secretsmanager", {"X-Amz-Target": f"secretsmanager.{operation}"},
                        json.dumps(body or {}).encode(), ctx)
        return Answer(resp.status, json.loads(resp.body or b"{}"), dict(resp.headers))

    def as_(self, principal: Principal) -> "InProcess":
        return InProcess(self.engine, principal, self.region)


def token() -> str:
    return str(uuid.uuid4())


def assert_error(answer: Answer, code: str, message: str | None = None, status: int = 400) -> None:
    assert (answer.status, answer.code) == (status, code), answer.body
    if message is not None:
        assert answer.message == message, answer.body
