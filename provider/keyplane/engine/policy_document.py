"""A policy document parsed, validated against `schemas/<kind>-policy.schema.json` (the schemas are
the only source of syntax rules) and compiled: statements with pre-lowered actions, wildcard
regexes and condition closures, and the condition keys a decision depends on (for memoising)."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

from keyplane.engine.errors import MalformedPolicyDocumentException
from keyplane.engine.identity import Principal
from keyplane.engine.policy_conditions import Condition, fast_condition
from keyplane.engine.policy_match import (
    DIRECT, NO_MATCH, VARIABLE, NameSet, PrincipalMatcher, as_list, expand, has_variables,
)
from keyplane.engine.policy_request import DERIVED, AuthzRequest

KINDS = ("key", "identity", "secret", "trust")
ALLOW, DENY = "Allow", "Deny"


# ---- statements and documents --------------------------------------------------------------

class Statement:
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
        self.actions = NameSet(as_list(raw.get("NotAction", raw.get("Action", []))), lower=True)
        self.not_resource = "NotResource" in raw
        patterns = as_list(raw.get("NotResource", raw.get("Resource", [])))
        self.resources = NameSet([p for p in patterns if not has_variables(p)], lower=False)
        self.resource_patterns = tuple(p for p in patterns if has_variables(p))
        self.conditions = tuple(Condition(op, key, as_list(vals))
                                for op, block in (raw.get("Condition") or {}).items()
                                for key, vals in block.items())
        self.any_resource = self.resources.match_all and not self.not_resource
        self.checks = tuple(fast_condition(c) for c in self.conditions)

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
                rx = expand(pattern, request, as_regex=True)
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
    compiled = tuple(Statement(s, kind) for s in (statements if isinstance(statements, list) else [statements]))
    memo_keys = _memo_keys(compiled)
    return PolicyDocument(kind=kind, text=text, document=document, statements=compiled, memo_keys=memo_keys,
                          memo_derived=any(k in DERIVED or "/" in k for k in memo_keys or ()))


_TIME_KEYS = frozenset({"aws:currenttime", "aws:epochtime", "aws:tokenissuetime"})


def _memo_keys(statements) -> tuple | None:
    keys: set[str] = set()
    for st in statements:
        keys.update(c.key for c in st.conditions)
        for text in _strings(st.raw.get("Resource", st.raw.get("NotResource", []))) + _strings(st.raw.get("Condition")):
            for m in VARIABLE.finditer(text):
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


def coerce(doc: str | dict | PolicyDocument) -> PolicyDocument:
    if isinstance(doc, PolicyDocument):
        return doc
    data = json.loads(doc) if isinstance(doc, str) else doc
    statements = data.get("Statement", []) if isinstance(data, dict) else []
    has_principal = any(isinstance(s, dict) and ({"Principal", "NotPrincipal"} & s.keys())
                        for s in (statements if isinstance(statements, list) else [statements]))
    return parse_policy(doc, "key" if has_principal else "identity")
