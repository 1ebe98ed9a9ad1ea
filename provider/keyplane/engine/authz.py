"""Authorisation: the one hook every operation calls before it acts.

`authorize(call, action, ...)` raises AccessDeniedException in AWS's wording, or returns how the
call was allowed. It implements the KMS model (aws-semantics §5.2) on top of `policy.py`:

- the key policy is primary: an explicit Deny there wins; an Allow naming the caller (or "*")
  suffices in the key's account; an Allow naming only the caller's account delegates to the
  account's identity policies, which must then allow too;
- identity policies never give access to a key by themselves, but their Deny always applies;
- a caller from another account needs the key policy AND its own identity policies, and only for
  the operations AWS allows cross-account;
- failing those, a grant whose grantee is the caller, whose operations include the action and
  whose constraints the request satisfies, allows it (cross-account too, without IAM);
- operations on no key (CreateKey, ListKeys, alias ARNs, ...) are decided by identity policies.

An account root is its account: it needs no identity policy in its own account. Identity policies
come from the engine's identities registry (`identity_policies_for`); without one, principals
other than roots simply have none.
"""
from __future__ import annotations

from .errors import AccessDeniedException
from .kms.grant_rules import check_grant_tokens, grant_allowing
from .kms.tables import aliases
from .policy import ALLOW, AuthzRequest, Decision, decide, default_key_policy, parse_policy
from .tagging import get_tags

# Operations a principal of another account may perform on a key (the "XA = Y" rows).
CROSS_ACCOUNT_ACTIONS = frozenset("kms:" + a for a in (
    "Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify",
    "DeriveSharedSecret", "Encapsulate", "Decapsulate", "DescribeKey", "GetPublicKey", "CreateGrant",
    "ListGrants", "RetireGrant", "RevokeGrant", "GetKeyRotationStatus"))

# Request members that become kms: condition keys, per member name.
_PARAM_KEYS = {
    "EncryptionAlgorithm": "kms:EncryptionAlgorithm",
    "SigningAlgorithm": "kms:SigningAlgorithm",
    "MacAlgorithm": "kms:MacAlgorithm",
    "KeyAgreementAlgorithm": "kms:KeyAgreementAlgorithm",
    "MessageType": "kms:MessageType",
    "KeyPairSpec": "kms:DataKeyPairSpec",
    "WrappingAlgorithm": "kms:WrappingAlgorithm",
    "WrappingKeySpec": "kms:WrappingKeySpec",
    "ExpirationModel": "kms:ExpirationModel",
    "RotationPeriodInDays": "kms:RotationPeriodInDays",
    "PendingWindowInDays": "kms:ScheduleKeyDeletionPendingWindowInDays",
    "ReplicaRegion": "kms:ReplicaRegion",
    "PrimaryRegion": "kms:PrimaryRegion",
    "BypassPolicyLockoutSafetyCheck": "kms:BypassPolicyLockoutSafetyCheck",
}

# Which encryption context an action's kms:EncryptionContext keys describe.
_CONTEXT_PARAM = {"kms:ReEncryptFrom": "SourceEncryptionContext", "kms:ReEncryptTo": "DestinationEncryptionContext"}


class Allowed(str):
    """How a call was allowed: "policy", or "grant" with the grant that allowed it."""

    grant = None


POLICY = Allowed("policy")


def access_denied(call, action: str, resource: str, reason: str = "no resource-based policy allows") -> AccessDeniedException:
    if reason.startswith("with "):
        return AccessDeniedException(
            f"User: {call.principal.arn} is not authorized to perform: {action} on resource: {resource} {reason}")
    return AccessDeniedException(
        f"User: {call.principal.arn} is not authorized to perform: {action} on resource: {resource} "
        f"because {reason} the {action} action")


_IDENTITY_POLICIES: dict = {}


