"""The wire: AWS protocols in and out of the engine (JSON 1.1 now; the Query protocol for STS).

`dispatch` is what both the HTTP server and in-process clients call once the caller is known.
"""
from __future__ import annotations

from . import services
from .protocol import Response, handle_json

# service -> handler(engine, headers, body, ctx) for services that are not AWS JSON 1.1 (STS)
OTHER_PROTOCOLS: dict = {}


def dispatch(engine, service: str, headers: dict, body: bytes, ctx) -> Response:
    handler = OTHER_PROTOCOLS.get(service)
    if handler is not None:
        return handler(engine, headers, body, ctx)
    if service not in services.SERVED:
        return services.error_response(service, services.unsupported(service), ctx.request_id)
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    return handle_json(engine, target=target, body=body, ctx=ctx)
