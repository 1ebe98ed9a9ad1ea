"""Model-driven (de)serialisation and validation of AWS JSON 1.1 bodies.

Everything here is derived from botocore's shapes: types, required members, enums, lengths,
ranges and patterns. Type mismatches are SerializationExceptions; constraint violations are
collected and reported together as one ValidationException in AWS's wording, before any business
logic runs. A sensitive member's value is never shown ("Value at 'plaintext' ..."); a blob is
shown as AWS's Java front end prints one, by its length only.

Each shape is compiled, on first use, into one function that checks and converts values of that
shape (`decoder`, `encoder`), with its constraints read from the model once; a call runs those
functions rather than walking botocore's shape objects.
"""
from __future__ import annotations

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
    """A model's pattern as AWS's services apply it: to the whole value (Java's Matcher.matches,
    so '[\\w+=,.@-]*' refuses 'a:b'), with Java's ASCII \\w, \\d and \\s; \\p{L} stays Unicode."""
    try:
        return regex.compile(p, regex.ASCII)
    except regex.error:
        return None


def _type_error(value, shape: Shape) -> SerializationException:
    found = _JSON_TYPES.get(type(value), "VALUE")
    return SerializationException(f"{found} can not be converted to a {_SHAPE_NAMES.get(shape.type_name, shape.type_name)}")


def deserialize(shape: Shape, value, path: str, problems: list[str]):
    """JSON value -> Python value for `shape`, appending constraint problems to `problems`."""
    return decoder(shape)(value, path, problems)


# Each shape is compiled once into a function that checks and converts a value of that shape (its
# constraints read from botocore's model up front), instead of walking the model on every call.
# Compiled functions are kept per Shape object: a service model's shapes live as long as the
# process (apimodel caches the models), so this grows with the shapes requests reach, no further.
_DECODERS: dict = {}


def decoder(shape: Shape):
    """The compiled check-and-convert function of `shape`: (value, path, problems) -> value."""
    fn = _DECODERS.get(shape)
    if fn is None:
        fn = _DECODERS[shape] = _compile_decoder(shape)
    return fn


def _compile_decoder(shape: Shape):
    t = shape.type_name
    if t == "structure":
        return _structure_decoder(shape)
    if t == "list":
        return _list_decoder(shape)
    if t == "map":
        return _map_decoder(shape)
    if t == "string":
        return _string_decoder(shape)
    if t in ("integer", "long"):
        return _integer_decoder(shape)
    if t in ("double", "float"):
        return _float_decoder(shape)
    if t == "boolean":
        return _boolean_decoder(shape)
    if t == "blob":
        return _blob_decoder(shape)
    if t == "timestamp":
        return _timestamp_decoder(shape)
    return lambda value, path, problems: value


def _structure_decoder(shape: Shape):
    plan = None     # built on first use: members may refer back to this shape (SSM's aggregators)

    def build():
        nonlocal plan
        members = shape.members
        required = [(name, lower_camel(name), HIDDEN if _sensitive(members[name]) else None)
                    for name in shape.required_members]
        plan = (required, [(name, lower_camel(name), decoder(member)) for name, member in members.items()])
        return plan

    def decode(value, path, problems):
        if value is None:
            return None
        if type(value) is not dict and not isinstance(value, dict):
            raise _type_error(value, shape)
        required, members = plan or build()
        get = value.get
        for name, camel, shown in required:
            if get(name) is None:
                problems.append(constraint_problem(shown, f"{path}.{camel}" if path else camel,
                                                   "Member must not be null"))
        out = {}
        for name, camel, member in members:
            v = get(name)
            if v is not None:
                out[name] = member(v, f"{path}.{camel}" if path else camel, problems)
        return out
    return decode


def _list_decoder(shape: Shape):
    length = _length_check(shape)
    item = None

    def decode(value, path, problems):
        nonlocal item
        if value is None:
            return None
        if not isinstance(value, list):
            raise _type_error(value, shape)
        if length is not None:
            length(value, len(value), path, problems)
        if item is None:
            item = decoder(shape.member)
        items = []
        for i, v in enumerate(value):
            where = f"{path}.{i + 1}.member"
            if v is None:  # a list never holds nulls: the engine must not see one
                problems.append(constraint_problem(None, where, "Member must not be null"))
            else:
                items.append(item(v, where, problems))
        return items
    return decode


