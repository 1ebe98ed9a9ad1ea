"""What every rotator is: the interface the rotation run calls, the error a failed step raises,
and the Lambda-style context a rotator reaches Secrets Manager through."""
from __future__ import annotations


class RotatorError(Exception):
    """A step failed; the message is what the failure record says (never a secret value)."""


class LambdaContext:
    """What a Lambda handler gets as `context`, plus a way to reach Secrets Manager."""

    def __init__(self, engine, ctx):
        self._engine, self._ctx = engine, ctx
        self.function_name = "keyplane-rotator"
        self.aws_request_id = ctx.request_id

    def client(self, service: str = "secretsmanager"):
        from keyplane.connection import Connection
        return Connection(self._engine, principal=self._ctx.principal, region=self._ctx.region).client(service)


class Rotator:
    def invoke(self, engine, ctx, event: dict) -> None:
        raise NotImplementedError

    def rollback(self, engine, ctx, event: dict) -> None:
        """Undo a completed setSecret after a later step failed (only if the rotator can)."""

    def close(self) -> None:
        pass
