"""The AWS Query protocol, as STS speaks it: form (or query-string) parameters in, XML out.

Parameters are read from botocore's STS model (lists as `Name.member.N`, maps as
`Name.entry.N.key/value`, nested structures as `Name.Member`), results are written as
`<OpResponse><OpResult>...</OpResult><ResponseMetadata>` and errors as `<ErrorResponse>` with the
Query-protocol error codes, which differ from the JSON services' for the same failure
(`InvalidClientTokenId` where KMS says `UnrecognizedClientException`).
"""
from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Mapping
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import OperationModel, Shape

from keyplane.engine.errors import AwsError, ValidationException

STS_VERSION = "2011-06-15"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
FORM_TYPE = "application/x-www-form-urlencoded"
XML_TYPE = "text/xml"

# The JSON services' auth and protocol codes, as the Query protocol names them (code, status, message)
_QUERY_CODES = {
    "UnrecognizedClientException": ("InvalidClientTokenId", 403, None),
    "InvalidSignatureException": ("SignatureDoesNotMatch", 403, None),
    "IncompleteSignatureException": ("IncompleteSignature", 400, None),
    "MissingAuthenticationTokenException": ("MissingAuthenticationToken", 403,
                                            "Request is missing Authentication Token"),
    "ExpiredTokenException": ("ExpiredToken", 400, None),
    "AccessDeniedException": ("AccessDenied", 403, None),
    "ValidationException": ("ValidationError", 400, None),
    "SerializationException": ("MalformedQueryString", 400, None),
    "UnknownOperationException": ("InvalidAction", 400, None),
    "ThrottlingException": ("Throttling", 400, None),
}


def form_params(method: str, query_string: str, content_type: str | None, body: bytes) -> dict[str, str]:
    """The flat Query parameters: the query string, plus a form body on POST. A percent-escape
    that is not UTF-8 (%FF, or %ED%A0%80: a surrogate, which UTF-8 may not encode) is refused as
    the JSON services refuse such a body; parse_qsl's default turned it into U+FFFD and went on."""
    try:
        params = dict(parse_qsl(query_string or "", keep_blank_values=True, errors="strict"))
        if body and (content_type or FORM_TYPE).split(";")[0].strip().lower() == FORM_TYPE:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                                    errors="strict"))
    except UnicodeDecodeError:
        raise AwsError("The request is not valid UTF-8.", code="SerializationException") from None
    return {k: v for k, v in params.items() if not k.startswith("X-Amz-")}


# ---- parameters -> input dict ------------------------------------------------------------------

def parse_input(shape: Shape | None, flat: Mapping[str, str]) -> dict:
    """The flat parameters as the JSON-shaped dict the model layer validates (blobs stay base64)."""
    if shape is None:
        return {}
    return _structure(shape, flat, "") or {}


def _structure(shape, flat, prefix):
    out = {}
    for name, member in shape.members.items():
        key = prefix + member.serialization.get("name", name)
        value = _value(member, flat, key)
        if value is not None:
            out[name] = value
    return out


def _value(shape, flat, key):
    t = shape.type_name
    if t == "structure":
        if not any(k.startswith(key + ".") for k in flat):
            return None
        return _structure(shape, flat, key + ".")
    if t == "list":
        base = key if shape.serialization.get("flattened") else key + "." + shape.member.serialization.get("name", "member")
        items, i = [], 1
        if key in flat and flat[key] == "":
            return []  # `Name=` is how the Query protocol sends an empty list
        while True:
            item_key = f"{base}.{i}"
            if item_key not in flat and not any(k.startswith(item_key + ".") for k in flat):
                break
            items.append(_value(shape.member, flat, item_key))
            i += 1
        return items if items else None
    if t == "map":
        base = key if shape.serialization.get("flattened") else key + ".entry"
        out, i = {}, 1
        while f"{base}.{i}.key" in flat:
            out[flat[f"{base}.{i}.key"]] = _value(shape.value, flat, f"{base}.{i}.value")
            i += 1
        return out or None
    if key not in flat:
        return None
    raw = flat[key]
    try:
        if t in ("integer", "long"):
            return int(raw)
        if t in ("float", "double"):
            return float(raw)
        if t == "boolean":
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
        if t == "timestamp":
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValidationException(
            f"1 validation error detected: Value '{raw}' at '{_camel(key)}' failed to satisfy constraint: "
            f"Member must be a valid {t}") from None
    return raw


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


# ---- output dict -> XML ------------------------------------------------------------------------

def _scalar(shape, value) -> str:
    t = shape.type_name
    if t == "boolean":
        return "true" if value else "false"
    if t == "timestamp":
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(value, timezone.utc)
        value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond // 1000:03d}Z" if value.microsecond else "Z")
    if t == "blob":
        return base64.b64encode(value).decode()
    return escape(str(value))


def _xml(shape, value, out: list) -> None:
    t = shape.type_name
    if t == "structure":
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                tag = member.serialization.get("name", name)
                if member.type_name == "list" and member.serialization.get("flattened"):
                    _xml(member, value[name], out)  # flattened lists repeat the member tag
                    continue
                out.append(f"<{tag}>")
                _xml(member, value[name], out)
                out.append(f"</{tag}>")
    elif t == "list":
        tag = shape.member.serialization.get("name", "member")
        for item in value:
            out.append(f"<{tag}>")
            _xml(shape.member, item, out)
            out.append(f"</{tag}>")
    elif t == "map":
        for k, v in value.items():
            out.append(f"<entry><key>{escape(str(k))}</key><value>")
            _xml(shape.value, v, out)
            out.append("</value></entry>")
    else:
        out.append(_scalar(shape, value))


def response_xml(op: OperationModel, result: dict, request_id: str, namespace: str = STS_NAMESPACE) -> bytes:
    name = op.name
    out = [f'<{name}Response xmlns="{namespace}">']
    if op.output_shape is not None:
        out.append(f"<{name}Result>")
        _xml(op.output_shape, result or {}, out)
        out.append(f"</{name}Result>")
    out.append(f"<ResponseMetadata><RequestId>{escape(request_id)}</RequestId></ResponseMetadata>")
    out.append(f"</{name}Response>")
    return "".join(out).encode()


def error_xml(err: AwsError, request_id: str, namespace: str = STS_NAMESPACE) -> tuple[int, bytes]:
    """(HTTP status, body) of an `<ErrorResponse>`, with the Query protocol's code for the error."""
    code, status, message = _QUERY_CODES.get(err.code, (err.code, err.status, None))
    message = message or err.message
    kind = "Receiver" if status >= 500 else "Sender"
    body = (f'<ErrorResponse xmlns="{namespace}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error><RequestId>{escape(request_id)}</RequestId>"
            f"</ErrorResponse>")
    return status, body.encode()


def unknown_action(action: str | None) -> AwsError:
    if not action:
        return AwsError("Missing required parameter: Action", code="MissingAction")
    return AwsError(f"Could not find operation {action} for version {STS_VERSION}", code="InvalidAction")
