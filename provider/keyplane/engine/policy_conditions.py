"""The Condition element: each operator (String*, Numeric*, Date*, Bool, BinaryEquals, IpAddress,
Arn*, Null, with IfExists and the ForAllValues/ForAnyValue set qualifiers) compiled once to a
closure, and a fast path for the common case of a plain value already in the request."""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Callable

from keyplane.engine.policy_match import (
    as_epoch, as_number, as_str, expand, has_variables, wildcard, wildcard_alternatives, wildcard_regex,
)
from keyplane.engine.policy_request import AuthzRequest


# ---- operators -----------------------------------------------------------------------------

def _string_matchers(values: list[str], base: str) -> Callable[[Any], bool]:
    if base == "StringEquals":
        wanted = frozenset(values)
        return lambda v: as_str(v) in wanted
    if base == "StringEqualsIgnoreCase":
        folded = frozenset(x.lower() for x in values)
        return lambda v: as_str(v).lower() in folded
    # StringLike
    rx = re.compile(wildcard_alternatives(values), re.DOTALL)
    return lambda v: rx.fullmatch(as_str(v)) is not None


def _arn_parts_matcher(pattern: str) -> Callable[[str], bool]:
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return lambda s: False
    preds = [wildcard(x) for x in parts]

    def match(s: str) -> bool:
        got = s.split(":", 5)
        return len(got) == 6 and all(p(g) for p, g in zip(preds, got))
    return match


_NUMERIC = {"NumericEquals": lambda a, b: a == b, "NumericLessThan": lambda a, b: a < b,
            "NumericLessThanEquals": lambda a, b: a <= b, "NumericGreaterThan": lambda a, b: a > b,
            "NumericGreaterThanEquals": lambda a, b: a >= b}
_DATE = {"Date" + k[len("Numeric"):]: f for k, f in _NUMERIC.items()}

# Negated operators and the positive operator they negate.
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
            "StringNotLike": "StringLike", "NumericNotEquals": "NumericEquals", "DateNotEquals": "DateEquals",
            "NotIpAddress": "IpAddress", "ArnNotEquals": "ArnLike", "ArnNotLike": "ArnLike"}


def _value_matcher(base: str, values: list) -> Callable[[Any], bool]:
    """Whether one request value matches any of the policy's values under a positive operator."""
    if base in ("StringEquals", "StringEqualsIgnoreCase", "StringLike"):
        return _string_matchers([as_str(x) for x in values], base)
    if base in _NUMERIC:
        cmp, nums = _NUMERIC[base], [n for n in map(as_number, values) if n is not None]

        def numeric(v):
            n = as_number(v)
            return n is not None and any(cmp(n, x) for x in nums)
        return numeric
    if base in _DATE:
        cmp, dates = _DATE[base], [d for d in map(as_epoch, values) if d is not None]

        def date(v):
            d = as_epoch(v)
            return d is not None and any(cmp(d, x) for x in dates)
        return date
    if base == "Bool":
        wanted = frozenset(as_str(x).lower() for x in values)
        return lambda v: as_str(v).lower() in wanted
    if base == "BinaryEquals":
        wanted = frozenset(as_str(x) for x in values)
        return lambda v: as_str(v) in wanted
    if base == "IpAddress":
        nets = [ipaddress.ip_network(as_str(x), strict=False) for x in values]

        def ip(v):
            try:
                addr = ipaddress.ip_address(as_str(v))
            except ValueError:
                return False
            return any(addr in n for n in nets)
        return ip
    if base in ("ArnLike", "ArnEquals"):
        preds = [_arn_parts_matcher(as_str(x)) for x in values]
        return lambda v: any(p(as_str(v)) for p in preds)
    raise ValueError(f"unknown condition operator {base}")


