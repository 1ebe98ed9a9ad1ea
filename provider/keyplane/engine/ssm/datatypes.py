"""A parameter's DataType: the values each accepts.

The data types are the ones PutParameter's reference lists; "for most data types, Parameter Store
validates the value during the PutParameter operation and rejects values that don't conform", a
StringList item by item, and aws:ec2:image is validated after the answer
(https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html).
AWS does not publish each type's exact rule nor the wording of a refusal: the checks below are
keyplane's reading of each type's name (a JSON document, an IP address, a Region botocore knows...).
"""
from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from urllib.parse import urlsplit

from . import public

AMI_ID = re.compile(r"^ami-[0-9a-f]{8}([0-9a-f]{9})?$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_INTEGER = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# JSON with // and /* */ comments (outside strings): the strings are kept, the comments dropped
_JSONC_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)


def _hostname(v: str) -> bool:
    name = v[:-1] if v.endswith(".") else v
    return 0 < len(name) <= 253 and all(_HOST_LABEL.match(label) for label in name.split("."))


def _ip(version: int):
    def check(v: str) -> bool:
        try:
            return ipaddress.ip_address(v).version == version
        except ValueError:
            return False
    return check


def _json(v: str) -> bool:
    try:
        json.loads(v)
        return True
    except ValueError:
        return False


def _jsonc(v: str) -> bool:
    return _json(_JSONC_TOKENS.sub(lambda m: m.group(0) if m.group(0).startswith('"') else " ", v))


def _binary(v: str) -> bool:
    try:
        base64.b64decode(v, validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def _url(v: str) -> bool:
    try:
        parts = urlsplit(v)
    except ValueError:          # e.g. an unclosed "[" of an IPv6 host
        return False
    return bool(parts.scheme and parts.netloc) and " " not in v


# data type -> fn(item) -> whether the item conforms (None: checked after the answer, or not at all)
CHECKS = {
    "text": None,
    "aws:ec2:image": None,             # asynchronous: parameters.put_parameter
    "aws:ssm:integration": None,
    "aws:region": lambda v: v in public.regions(),
    "aws:account:id": lambda v: bool(re.fullmatch(r"[0-9]{12}", v)),
    "boolean": lambda v: v.lower() in ("true", "false"),
    "integer": lambda v: bool(_INTEGER.match(v)),
    "float": lambda v: bool(_FLOAT.match(v)),
    "binary": _binary,
    "hostname": _hostname,
    "email": lambda v: bool(_EMAIL.match(v)),
    "ipv4-address": _ip(4),
    "ipv6-address": _ip(6),
    "url": _url,
    "json": _json,
    "jsonc": _jsonc,
}
# a parameter can't be changed to or from these data types
FIXED = frozenset({"aws:ec2:image", "aws:ssm:integration"})


def nonconforming(data_type: str, type_: str, value: str) -> str | None:
    """The first item of `value` (each item of a StringList) that `data_type` refuses, or None."""
    check = CHECKS[data_type]
    if check is None:
        return None
    items = value.split(",") if type_ == "StringList" else [value]
    return next((item for item in items if not check(item)), None)