def identity_policies(call) -> list:
    """The identity policies of the caller, compiled; none without an identities registry. Kept
    per principal until the registry's identities change (`generation`)."""
    registry = getattr(call.engine, "identities", None)
    lookup = getattr(registry, "identity_policies_for", None)
    if lookup is None:
        return []
    generation = getattr(registry, "generation", None)
    if generation is None:
        return [parse_policy(doc, "identity") for doc in lookup(call.principal)]
    principal = call.principal
    key = (id(registry), generation(), principal.type, principal.arn, principal.role_arn)
    hit = _IDENTITY_POLICIES.get(key)
    if hit is not None and hit[0] is registry:
        return hit[1]
    docs = [parse_policy(doc, "identity") for doc in lookup(principal)]
    if len(_IDENTITY_POLICIES) > 10_000:
        _IDENTITY_POLICIES.clear()
    _IDENTITY_POLICIES[key] = (registry, docs)
    return docs


def identity_decision(call, request: AuthzRequest) -> str | None:
    """Deny / Allow / None across the caller's identity policies (an account root: Allow)."""
    result = None
    for doc in identity_policies(call):
        effect = decide(doc, request).effect
        if effect == "Deny":
            return "Deny"
        if effect == ALLOW:
            result = ALLOW
    if result is None and call.principal.type == "Root":
        return ALLOW
    return result


def check_session_policy(call, request: AuthzRequest, resource: str) -> None:
    """A role session made with AssumeRole's Policy can do at most what that policy allows: it
    limits every other permission (identity, key policy, grant) and grants none of its own."""
    principal = call.principal
    if principal.type != "AssumedRole" or not principal.access_key_id:
        return
    sessions = getattr(getattr(call.engine, "identities", None), "sessions", None)
    creds = sessions(principal.access_key_id) if sessions is not None else None
    if creds is None or not creds.session_policy:
        return
    effect = decide(parse_policy(creds.session_policy, "identity"), request).effect
    if effect == "Deny":
        raise access_denied(call, request.action, resource, "with an explicit deny in a session policy")
    if effect != ALLOW:
        raise access_denied(call, request.action, resource, "no session policy allows")


def require_identity_allows(call, request: AuthzRequest, resource: str) -> None:
    """An action that no resource policy speaks to: the caller's identity policies must allow it
    without an explicit Deny, and a session policy, if the caller has one, must allow it too.
    Refusals name `resource`."""
    identity = identity_decision(call, request)
    if identity == "Deny":
        raise access_denied(call, request.action, resource, "with an explicit deny in an identity-based policy")
    if identity != ALLOW:
        raise access_denied(call, request.action, resource, "no identity-based policy allows")
    check_session_policy(call, request, resource)


_KEY_POLICIES: dict = {}


def key_policy(key) -> object:
    """The key's compiled policy, remembered per key object (and policy text) for the hot path."""
    hit = _KEY_POLICIES.get(id(key))
    if hit is not None and hit[0] is key and hit[1] is key.policy:
        return hit[2]
    doc = parse_policy(key.policy or default_key_policy(key.account), "key")
    if len(_KEY_POLICIES) > 10_000:
        _KEY_POLICIES.clear()
    _KEY_POLICIES[id(key)] = (key, key.policy, doc)
    return doc


_KEY_CONTEXTS: dict = {}
_LOWER_PARAM_KEYS = {member: name.lower() for member, name in _PARAM_KEYS.items()}


def _key_context(key) -> dict:
    """The key-resource condition keys, computed once per key object (keys are cached objects)."""
    hit = _KEY_CONTEXTS.get(id(key))
    if hit is not None and hit[0] is key:
        return hit[1]
    ctx = {"kms:keyspec": key.key_spec, "kms:customermasterkeyspec": key.key_spec,
           "kms:keyusage": key.key_usage, "kms:customermasterkeyusage": key.key_usage,
           "kms:keyorigin": key.origin, "kms:multiregion": bool(key.multi_region)}
    if key.multi_region:
        ctx["kms:multiregionkeytype"] = "PRIMARY" if key.primary_region in (None, key.region) else "REPLICA"
    if len(_KEY_CONTEXTS) > 10_000:
        _KEY_CONTEXTS.clear()
    _KEY_CONTEXTS[id(key)] = (key, ctx)
    return ctx