class Condition:
    """One (operator, key) pair of a Condition block with its policy values."""

    __slots__ = ("key", "base", "negated", "if_exists", "set_op", "values", "match", "null_wants")

    def __init__(self, operator: str, key: str, values: list):
        self.key = key.lower()
        self.set_op = None
        if operator.startswith("ForAllValues:"):
            self.set_op, operator = "all", operator[len("ForAllValues:"):]
        elif operator.startswith("ForAnyValue:"):
            self.set_op, operator = "any", operator[len("ForAnyValue:"):]
        self.if_exists = operator.endswith("IfExists")
        if self.if_exists:
            operator = operator[: -len("IfExists")]
        self.negated = operator in _NEGATED
        self.base = _NEGATED.get(operator, operator)
        self.values = values
        self.null_wants = None
        self.match = None
        if self.base == "Null":
            self.null_wants = frozenset(as_str(v).lower() == "true" for v in values)
        elif not any(isinstance(v, str) and has_variables(v) for v in values):
            self.match = _value_matcher(self.base, values)

    def _matcher(self, request: AuthzRequest) -> Callable[[Any], bool]:
        if self.match is not None:
            return self.match
        expanded = []
        for i, v in enumerate(self.values):
            if isinstance(v, str) and has_variables(v):
                # In StringLike a substituted value is literal text, not a pattern.
                if self.base == "StringLike":
                    rx = expand(v, request, as_regex=True, tag=f"v{i}")
                    if rx is not None:
                        expanded.append(("rx", rx))
                    continue
                v = expand(v, request, as_regex=False)
                if v is None:
                    continue
            expanded.append(("v", v))
        if self.base == "StringLike":
            pattern = "|".join(f"(?:{x})" if kind == "rx" else f"(?:{wildcard_regex(as_str(x), f'w{i}')})"
                               for i, (kind, x) in enumerate(expanded))
            if not pattern:
                return lambda v: False
            rx = re.compile(pattern, re.DOTALL)
            return lambda v: rx.fullmatch(as_str(v)) is not None
        values = [x for _, x in expanded]
        return _value_matcher(self.base, values) if values else (lambda v: False)

    def holds(self, request: AuthzRequest) -> bool:
        value = request.value(self.key)
        multi = isinstance(value, (list, tuple, set, frozenset))
        missing = value is None or (multi and not value)
        if self.null_wants is not None:
            return missing in self.null_wants
        if missing:
            if self.if_exists:
                return True
            if self.set_op == "all":
                return True
            if self.set_op == "any":
                return False
            return self.negated
        match = self._matcher(request)
        if self.set_op is not None:
            items = value if multi else (value,)
            if self.set_op == "any":
                return any(match(x) != self.negated for x in items)
            return all(match(x) != self.negated for x in items)
        if multi:
            hit = any(match(x) for x in value)
        else:
            hit = match(value)
        return hit != self.negated


# ---- the fast path -------------------------------------------------------------------------

def fast_condition(c: Condition) -> Callable[[AuthzRequest], bool]:
    """A condition specialised for the common case: a plain string (or bool) value already in the
    request's lowered context. Anything else (missing keys, sets, derived keys) takes `holds`."""
    generic = c.holds
    if c.null_wants is not None or c.set_op is not None or c.match is None:
        return generic
    key, negated, match = c.key, c.negated, c.match
    if c.base == "StringEquals":
        wanted = frozenset(as_str(x) for x in c.values)

        def string_equals(request: AuthzRequest) -> bool:
            ctx = request._lowered
            if ctx is not None:
                v = ctx.get(key)
                if type(v) is str:
                    return (v in wanted) != negated
            return generic(request)
        return string_equals
    if c.base == "Bool":
        wanted_bool = frozenset(as_str(x).lower() == "true" for x in c.values)

        def boolean(request: AuthzRequest) -> bool:
            ctx = request._lowered
            if ctx is not None:
                v = ctx.get(key)
                if type(v) is bool:
                    return (v in wanted_bool) != negated
            return generic(request)
        return boolean

    def other(request: AuthzRequest) -> bool:
        ctx = request._lowered
        if ctx is not None:
            v = ctx.get(key)
            if type(v) is str:
                return match(v) != negated
        return generic(request)
    return other
