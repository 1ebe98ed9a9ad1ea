"""The IAM policy language: parse, validate (JSON Schema) and evaluate policy documents.

The language's public names are importable from here; its parts, each importing only those
before it:
    policy_request.py     AuthzRequest: the question, and keys derived from the caller
    policy_match.py       wildcards, policy variables, the Principal element, value coercions
    policy_conditions.py  the Condition operators, compiled to closures
    policy_document.py    parse_policy: JSON, schema validation, compiled statements
    policy.py             decide / evaluate and questions about a document's principals

Owns the grammar's meaning, not the KMS model: `parse_policy` validates a document against
`schemas/<kind>-policy.schema.json` (the schemas are the only source of syntax rules) and compiles
it once; `evaluate` answers "Allow", "Deny" or None (no statement applies: implicit deny) for one
request. How key policies, identity policies and grants combine is `engine/authz.py`'s business.

Speed matters because every cryptographic call is evaluated: a compiled document pre-lowercases
actions, pre-compiles wildcards to regexes and condition operators to closures, and memoises which
statements apply to an (action, principal) pair, so a request only walks resources and conditions.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from keyplane.engine.identity import Principal
from keyplane.engine.policy_document import (
    ALLOW, DENY, KINDS, PolicyDocument, Statement, coerce, parse_policy, schema_error_message,
)
from keyplane.engine.policy_match import ACCOUNT, DIRECT, NO_MATCH, PrincipalMatcher
from keyplane.engine.policy_request import AuthzRequest

# what the rest of keyplane uses of the policy language (its parts stay implementation)
__all__ = ["ALLOW", "DENY", "KINDS", "ACCOUNT", "DIRECT", "NO_MATCH", "AuthzRequest", "Decision", "NO_DECISION",
           "PolicyDocument", "PrincipalMatcher", "decide", "default_key_policy", "evaluate", "parse_policy",
           "principal_in_policy_grants_account", "schema_error_message", "statement_allows_principal",
           "trusted_accounts"]


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
    doc = coerce(doc)
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


def statement_allows_principal(statement: dict | Statement, principal: Principal) -> bool:
    """Whether one statement's Principal/NotPrincipal element covers `principal` (in any way)."""
    st = statement if isinstance(statement, Statement) else Statement(statement)
    return st.principal_match(principal) != NO_MATCH


def trusted_accounts(doc: str | dict | PolicyDocument) -> frozenset[str]:
    """Accounts that some Allow statement names as an account principal (delegating to IAM)."""
    doc = coerce(doc)
    return frozenset(a for s in doc.statements if not s.deny and s.principal is not None
                     and not s.not_principal for a in s.principal.accounts)


def principal_in_policy_grants_account(doc: str | dict | PolicyDocument, account: str) -> bool:
    """Whether the policy lets `account` in at all (its root, "*" or one of its principals by ARN)."""
    doc = coerce(doc)
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
