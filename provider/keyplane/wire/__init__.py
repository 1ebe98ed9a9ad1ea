"""The wire: AWS protocols in and out of the engine (JSON 1.1; the Query protocol for STS is
served over HTTP only, by server.py with wire/query.py).

`dispatch` is what in-process clients call once the caller is known; the HTTP server calls
`handle_json` itself after SigV4.
"""
from __future__ import annotations

from . import services
from .protocol import Response, handle_json


def dispatch(engine, service: str, headers: dict, body: bytes, ctx) -> Response:
    if service not in services.SERVED:
        return services.error_response(service, services.unsupported(service), ctx.request_id)
    target = headers.get("X-Amz-Target") or headers.get("x-amz-target")
    return handle_json(engine, target=target, body=body, ctx=ctx)
