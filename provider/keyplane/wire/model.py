"""Model-driven (de)serialisation and validation of AWS JSON 1.1 bodies.

Everything here is derived from botocore's shapes: types, required members, enums, lengths,
ranges and patterns. Type mismatches are SerializationExceptions; constraint violations are
collected and reported together as one ValidationException in AWS's wording, before any business
logic runs. A sensitive member's value is never shown ("Value at 'plaintext' ..."); a blob is
shown as AWS's Java front end prints one, by its length only.
"""
from __future__ import annotations

import base64
import binascii
import functools
import json
import math
from datetime import datetime, timezone

import regex
from botocore.model import Shape

from ..engine.apimodel import lower_camel
from ..engine.errors import (HIDDEN, SerializationException, ValidationException, constraint_problem,
                             validation_message)

_JSON_TYPES = {dict: "START_OBJECT", list: "START_ARRAY", str: "VALUE_STRING", bool: "VALUE_BOOLEAN",
               int: "NUMBER_VALUE", float: "NUMBER_VALUE", type(None): "VALUE_NULL"}
_SHAPE_NAMES = {"string": "String", "integer": "Integer", "long": "Long", "boolean": "Boolean",
                "blob": "ByteBuffer", "timestamp": "Date", "structure": "Structure", "list": "List",
                "map": "Map", "double": "Double", "float": "Float"}


@functools.lru_cache(maxsize=4096)
def _pattern(p: str):
    try:
        return regex.compile(p)
    except regex.error:
        return None


def _type_error(value, shape: Shape) -> SerializationException:
    found = _JSON_TYPES.get(type(value), "VALUE")
    return SerializationException(f"{found} can not be converted to a {_SHAPE_NAMES.get(shape.type_name, shape.type_name)}")


def deserialize(shape: Shape, value, path: str, problems: list[str]):
    """JSON value -> Python value for `shape`, appending constraint problems to `problems`."""
    t = shape.type_name
    if value is None:
        return None
    if t == "structure":
        if not isinstance(value, dict):
            raise _type_error(value, shape)
        out = {}
        for name in shape.required_members:
            if value.get(name) is None:
                missing = HIDDEN if _sensitive(shape.members[name]) else None
                problems.append(constraint_problem(missing, _join(path, lower_camel(name)), "Member must not be null"))
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                out[name] = deserialize(member, value[name], _join(path, lower_camel(name)), problems)
        return out
    if t == "list":
        if not isinstance(value, list):
            raise _type_error(value, shape)
        _check_length(shape, value, len(value), path, problems)
        items = []
        for i, v in enumerate(value):
            where = f"{path}.{i + 1}.member"
            if v is None:  # a list never holds nulls: the engine must not see one
                problems.append(constraint_problem(None, where, "Member must not be null"))
            else:
                items.append(deserialize(shape.member, v, where, problems))
        return items
    if t == "map":
        if not isinstance(value, dict):
            raise _type_error(value, shape)
        _check_length(shape, value, len(value), path, problems)
        out = {}
        for k, v in value.items():
            key = deserialize(shape.key, k, f"{path}.key", problems)
            out[key] = deserialize(shape.value, v, f"{path}.{k}", problems) if v is not None else v
            if v is None:
                problems.append(constraint_problem(None, f"{path}.{k}", "Member must not be null"))
        return out
    if t == "string":
        if not isinstance(value, str):
            raise _type_error(value, shape)
        _check_length(shape, value, len(value), path, problems)
        enum = shape.enum
        if enum and value not in enum:
            problems.append(constraint_problem(_shown(shape, value), path,
                                               f"Member must satisfy enum value set: [{', '.join(enum)}]"))
        p = shape.metadata.get("pattern")
        if p and value:
            rx = _pattern(p)
            if rx is not None and rx.search(value) is None:  # Smithy patterns are not anchored
                problems.append(constraint_problem(_shown(shape, value), path,
                                                   f"Member must satisfy regular expression pattern: {p}"))
        return value
    if t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _type_error(value, shape)
        if not _INT_RANGES[t][0] <= value <= _INT_RANGES[t][1]:   # a Java int or long, as AWS's
            raise _type_error(value, shape)
        _check_range(shape, value, path, problems)
        return value
    if t in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _type_error(value, shape)
        _check_range(shape, value, path, problems)
        return float(value)
    if t == "boolean":
        if not isinstance(value, bool):
            raise _type_error(value, shape)
        return value
    if t == "blob":
        if not isinstance(value, str):
            raise _type_error(value, shape)
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise SerializationException("Base64 encoded value is not valid.") from None
        _check_length(shape, _byte_buffer(len(raw)), len(raw), path, problems)
        return raw
    if t == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _type_error(value, shape)
        return _timestamp(value)
    return value


