"""A question put to a policy: `AuthzRequest` (who, which action, which resource, which condition
keys), and the condition keys that come from the caller itself rather than from the request."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from keyplane.engine.identity import Principal


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
        derive = DERIVED.get(key_l)
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


DERIVED: dict[str, Callable[[Principal], Any]] = {
    # For a role session aws:PrincipalArn is the role's ARN, not the session's (IAM's rule).
    "aws:principalarn": lambda p: p.role_arn or p.arn,
    "aws:principalaccount": lambda p: p.account,
    "aws:principaltype": _principal_type,
    "aws:username": lambda p: p.name if p.type == "IAMUser" else None,
    "aws:userid": lambda p: (f"{p.name}:{p.session_name}" if p.session_name else (p.name or p.account)),
}