def _encryption_context(p: dict, action: str) -> dict | None:
    """The encryption context kms:EncryptionContext:<k> describes for this action."""
    encryption_context = p.get(_CONTEXT_PARAM.get(action, "EncryptionContext"))
    if encryption_context is None and action == "kms:CreateGrant":
        constraints = p.get("Constraints") or {}
        encryption_context = constraints.get("EncryptionContextEquals") or constraints.get("EncryptionContextSubset")
    return encryption_context


_HOT_KEYS = frozenset({"kms:calleraccount", "kms:viaservice", "aws:viaawsservice", "kms:encryptioncontextkeys"})
_COVERS: dict = {}


class LazyConditions(dict):
    """The condition keys of one request, for policy.py: a dict that starts with the keys policies
    test most (caller account, kms:ViaService, the encryption context), taken straight from the
    call, and fills in everything else (`request_context`) the first time a policy asks for a key
    it does not hold. Operations pass the same encryption context in `extra`."""

    __slots__ = ("call", "action", "key", "extra", "complete")

    def __init__(self, call, action: str, key, extra: dict | None):
        super().__init__()
        self.call, self.action, self.key, self.extra, self.complete = call, action, key, extra, False
        cctx = call.ctx
        self["kms:calleraccount"] = call.principal.account
        via = cctx.via_service
        self["aws:viaawsservice"] = bool(via)
        if via:
            self["kms:viaservice"] = f"{via}.{cctx.region}.amazonaws.com"
        raw = _encryption_context(call.params or {}, action)
        if raw:
            for k, v in raw.items():
                self["kms:encryptioncontext:" + k.lower()] = v
            self["kms:encryptioncontextkeys"] = tuple(raw)

    def covers(self, keys: tuple) -> bool:
        """Whether these keys are all ones this dict holds from the start (absent = missing)."""
        hit = _COVERS.get(keys)
        if hit is None:
            hit = _COVERS[keys] = all(k in _HOT_KEYS or k.startswith("kms:encryptioncontext:") for k in keys)
        return hit

    def lookup(self, key_l: str):
        """A key not (yet) held: complete the context once, then answer from it."""
        if not self.complete and not (key_l in _HOT_KEYS or key_l.startswith("kms:encryptioncontext:")):
            self.complete = True
            full = request_context(self.call, self.action, self.key, self.extra)
            for k, v in full.items():
                self.setdefault(k, v)
        return dict.get(self, key_l)