_INT_RANGES = {"integer": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}
# instants the engine can compute with (add windows and periods to) without overflowing
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)


def _timestamp(value) -> datetime:
    try:
        if isinstance(value, str):
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
        else:
            when = datetime.fromtimestamp(value, timezone.utc)
        if _EARLIEST <= when < _LATEST:
            return when
    except (ValueError, OverflowError, OSError):
        pass
    raise SerializationException(f"Unable to parse date '{str(value)[:64]}'")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _sensitive(shape: Shape) -> bool:
    return bool(shape.metadata.get("sensitive"))


def _shown(shape: Shape, value):
    return HIDDEN if _sensitive(shape) else value


def _byte_buffer(n: int) -> str:
    # how AWS's front end prints a blob it refuses, e.g. Rekognition's "Value
    # 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'image.bytes' ..."
    return f"java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]"


def _check_length(shape: Shape, value, n: int, path: str, problems: list[str]) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    shown = HIDDEN if _sensitive(shape) else _display(value)
    if lo is not None and n < lo:
        problems.append(constraint_problem(shown, path, f"Member must have length greater than or equal to {lo}"))
    if hi is not None and n > hi:
        problems.append(constraint_problem(shown, path, f"Member must have length less than or equal to {hi}"))


def _check_range(shape: Shape, value, path: str, problems: list[str]) -> None:
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    shown = HIDDEN if _sensitive(shape) else value
    if lo is not None and value < lo:
        problems.append(constraint_problem(shown, path, f"Member must have value greater than or equal to {lo}"))
    if hi is not None and value > hi:
        problems.append(constraint_problem(shown, path, f"Member must have value less than or equal to {hi}"))


def _display(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return value


_NOT_A_STRUCTURE = "Start of structure or map found where not expected."
# JSON escapes of UTF-16 surrogates: only bodies holding one need the full check below
_SURROGATE_ESCAPE = regex.compile(rb"\\u[dD][89a-fA-F]")


def _no_constants(name: str):
    raise ValueError(name)


def parse_json(body: bytes | None) -> dict:
    """The request body as a JSON object, or SerializationException: malformed JSON, nesting
    deeper than the parser goes, NaN/Infinity (not JSON), and strings holding a lone UTF-16
    surrogate (no UTF-8 form: it could reach neither the store nor a cipher nor the audit trail)."""
    try:
        raw = json.loads(body or b"{}", parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SerializationException(_NOT_A_STRUCTURE) from None
    if not isinstance(raw, dict):
        raise SerializationException(_NOT_A_STRUCTURE)
    if body and b"\\u" in body and _SURROGATE_ESCAPE.search(body):   # most bodies hold no \u escape at all
        try:
            json.dumps(raw, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise SerializationException("Invalid UTF-16 surrogate in a string value.") from None
    return raw


def parse_input(shape: Shape | None, body: dict) -> dict:
    """Validate and deserialise a request body for an operation's input shape."""
    if shape is None:
        return {}
    problems: list[str] = []
    params = deserialize(shape, body, "", problems)
    if problems:
        raise ValidationException(validation_message(problems))
    return params


def serialize(shape: Shape | None, value):
    """Python value -> JSON-ready value for `shape` (blobs base64, timestamps epoch seconds)."""
    if shape is None or value is None:
        return None
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, member in shape.members.items():
            v = value.get(name)
            if v is not None:
                out[name] = serialize(member, v)
        return out
    if t == "list":
        return [serialize(shape.member, v) for v in value]
    if t == "map":
        return {k: serialize(shape.value, v) for k, v in value.items()}
    if t == "blob":
        return base64.b64encode(value).decode()
    if t == "timestamp":
        if isinstance(value, datetime):
            return round(value.timestamp(), 3)
        return value
    return value
