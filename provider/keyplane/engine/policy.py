"""The IAM policy language: parse, validate (JSON Schema) and evaluate policy documents.

Owns the grammar's meaning, not the KMS model: `parse_policy` validates a document against
`schemas/<kind>-policy.schema.json` (the schemas are the only source of syntax rules) and compiles
it once; `evaluate` answers "Allow", "Deny" or None (no statement applies: implicit deny) for one
request. How key policies, identity policies and grants combine is `engine/authz.py`'s business.

Speed matters because every cryptographic call is evaluated: a compiled document pre-lowercases
actions, pre-compiles wildcards to regexes and condition operators to closures, and memoises which
statements apply to an (action, principal) pair, so a request only walks resources and conditions.
"""
from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Callable

from keyplane.engine.errors import MalformedPolicyDocumentException
from keyplane.engine.identity import Principal

KINDS = ("key", "identity", "secret", "trust")
ALLOW, DENY = "Allow", "Deny"

# How a statement's Principal element names the caller. ACCOUNT means "the caller's account"
# (`arn:aws:iam::ACCT:root` or a bare account id): access is delegated to that account's IAM
# policies, which KMS must then consult too. DIRECT means the caller itself (or "*").
NO_MATCH, ACCOUNT, DIRECT = 0, 1, 2


@dataclass
class AuthzRequest:
    """One question to a policy: may `principal` perform `action` on `resource` in `context`?

    `context` holds condition keys (any case) → value; a list value is a multi-valued key, a
    callable is computed on first use (for keys that cost a lookup). `context` itself may be a
    callable returning a dict with lowered names (and tuples for multi-valued keys); a dict
    subclass with `lookup(key)` and `covers(keys)` may hold only some keys and compute the rest
    when asked. Either way a policy without conditions costs no context at all. The
    principal's own keys (aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
    aws:username, aws:userid, aws:PrincipalTag/*) are derived from `principal` when absent.
    """

    principal: Principal
    action: str
    resource: str
    context: dict | Callable[[], dict] = field(default_factory=dict)
    _lowered: dict | None = field(default=None, repr=False, compare=False)

    def conditions(self):
        """The context as a mapping of lowered keys (made once per request)."""
        ctx = self._lowered
        if ctx is None:
            context = self.context
            if type(context) is dict:
                # multi-valued keys become tuples, so decisions can be memoised on them
                ctx = {k.lower(): (tuple(v) if type(v) is list else v) for k, v in context.items()}
            elif callable(context):
                ctx = context()
            else:
                ctx = context  # a lazy dict: holds some keys, .lookup(key) computes the rest
            self._lowered = ctx
        return ctx

    def value(self, key_l: str) -> Any:
        """The request's value for a lowercased condition key, or None when it is missing."""
        ctx = self._lowered
        if ctx is None:
            ctx = self.conditions()
        value = ctx.get(key_l)
        if value is None and type(ctx) is not dict:
            value = ctx.lookup(key_l)  # a lazy context computes what it has not yet
        if value is not None:
            if callable(value):  # costly keys (kms:ResourceAliases) are computed only if asked
                value = ctx[key_l] = value()
            return value
        derive = _DERIVED.get(key_l)
        if derive is not None:
            return derive(self.principal)
        if key_l.startswith("aws:principaltag/"):
            wanted = key_l[len("aws:principaltag/"):]
            for k, v in (self.principal.tags or {}).items():
                if k.lower() == wanted:
                    return v
            return None
        # A family of keys (aws:ResourceTag/<k>) may come as one entry "<prefix>/" holding a dict
        # (or a callable giving one) with lowered names, so its lookup happens only if asked.
        prefix, slash, name = key_l.partition("/")
        if slash:
            family = ctx.get(prefix + "/")
            if family is None and type(ctx) is not dict:
                family = ctx.lookup(prefix + "/")
            if family is not None:
                if callable(family):
                    family = ctx[prefix + "/"] = family()
                return family.get(name)
        return None


def _principal_type(p: Principal) -> str:
    return {"Root": "Account", "IAMUser": "User", "AssumedRole": "AssumedRole", "Role": "AssumedRole",
            "AWSService": "Service", "FederatedUser": "FederatedUser"}.get(p.type, p.type)


_DERIVED: dict[str, Callable[[Principal], Any]] = {
    # For a role session aws:PrincipalArn is the role's ARN, not the session's (IAM's rule).
    "aws:principalarn": lambda p: p.role_arn or p.arn,
    "aws:principalaccount": lambda p: p.account,
    "aws:principaltype": _principal_type,
    "aws:username": lambda p: p.name if p.type == "IAMUser" else None,
    "aws:userid": lambda p: (f"{p.name}:{p.session_name}" if p.session_name else (p.name or p.account)),
}