def _map_decoder(shape: Shape):
    length = _length_check(shape)
    parts = None

    def decode(value, path, problems):
        nonlocal parts
        if value is None:
            return None
        if not isinstance(value, dict):
            raise _type_error(value, shape)
        if length is not None:
            length(value, len(value), path, problems)
        if parts is None:
            parts = (decoder(shape.key), decoder(shape.value))
        key_of, value_of = parts
        out = {}
        for k, v in value.items():
            key = key_of(k, f"{path}.key", problems)
            out[key] = value_of(v, f"{path}.{k}", problems) if v is not None else v
            if v is None:
                problems.append(constraint_problem(None, f"{path}.{k}", "Member must not be null"))
        return out
    return decode


def _string_decoder(shape: Shape):
    length = _length_check(shape)
    enum = shape.enum
    allowed = frozenset(enum) if enum else None
    enum_problem = f"Member must satisfy enum value set: [{', '.join(enum)}]" if enum else None
    p = shape.metadata.get("pattern")
    rx = _pattern(p) if p else None
    pattern_problem = f"Member must satisfy regular expression pattern: {p}"
    sensitive = _sensitive(shape)

    def decode(value, path, problems):
        if value is None:
            return None
        if type(value) is not str and not isinstance(value, str):
            raise _type_error(value, shape)
        if length is not None:
            length(value, len(value), path, problems)
        if allowed is not None and value not in allowed:
            problems.append(constraint_problem(HIDDEN if sensitive else value, path, enum_problem))
        if rx is not None and value and rx.fullmatch(value) is None:
            problems.append(constraint_problem(HIDDEN if sensitive else value, path, pattern_problem))
        return value
    return decode


def _integer_decoder(shape: Shape):
    lowest, highest = _INT_RANGES[shape.type_name]
    in_range = _range_check(shape)

    def decode(value, path, problems):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise _type_error(value, shape)
        if not lowest <= value <= highest:   # a Java int or long, as AWS's
            raise _type_error(value, shape)
        if in_range is not None:
            in_range(value, path, problems)
        return value
    return decode


def _float_decoder(shape: Shape):
    in_range = _range_check(shape)

    def decode(value, path, problems):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _type_error(value, shape)
        if in_range is not None:
            in_range(value, path, problems)
        return float(value)
    return decode


def _boolean_decoder(shape: Shape):
    def decode(value, path, problems):
        if value is None:
            return None
        if not isinstance(value, bool):
            raise _type_error(value, shape)
        return value
    return decode


def _blob_decoder(shape: Shape):
    length = _length_check(shape)
    lo, hi = shape.metadata.get("min", 0), shape.metadata.get("max", math.inf)

    def decode(value, path, problems):
        if value is None:
            return None
        if not isinstance(value, str):
            raise _type_error(value, shape)
        try:   # base64.b64decode(value, validate=True), without its argument checks
            raw = binascii.a2b_base64(value.encode("ascii"), strict_mode=True)
        except (binascii.Error, ValueError):
            raise SerializationException("Base64 encoded value is not valid.") from None
        n = len(raw)
        if length is not None and not lo <= n <= hi:
            length(_byte_buffer(n), n, path, problems)
        return raw
    return decode


def _timestamp_decoder(shape: Shape):
    def decode(value, path, problems):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _type_error(value, shape)
        return _timestamp(value)
    return decode


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


def _sensitive(shape: Shape) -> bool:
    return bool(shape.metadata.get("sensitive"))


def _byte_buffer(n: int) -> str:
    # how AWS's front end prints a blob it refuses, e.g. Rekognition's "Value
    # 'java.nio.HeapByteBuffer[pos=0 lim=0 cap=0]' at 'image.bytes' ..."
    return f"java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]"


def _length_check(shape: Shape):
    """The shape's length constraint as a function (value, n, path, problems), or None if it has none."""
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is None and hi is None:
        return None
    sensitive = _sensitive(shape)

    def check(value, n: int, path: str, problems: list[str]) -> None:
        if lo is not None and n < lo:
            problems.append(constraint_problem(HIDDEN if sensitive else _display(value), path,
                                               f"Member must have length greater than or equal to {lo}"))
        if hi is not None and n > hi:
            problems.append(constraint_problem(HIDDEN if sensitive else _display(value), path,
                                               f"Member must have length less than or equal to {hi}"))
    return check


