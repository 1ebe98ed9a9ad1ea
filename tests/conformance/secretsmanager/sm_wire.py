"""Raw wire calls to Secrets Manager: a JSON body in, (status, parsed body, headers) out, through the
same AWS JSON 1.1 handler the HTTP server runs after SigV4 — no SDK in between, so a test sees
exactly what a raw HTTP client sees (no ClientRequestToken filled in, no message member invented).
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


class Wire:
    """Secrets Manager as a raw HTTP client sees it, for one caller in one Region."""

    def __init__(self, engine, principal: Principal, region: str = "us-east-1"):
        self.engine, self.principal, self.region = engine, principal, region

    def __call__(self, operation: str, body: dict | None = None, raw: bytes | None = None) -> Answer:
        ctx = RequestContext(principal=self.principal, region=self.region)
        data = raw if raw is not None else json.dumps(body or {}).encode()
        resp = dispatch(self.engine, "secretsmanager", {"X-Amz-Target": f"secretsmanager.{operation}"},
                        data, ctx)
        return Answer(resp.status, json.loads(resp.body or b"{}"), dict(resp.headers))

    def ok(self, operation: str, body: dict | None = None) -> dict:
        answer = self(operation, body)
        assert answer.status == 200, (operation, answer.status, answer.body)
        return answer.body

    def as_(self, principal: Principal) -> "Wire":
        return Wire(self.engine, principal, self.region)

    def create(self, name: str, value: str | None = "v1", **extra) -> dict:
        body = {"Name": name, "ClientRequestToken": token(), **extra}
        if value is not None:
            body["SecretString"] = value
        return self.ok("CreateSecret", body)


def token() -> str:
    return str(uuid.uuid4())


def assert_error(answer: Answer, code: str, message: str | None = None, status: int = 400) -> None:
    assert (answer.status, answer.code) == (status, code), answer.body
    if message is not None:
        assert answer.message == message, answer.body