# ---- wildcards -----------------------------------------------------------------------------

def _wildcard_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


@lru_cache(maxsize=8192)
def _wildcard(pattern: str, ignore_case: bool = False) -> Callable[[str], bool]:
    """A predicate for one IAM wildcard pattern (`*` any run, `?` one character)."""
    if "*" not in pattern and "?" not in pattern:
        if ignore_case:
            folded = pattern.lower()
            return lambda s: s.lower() == folded
        return pattern.__eq__
    rx = re.compile(_wildcard_regex(pattern), re.DOTALL | (re.IGNORECASE if ignore_case else 0))
    return lambda s: rx.fullmatch(s) is not None


class _NameSet:
    """A set of names with wildcards (actions or resources), as one set lookup plus one regex."""

    __slots__ = ("exact", "rx", "match_all")

    def __init__(self, patterns: list[str], lower: bool):
        if lower:
            patterns = [p.lower() for p in patterns]
        self.match_all = "*" in patterns
        self.exact = frozenset(p for p in patterns if "*" not in p and "?" not in p)
        wild = [p for p in patterns if p not in self.exact]
        self.rx = re.compile("|".join(f"(?:{_wildcard_regex(p)})" for p in wild), re.DOTALL) if wild else None

    def __call__(self, name: str) -> bool:
        return self.match_all or name in self.exact or (self.rx is not None and self.rx.fullmatch(name) is not None)


# ---- policy variables ----------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def _has_variables(s: str) -> bool:
    return "${" in s


def _variable_value(name: str, request: AuthzRequest) -> str | None:
    name = name.strip()
    default = None
    if "," in name:  # ${aws:username, 'nobody'}
        name, _, rest = name.partition(",")
        name, rest = name.strip(), rest.strip()
        if len(rest) >= 2 and rest[0] == rest[-1] == "'":
            default = rest[1:-1]
    if name in ("*", "?", "$"):
        return name
    value = request.value(name.lower())
    if value is None or isinstance(value, (list, tuple, set, frozenset)):
        return default
    return _as_str(value)


def _expand(pattern: str, request: AuthzRequest, as_regex: bool) -> str | None:
    """Substitutes policy variables; None when one has no value. With `as_regex`, the result is a
    regex in which substituted values are literal (so a `*` inside a user name matches only `*`)."""
    out: list[str] = []
    pos = 0
    for m in _VARIABLE.finditer(pattern):
        literal = pattern[pos:m.start()]
        out.append(_wildcard_regex(literal) if as_regex else literal)
        value = _variable_value(m.group(1), request)
        if value is None:
            return None
        out.append(re.escape(value) if as_regex else value)
        pos = m.end()
    tail = pattern[pos:]
    out.append(_wildcard_regex(tail) if as_regex else tail)
    return "".join(out)


# ---- principals ----------------------------------------------------------------------------

def _role_key(arn: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN; a role's path is not part of its sessions' ARNs."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[5].startswith("role/"):
        return parts[4], parts[5].rsplit("/", 1)[-1]
    return None


class PrincipalMatcher:
    """A statement's Principal (or NotPrincipal) element."""

    __slots__ = ("anyone", "accounts", "arns", "roles", "services")

    def __init__(self, element: Any):
        self.anyone = element == "*"
        self.accounts: set[str] = set()
        self.arns: set[str] = set()
        self.roles: set[tuple[str, str]] = set()
        self.services: set[str] = set()
        if self.anyone:
            return
        for aws in _as_list(element.get("AWS", [])):
            if aws == "*":
                self.anyone = True
            elif aws.isdigit():
                self.accounts.add(aws)
            elif aws.endswith(":root"):
                self.accounts.add(aws.split(":")[4])
            elif (role := _role_key(aws)) is not None:
                self.roles.add(role)
            else:
                self.arns.add(aws)
        self.services.update(_as_list(element.get("Service", [])))
        # Federated and CanonicalUser principals are accepted but never match: keyplane has none.

    def match(self, p: Principal) -> int:
        if self.anyone:
            return DIRECT
        if p.type == "AWSService":
            return DIRECT if (p.arn in self.services or p.name in self.services) else NO_MATCH
        if p.arn in self.arns:
            return DIRECT
        if self.roles:
            role_arn = p.role_arn or (p.arn if p.type == "Role" else None)
            if role_arn and _role_key(role_arn) in self.roles:
                return DIRECT
        if p.account in self.accounts:
            # The account's root user is the account itself; everyone else is reached through
            # the account's IAM policies.
            return DIRECT if p.type == "Root" else ACCOUNT
        return NO_MATCH

    def names_account(self, account: str) -> bool:
        return self.anyone or account in self.accounts


# ---- conditions ----------------------------------------------------------------------------

def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v]


