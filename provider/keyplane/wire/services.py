"""Which AWS service a request is for, and the one answer for a service keyplane does not serve.

A client pointed at keyplane for S3, IAM, Lambda, SQS... signs for that service. Rather than let
such a request fail SigV4 with "Credential should be scoped to correct service" (true, and no help),
keyplane names the service and what it serves, before authentication, in the error form the
client's own SDK parses (its botocore model's protocol), so the message reaches the user:
HTTP 400, code `UnsupportedServiceException` (the caller's mistake, not a keyplane fault, and no
SDK retries a 400).
"""
from __future__ import annotations

import functools
import json
import re
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from ..engine.apimodel import botocore_session
from ..engine.errors import AwsError
from .protocol import Response

# signing name -> what a user calls it
SERVED = {"kms": "AWS Key Management Service", "ssm": "AWS Systems Manager Parameter Store",
          "secretsmanager": "AWS Secrets Manager", "sts": "AWS Security Token Service"}
UNSUPPORTED_SERVICE = "UnsupportedServiceException"
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


def signing_service(headers, query_string: str) -> str | None:
    """The service named in the request's SigV4 credential scope, if it has one."""
    credential = None
    auth = headers.first("authorization")
    if auth:
        m = _CREDENTIAL.search(auth)
        credential = m.group(1) if m else None
    elif query_string and "X-Amz-Credential" in query_string:
        credential = dict(parse_qsl(query_string)).get("X-Amz-Credential")
    if not credential:
        return None
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 else None


def unsupported(service: str) -> AwsError:
    served = ", ".join(f"{name} ({code})" for code, name in SERVED.items())
    full = _model_info(service)[1] if _NAME.fullmatch(service) else None
    named = f"{full} ({service})" if full else f"'{service[:64]}'"
    return AwsError(f"keyplane does not serve {named}. This endpoint serves {served}.", code=UNSUPPORTED_SERVICE)


def error_response(service: str, err: AwsError, request_id: str) -> Response:
    """`err` in the protocol a client of `service` expects."""
    protocol = _model_info(service)[0] if _NAME.fullmatch(service) else "json"
    code, message, rid = escape(err.code), escape(err.message), escape(request_id)
    if protocol == "rest-xml":
        body = f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{rid}</RequestId></Error>"
        return Response(err.status, body.encode(), {"Content-Type": "application/xml"})
    if protocol == "ec2":
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{rid}</RequestID></Response>")
        return Response(err.status, body.encode(), {"Content-Type": "text/xml"})
    if protocol == "query":
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message>"
                f"</Error><RequestId>{rid}</RequestId></ErrorResponse>")
        return Response(err.status, body.encode(), {"Content-Type": "text/xml"})
    content_type = "application/json" if protocol == "rest-json" else "application/x-amz-json-1.1"
    body = json.dumps({"__type": err.code, "message": err.message}).encode()
    return Response(err.status, body, {"Content-Type": content_type, "x-amzn-ErrorType": err.code})


@functools.lru_cache(maxsize=128)
def _model_info(service: str) -> tuple[str, str | None]:
    """(protocol, full name) from botocore's model of `service`; JSON when botocore has none."""
    try:
        model = botocore_session().get_service_model(service)
    except Exception:  # noqa: BLE001 - any failure means botocore does not know the name
        return "json", None
    return model.protocol, model.metadata.get("serviceFullName")