def request_context(call, action: str, key=None, extra: dict | None = None) -> dict:
    """The condition keys of this request (kms:*, aws:*), from the call, its parameters and the key,
    named in lower case (condition keys are case-insensitive; policy.py looks them up lowered), with
multi-valued keys as tuples (hashable, so policy.py can memoise decisions on them).
    This runs on every call, so what costs something is a callable, computed only if a policy asks."""
    p = call.params or {}
    cctx = call.ctx
    ctx: dict = dict(_key_context(key)) if key is not None else {}
    ctx["kms:calleraccount"] = call.principal.account
    ctx["aws:currenttime"] = lambda: call.now
    ctx["aws:epochtime"] = lambda: int(call.now.timestamp())
    ctx["aws:securetransport"] = bool(cctx.secure_transport)
    ctx["aws:requestedregion"] = cctx.region
    if cctx.source_ip:
        ctx["aws:sourceip"] = cctx.source_ip
    via = cctx.via_service
    if via:
        ctx["kms:viaservice"] = f"{via}.{cctx.region}.amazonaws.com"
        ctx["aws:viaawsservice"] = True
        ctx["aws:calledvia"] = (f"{via}.amazonaws.com",)
        ctx["kms:grantisforawsresource"] = True
    else:
        ctx["aws:viaawsservice"] = False
    encryption_context = _encryption_context(p, action)
    if encryption_context:
        for k, v in encryption_context.items():
            ctx["kms:encryptioncontext:" + k.lower()] = v
        ctx["kms:encryptioncontextkeys"] = tuple(encryption_context)
    for member in p:
        name = _LOWER_PARAM_KEYS.get(member)
        if name is not None:
            ctx[name] = p[member]
    if action == "kms:ReEncryptFrom" or action == "kms:ReEncryptTo":
        src, dst = p.get("SourceKeyId"), p.get("DestinationKeyId")
        ctx["kms:reencryptonsamekey"] = bool(src and dst and src == dst)
    elif action == "kms:CreateGrant":
        ctx["kms:grantoperations"] = tuple(p.get("Operations") or ())
        for member in ("GranteePrincipal", "RetiringPrincipal", "GranteeServicePrincipal", "RetiringServicePrincipal"):
            if p.get(member):
                ctx["kms:" + member.lower()] = p[member]
        constraints = p.get("Constraints") or {}
        kinds = [k for k in ("EncryptionContextEquals", "EncryptionContextSubset") if constraints.get(k)]
        if kinds:
            ctx["kms:grantconstrainttype"] = tuple(kinds)
        if constraints.get("SourceArn"):
            ctx["kms:grantconstraintsourcearn"] = constraints["SourceArn"]
    elif action == "kms:PutKeyPolicy" or action == "kms:GetKeyPolicy":
        ctx["kms:policyname"] = p.get("PolicyName") or "default"
    if call.request_alias:
        ctx["kms:requestalias"] = call.request_alias
    tags = p.get("Tags")
    if tags and isinstance(tags, list):
        ctx["aws:requesttag/"] = {t["TagKey"].lower(): t["TagValue"] for t in tags if "TagKey" in t}
        ctx["aws:tagkeys"] = tuple(t["TagKey"] for t in tags if "TagKey" in t)
    if key is not None:
        ctx["kms:resourcealiases"] = lambda: _resource_aliases(call, key)
        ctx["aws:resourcetag/"] = lambda: _resource_tags(call, key.arn)
    if extra:
        for k, v in extra.items():
            ctx[k.lower()] = tuple(v) if type(v) is list else v
    return ctx


def _resource_aliases(call, key) -> tuple[str, ...]:
    """kms:ResourceAliases: the aliases of the key (asked only by policies that test it)."""
    with call.store.read() as conn:
        rows = conn.execute(aliases.select().where(aliases.c.account == key.account, aliases.c.region == key.region,
                                                   aliases.c.target_key_id == key.key_id))
        return tuple(sorted(r.name for r in rows))


def _resource_tags(call, arn: str) -> dict:
    """aws:ResourceTag/<k>: the resource's tags (asked only by policies that test them)."""
    with call.store.read() as conn:
        return {k.lower(): v for k, v in get_tags(conn, arn).items()}


def _check_grant_tokens(call) -> None:
    p = call.params
    tokens = p.get("GrantTokens") if p else None
    if tokens:
        check_grant_tokens(call, tokens)


_SIGNED: dict = {}