def _as_str(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(bytes(v)).decode("ascii")
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _as_number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _as_epoch(v: Any) -> float | None:
    if isinstance(v, datetime):
        return (v if v.tzinfo else v.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
        try:
            dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
    return None


def _string_matchers(values: list[str], base: str) -> Callable[[Any], bool]:
    if base == "StringEquals":
        wanted = frozenset(values)
        return lambda v: _as_str(v) in wanted
    if base == "StringEqualsIgnoreCase":
        folded = frozenset(x.lower() for x in values)
        return lambda v: _as_str(v).lower() in folded
    # StringLike
    rx = re.compile("|".join(f"(?:{_wildcard_regex(x)})" for x in values), re.DOTALL)
    return lambda v: rx.fullmatch(_as_str(v)) is not None


def _arn_parts_matcher(pattern: str) -> Callable[[str], bool]:
    parts = pattern.split(":", 5)
    if len(parts) != 6:
        return lambda s: False
    preds = [_wildcard(x) for x in parts]

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
        return _string_matchers([_as_str(x) for x in values], base)
    if base in _NUMERIC:
        cmp, nums = _NUMERIC[base], [n for n in map(_as_number, values) if n is not None]

        def numeric(v):
            n = _as_number(v)
            return n is not None and any(cmp(n, x) for x in nums)
        return numeric
    if base in _DATE:
        cmp, dates = _DATE[base], [d for d in map(_as_epoch, values) if d is not None]

        def date(v):
            d = _as_epoch(v)
            return d is not None and any(cmp(d, x) for x in dates)
        return date
    if base == "Bool":
        wanted = frozenset(_as_str(x).lower() for x in values)
        return lambda v: _as_str(v).lower() in wanted
    if base == "BinaryEquals":
        wanted = frozenset(_as_str(x) for x in values)
        return lambda v: _as_str(v) in wanted
    if base == "IpAddress":
        nets = [ipaddress.ip_network(_as_str(x), strict=False) for x in values]

        def ip(v):
            try:
                addr = ipaddress.ip_address(_as_str(v))
            except ValueError:
                return False
            return any(addr in n for n in nets)
        return ip
    if base in ("ArnLike", "ArnEquals"):
        preds = [_arn_parts_matcher(_as_str(x)) for x in values]
        return lambda v: any(p(_as_str(v)) for p in preds)
    raise ValueError(f"unknown condition operator {base}")


class _Condition:
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
            self.null_wants = frozenset(_as_str(v).lower() == "true" for v in values)
        elif not any(isinstance(v, str) and _has_variables(v) for v in values):
            self.match = _value_matcher(self.base, values)

    def _matcher(self, request: AuthzRequest) -> Callable[[Any], bool]:
        if self.match is not None:
            return self.match
        expanded = []
        for v in self.values:
            if isinstance(v, str) and _has_variables(v):
                # In StringLike a substituted value is literal text, not a pattern.
                if self.base == "StringLike":
                    rx = _expand(v, request, as_regex=True)
                    if rx is not None:
                        expanded.append(("rx", rx))
                    continue
                v = _expand(v, request, as_regex=False)
                if v is None:
                    continue
            expanded.append(("v", v))
        if self.base == "StringLike":
            pattern = "|".join(f"(?:{x})" if kind == "rx" else f"(?:{_wildcard_regex(_as_str(x))})"
                               for kind, x in expanded)
            if not pattern:
                return lambda v: False
            rx = re.compile(pattern, re.DOTALL)
            return lambda v: rx.fullmatch(_as_str(v)) is not None
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


# ---- statements and documents --------------------------------------------------------------

def _fast_condition(c: _Condition) -> Callable[[AuthzRequest], bool]:
    """A condition specialised for the common case: a plain string (or bool) value already in the
    request's lowered context. Anything else (missing keys, sets, derived keys) takes `holds`."""
    generic = c.holds
    if c.null_wants is not None or c.set_op is not None or c.match is None:
        return generic
    key, negated, match = c.key, c.negated, c.match
    if c.base == "StringEquals":
        wanted = frozenset(_as_str(x) for x in c.values)

        def string_equals(request: AuthzRequest) -> bool:
            ctx = request._lowered
            if ctx is not None:
                v = ctx.get(key)
                if type(v) is str:
                    return (v in wanted) != negated
            return generic(request)
        return string_equals
    if c.base == "Bool":
        wanted_bool = frozenset(_as_str(x).lower() == "true" for x in c.values)

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


class _Statement:
    __slots__ = ("sid", "deny", "principal", "not_principal", "actions", "not_action",
                 "resources", "resource_patterns", "not_resource", "conditions", "inert", "raw",
                 "any_resource", "checks")

    def __init__(self, raw: dict, kind: str = "key"):
        self.raw = raw
        self.sid = raw.get("Sid")
        self.deny = raw["Effect"] == DENY
        self.principal = None
        self.not_principal = "NotPrincipal" in raw
        if "Principal" in raw or "NotPrincipal" in raw:
            self.principal = PrincipalMatcher(raw.get("Principal", raw.get("NotPrincipal")))
        # KMS accepts a statement without Action or Resource; it just never applies. A trust
        # policy names no Resource at all: its statements are about the role that holds it.
        if kind == "trust" and not {"Resource", "NotResource"} & raw.keys():
            raw = {**raw, "Resource": "*"}
        self.inert = not ({"Action", "NotAction"} & raw.keys() and {"Resource", "NotResource"} & raw.keys())
        self.not_action = "NotAction" in raw
        self.actions = _NameSet(_as_list(raw.get("NotAction", raw.get("Action", []))), lower=True)
        self.not_resource = "NotResource" in raw
        patterns = _as_list(raw.get("NotResource", raw.get("Resource", [])))
        self.resources = _NameSet([p for p in patterns if not _has_variables(p)], lower=False)
        self.resource_patterns = tuple(p for p in patterns if _has_variables(p))
        self.conditions = tuple(_Condition(op, key, _as_list(vals))
                                for op, block in (raw.get("Condition") or {}).items()
                                for key, vals in block.items())
        self.any_resource = self.resources.match_all and not self.not_resource
        self.checks = tuple(_fast_condition(c) for c in self.conditions)

    def principal_match(self, p: Principal) -> int:
        """How this statement's Principal/NotPrincipal element names `p` (identity policies: DIRECT)."""
        if self.principal is None:
            return DIRECT
        m = self.principal.match(p)
        if self.not_principal:
            return NO_MATCH if m else DIRECT
        return m

    def action_matches(self, action_l: str) -> bool:
        return self.actions(action_l) != self.not_action

    def resource_matches(self, request: AuthzRequest) -> bool:
        hit = self.resources(request.resource)
        if not hit:
            for pattern in self.resource_patterns:
                rx = _expand(pattern, request, as_regex=True)
                if rx is not None and re.fullmatch(rx, request.resource, re.DOTALL):
                    hit = True
                    break
        return hit != self.not_resource

    def conditions_hold(self, request: AuthzRequest) -> bool:
        for c in self.conditions:
            if not c.holds(request):
                return False
        return True


@dataclass(frozen=True, eq=False)
class PolicyDocument:
    """A validated, compiled policy. `text` is what GetKeyPolicy returns, byte for byte."""

    kind: str
    text: str
    document: dict
    statements: tuple
    # The condition keys (and policy variables) the document reads, or None when a decision must
    # not be memoised (it reads the time). With them, a decision is a pure function of
    # (action, principal, resource, those values), so `decide` remembers it.
    memo_keys: tuple | None = None
    memo_derived: bool = False        # some memo key may come from the principal, not the context
    _applicable: dict = field(default_factory=dict, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def id(self) -> str | None:
        return self.document.get("Id")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def applicable(self, action_l: str, principal: Principal) -> tuple:
        """Statements whose action and principal elements cover this pair, with the principal match."""
        key = (action_l, principal.arn, principal.type)
        hit = self._applicable.get(key)
        if hit is None:
            hit = tuple((s, m) for s in self.statements if not s.inert and s.action_matches(action_l)
                        and (m := s.principal_match(principal)) != NO_MATCH)
            if len(self._applicable) > 4096:  # bounded: principals are many, policies are few
                self._applicable.clear()
            self._applicable[key] = hit
        return hit


# ---- parsing -------------------------------------------------------------------------------

def _json_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def schema_error_message(error) -> str:
    where = _json_path(error.absolute_path) or "Policy"
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "not" and schema.get("description"):
        return f"{where}: not allowed ({schema['description']})"
    if error.validator == "pattern" and schema.get("description"):
        return f"{where}: {error.instance!r} is not {schema['description']}"
    if error.validator == "additionalProperties" and where.endswith("Condition"):
        extra = sorted(set(error.instance) - {"Null"} - set(error.schema.get("properties", {})))
        return f"{where}: {', '.join(map(repr, extra))} is not a condition operator"
    if error.validator == "propertyNames" and schema.get("propertyNames", {}).get("description"):
        return f"{where}: {error.message}"
    return f"{where}: {error.message}"


def _kms_rules(document: dict) -> None:
    """KMS refuses ForAllValues with the single-valued kms:EncryptionContext:<k> when saved."""
    statements = document["Statement"]
    for i, st in enumerate(statements if isinstance(statements, list) else [statements]):
        for op, block in (st.get("Condition") or {}).items():
            if not op.startswith("ForAllValues:"):
                continue
            for key in block:
                if key.lower().startswith("kms:encryptioncontext:"):
                    where = f"Statement[{i}]" if isinstance(statements, list) else "Statement"
                    raise MalformedPolicyDocumentException(
                        f"{where}.Condition.{op}.{key}: OverlyPermissiveCondition:EncryptionContext: "
                        f"ForAllValues cannot be used with the single-valued condition key {key}")


@lru_cache(maxsize=4096)
def _parse_text(kind: str, text: str) -> PolicyDocument:
    from keyplane.schemas import validator
    from jsonschema.exceptions import best_match

    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedPolicyDocumentException(f"Policy: not valid JSON ({exc})") from None
    error = best_match(validator(f"{kind}-policy").iter_errors(document))
    if error is not None:
        raise MalformedPolicyDocumentException(schema_error_message(error))
    if kind == "key":
        _kms_rules(document)
    statements = document["Statement"]
    compiled = tuple(_Statement(s, kind) for s in (statements if isinstance(statements, list) else [statements]))
    memo_keys = _memo_keys(compiled)
    return PolicyDocument(kind=kind, text=text, document=document, statements=compiled, memo_keys=memo_keys,
                          memo_derived=any(k in _DERIVED or "/" in k for k in memo_keys or ()))


_TIME_KEYS = frozenset({"aws:currenttime", "aws:epochtime", "aws:tokenissuetime"})


def _memo_keys(statements) -> tuple | None:
    keys: set[str] = set()
    for st in statements:
        keys.update(c.key for c in st.conditions)
        for text in _strings(st.raw.get("Resource", st.raw.get("NotResource", []))) + _strings(st.raw.get("Condition")):
            for m in _VARIABLE.finditer(text):
                name = m.group(1).partition(",")[0].strip().lower()
                if name not in ("*", "?", "$"):
                    keys.add(name)
    if keys & _TIME_KEYS:
        return None
    return tuple(sorted(keys))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [x for v in value for x in _strings(v)]
    if isinstance(value, dict):
        return [x for v in value.values() for x in _strings(v)]
    return []


_DICT_CACHE: dict[tuple[str, int], tuple[dict, PolicyDocument]] = {}


def parse_policy(doc: str | dict | PolicyDocument, kind: str) -> PolicyDocument:
    """Validates and compiles a policy; compiled documents are cached per (kind, text)."""
    if kind not in KINDS:
        raise ValueError(f"unknown policy kind {kind!r}")
    if isinstance(doc, PolicyDocument):
        return doc if doc.kind == kind else _parse_text(kind, doc.text)
    if isinstance(doc, dict):
        # Identity policies arrive as the identities file's dicts, evaluated on every call:
        # remember each dict object (held, so its id stays unique) rather than re-serialise it.
        hit = _DICT_CACHE.get((kind, id(doc)))
        if hit is not None and hit[0] is doc:
            return hit[1]
        compiled = _parse_text(kind, json.dumps(doc, indent=2))
        if len(_DICT_CACHE) > 4096:
            _DICT_CACHE.clear()
        _DICT_CACHE[(kind, id(doc))] = (doc, compiled)
        return compiled
    if not isinstance(doc, str):
        raise MalformedPolicyDocumentException("Policy: a policy document is a JSON string")
    return _parse_text(kind, doc)


def _coerce(doc: str | dict | PolicyDocument) -> PolicyDocument:
    if isinstance(doc, PolicyDocument):
        return doc
    data = json.loads(doc) if isinstance(doc, str) else doc
    statements = data.get("Statement", []) if isinstance(data, dict) else []
    has_principal = any(isinstance(s, dict) and ({"Principal", "NotPrincipal"} & s.keys())
                        for s in (statements if isinstance(statements, list) else [statements]))
    return parse_policy(doc, "key" if has_principal else "identity")


# ---- evaluation ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """The outcome of one policy for one request.

    `effect` is "Allow", "Deny" or None. `direct` tells, for an Allow, whether some allowing
    statement names the caller itself (or "*"), as opposed to only the caller's account, which
    delegates to the account's IAM policies (KMS's "Enable IAM User Permissions").
    """

    effect: str | None
    direct: bool = False
    statement: str | None = None

    @property
    def allowed(self) -> bool:
        return self.effect == ALLOW

    @property
    def denied(self) -> bool:
        return self.effect == DENY


NO_DECISION = Decision(None)


def decide(doc: str | dict | PolicyDocument, request: AuthzRequest) -> Decision:
    """Evaluates one policy: an explicit Deny wins, else Allow if a statement allows, else None."""
    doc = _coerce(doc)
    action_l = request.action.lower()
    principal = request.principal
    memo_key = None
    keys = doc.memo_keys
    if keys is not None:
        values = ()
        if keys:
            ctx = request._lowered
            if ctx is None:
                ctx = request.conditions()
            values = tuple(map(ctx.get, keys))
            if None in values:
                # absent may mean "not computed yet" (lazy contexts) or "from the principal"
                if doc.memo_derived or (type(ctx) is not dict and not ctx.covers(keys)):
                    values = tuple(map(request.value, keys))
            if any(map(callable, values)):
                values = tuple(tuple(v) if type(v) is list else v for v in map(request.value, keys))
        memo_key = (action_l, principal.arn, principal.type, request.resource, values)
        try:
            hit = doc._memo.get(memo_key)
        except TypeError:  # an unhashable context value: just evaluate
            hit = memo_key = None
        if hit is not None:
            return hit
    result = _decide(doc, action_l, request)
    if memo_key is not None:
        if len(doc._memo) > 4096:
            doc._memo.clear()
        doc._memo[memo_key] = result
    return result


def _decide(doc: PolicyDocument, action_l: str, request: AuthzRequest) -> Decision:
    allow: Decision | None = None
    if request._lowered is None and doc.memo_keys != ():
        request.conditions()  # once, for the conditions' fast path
    for st, how in doc.applicable(action_l, request.principal):
        if not st.any_resource and not st.resource_matches(request):
            continue
        failed = False
        for check in st.checks:
            if not check(request):
                failed = True
                break
        if failed:
            continue
        if st.deny:
            return Decision(DENY, statement=st.sid)
        if allow is None or (how == DIRECT and not allow.direct):
            allow = Decision(ALLOW, direct=how == DIRECT, statement=st.sid)
    return allow or NO_DECISION


def evaluate(doc: str | dict | PolicyDocument, request: AuthzRequest) -> str | None:
    """"Allow", "Deny" or None. A statement naming the caller's account root counts as naming it."""
    return decide(doc, request).effect


def statement_allows_principal(statement: dict | _Statement, principal: Principal) -> bool:
    """Whether one statement's Principal/NotPrincipal element covers `principal` (in any way)."""
    st = statement if isinstance(statement, _Statement) else _Statement(statement)
    return st.principal_match(principal) != NO_MATCH


def trusted_accounts(doc: str | dict | PolicyDocument) -> frozenset[str]:
    """Accounts that some Allow statement names as an account principal (delegating to IAM)."""
    doc = _coerce(doc)
    return frozenset(a for s in doc.statements if not s.deny and s.principal is not None
                     and not s.not_principal for a in s.principal.accounts)


def principal_in_policy_grants_account(doc: str | dict | PolicyDocument, account: str) -> bool:
    """Whether the policy lets `account` in at all (its root, "*" or one of its principals by ARN)."""
    doc = _coerce(doc)
    for s in doc.statements:
        if s.deny or s.principal is None or s.not_principal:
            continue
        p = s.principal
        if p.names_account(account) or any(a.split(":")[4] == account for a in p.arns) \
                or any(r[0] == account for r in p.roles):
            return True
    return False


def default_key_policy(account: str, partition: str = "aws") -> str:
    """The policy CreateKey attaches when none is given: the account (and so its IAM policies)
    may do everything with the key."""
    return json.dumps({
        "Version": "2012-10-17",
        "Id": "key-default-1",
        "Statement": [{
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }],
    }, indent=2)