def _range_check(shape: Shape):
    """The shape's range constraint as a function (value, path, problems), or None if it has none."""
    lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
    if lo is None and hi is None:
        return None
    sensitive = _sensitive(shape)

    def check(value, path: str, problems: list[str]) -> None:
        if lo is not None and value < lo:
            problems.append(constraint_problem(HIDDEN if sensitive else value, path,
                                               f"Member must have value greater than or equal to {lo}"))
        if hi is not None and value > hi:
            problems.append(constraint_problem(HIDDEN if sensitive else value, path,
                                               f"Member must have value less than or equal to {hi}"))
    return check


def _display(value):
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    return value


_NOT_A_STRUCTURE = "Start of structure or map found where not expected."
# JSON escapes of UTF-16 surrogates: only bodies holding one need the full check below
_SURROGATE_ESCAPE = regex.compile(rb"\\u[dD][89a-fA-F]")
# ... and surrogates written as UTF-8 bytes, which UTF-8 forbids (RFC 3629 section 3) but the
# decoder's surrogatepass lets through
_RAW_SURROGATE = regex.compile(rb"\xed[\xa0-\xbf]")


def _no_constants(name: str):
    raise ValueError(name)


_JSON = json.JSONDecoder(parse_constant=_no_constants)
_JSON_SPACE = json.decoder.WHITESPACE.match


def parse_json(body: bytes | None) -> dict:
    """The request body as a JSON object, or SerializationException: malformed JSON, nesting
    deeper than the parser goes, NaN/Infinity (not JSON), and strings holding a lone UTF-16
    surrogate (no UTF-8 form: it could reach neither the store nor a cipher nor the audit trail)."""
    try:
        body = body or b"{}"
        # json.loads(body, parse_constant=...), without a new decoder per call, and for a body
        # that opens with "{" (what a client sends) without the encoding and whitespace probes
        # that cannot change its reading: detect_encoding calls it UTF-8, no whitespace leads
        utf8 = body[:1] == b"{" and body[1:2] != b"\x00"
        if utf8:
            text = body.decode("utf-8", "surrogatepass")
            raw, end = _JSON.raw_decode(text)
            if end != len(text) and _JSON_SPACE(text, end).end() != len(text):
                raise ValueError("Extra data")
        else:
            raw = _JSON.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SerializationException(_NOT_A_STRUCTURE) from None
    if not isinstance(raw, dict):
        raise SerializationException(_NOT_A_STRUCTURE)
    if not utf8 or (b"\\u" in body and _SURROGATE_ESCAPE.search(body)) or (
            b"\xed" in body and _RAW_SURROGATE.search(body)):   # most bodies hold neither
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
    return encoder(shape)(value)


_ENCODERS: dict = {}
_AS_IS = ("string", "integer", "long", "boolean", "double", "float")


def encoder(shape: Shape):
    """The compiled Python -> JSON-ready function of `shape` (value never None)."""
    fn = _ENCODERS.get(shape)
    if fn is None:
        fn = _ENCODERS[shape] = _compile_encoder(shape)
    return fn


def _as_is(value):
    return value


def _compile_encoder(shape: Shape):
    t = shape.type_name
    if t == "structure":
        plan = None     # built on first use, as for decoders

        def structure(value):
            nonlocal plan
            if plan is None:
                plan = [(name, None if member.type_name in _AS_IS else encoder(member))
                        for name, member in shape.members.items()]
            out = {}
            get = value.get
            for name, member in plan:
                v = get(name)
                if v is not None:
                    out[name] = v if member is None else member(v)
            return out
        return structure
    if t == "list":
        return lambda value: [serialize(shape.member, v) for v in value]
    if t == "map":
        return lambda value: {k: serialize(shape.value, v) for k, v in value.items()}
    if t == "blob":
        return lambda value: binascii.b2a_base64(value, newline=False).decode()   # base64.b64encode
    if t == "timestamp":
        return lambda value: round(value.timestamp(), 3) if isinstance(value, datetime) else value
    return _as_is