def _key_policy_decision(call, action: str, key, request: AuthzRequest) -> Decision:
    """decide() on the key policy, with a shortcut for the common shape of policy: when every
    condition key it reads is one LazyConditions takes straight from the call (caller account,
    kms:ViaService, encryption context), the decision is remembered per those raw inputs, so a
    repeated request costs one dictionary lookup instead of gathering its context."""
    doc = key_policy(key)
    keys = doc.memo_keys
    if not keys:
        return decide(doc, request)
    entry = _SIGNED.get(id(doc))
    if entry is None or entry[0] is not doc:
        shortcut = not doc.memo_derived and all(k in _HOT_KEYS or k.startswith("kms:encryptioncontext:") for k in keys)
        if len(_SIGNED) > 10_000:
            _SIGNED.clear()
        entry = _SIGNED[id(doc)] = (doc, {} if shortcut else None)
    memo = entry[1]
    if memo is None:
        return decide(doc, request)
    cctx, principal = call.ctx, call.principal
    ec = _encryption_context(call.params or {}, action)
    signature = (action, principal.arn, principal.type, key.arn, cctx.via_service, cctx.region,
                 tuple(ec.items()) if ec else None)
    try:
        hit = memo.get(signature)
    except TypeError:  # a non-string context value: no shortcut
        return decide(doc, request)
    if hit is None:
        hit = decide(doc, request)
        if len(memo) > 4096:
            memo.clear()
        memo[signature] = hit
    return hit


def authorize(call, action: str, *, key=None, resource: str | None = None, owner: str | None = None,
              context: dict | None = None) -> Allowed:
    """Allow or refuse `action` (e.g. "kms:Encrypt") on `key` (a kms Key) or on `resource` (an ARN
    owned by `owner`, default the caller's account). `context` holds extra request condition keys."""
    if getattr(call.ctx, "service_event", False):
        return POLICY
    principal = call.principal
    if key is None:
        return _authorize_resource(call, action, resource or "*", owner or call.account, context)
    _check_grant_tokens(call)
    # The condition keys are gathered only if a policy reads one (the default policy reads none).
    request = AuthzRequest(principal, action, key.arn, lambda: LazyConditions(call, action, key, context))
    decision: Decision = _key_policy_decision(call, action, key, request)
    if decision.denied:
        raise access_denied(call, action, key.arn, "with an explicit deny in a resource-based policy")
    same_account = principal.account == key.account
    identity = identity_decision(call, request)
    if identity == "Deny":
        raise access_denied(call, action, key.arn, "with an explicit deny in an identity-based policy")
    check_session_policy(call, request, key.arn)
    if not same_account and action not in CROSS_ACCOUNT_ACTIONS:
        raise access_denied(call, action, key.arn)
    if decision.allowed:
        if same_account and decision.direct:
            return POLICY
        if identity == ALLOW:
            return POLICY
    grant = _grant_allowing(call, key, action, request, identity)
    if grant is not None:
        allowed = Allowed("grant")
        allowed.grant = grant
        return allowed
    if decision.allowed:
        raise access_denied(call, action, key.arn, "no identity-based policy allows")
    raise access_denied(call, action, key.arn)


def _grant_allowing(call, key, action: str, request: AuthzRequest, identity: str | None):
    return grant_allowing(call, key, action[len("kms:"):], request, identity == ALLOW)


def _authorize_resource(call, action: str, resource: str, owner: str, context: dict | None) -> Allowed:
    """Actions on no key: identity policies decide, and only for the caller's own account."""
    principal = call.principal
    if principal.account != owner:
        raise access_denied(call, action, resource)
    request = AuthzRequest(principal, action, resource, lambda: LazyConditions(call, action, None, context))
    require_identity_allows(call, request, resource)
    return POLICY


def policy_allows_caller(call, policy_text: str, key) -> bool:
    """The lockout safety check: would `policy_text`, as the key's policy, let this caller call
    PutKeyPolicy on the key (identity policies consulted as the KMS model does)?"""
    doc = parse_policy(policy_text, "key")
    ctx = request_context(call, "kms:PutKeyPolicy", key, {"kms:BypassPolicyLockoutSafetyCheck": False})
    request = AuthzRequest(call.principal, "kms:PutKeyPolicy", key.arn, ctx, ctx)
    decision = decide(doc, request)
    if not decision.allowed:
        return False
    identity = identity_decision(call, request)
    if identity == "Deny":
        return False
    return (decision.direct and call.principal.account == key.account) or identity == ALLOW
