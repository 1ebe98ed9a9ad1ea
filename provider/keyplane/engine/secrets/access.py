"""Who may act on a secret: the secret's resource policy and the caller's identity policies.

Secrets Manager's model (aws-semantics §5.3): in the secret's account an identity policy OR the
resource policy may allow; from another account both must; an explicit Deny in either wins. The
KMS half (the key policy of the secret's key) is enforced by KMS itself on the nested
GenerateDataKey / Decrypt calls, which carry kms:ViaService=secretsmanager — so the AWS managed key,
whose policy admits only its own account, can never serve another account.

Resource policies are validated with the IAM grammar (`schemas/secret-policy.schema.json` through
`keyplane.engine.policy`); BlockPublicPolicy refuses policies that open the secret to everyone.
"""
from __future__ import annotations

import json
import re

from ..authz import access_denied, check_session_policy, identity_decision, require_identity_allows
from ..identity import Principal
from ..policy import ALLOW, AuthzRequest, decide, parse_policy
from .errors import InvalidParameterException, PublicPolicyException

SERVICE_PRINCIPAL = "secretsmanager.amazonaws.com"
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]+$")

# condition keys that pin an "everyone" principal down to known callers
_NARROWING_KEYS = {"aws:principalaccount", "aws:sourceaccount", "aws:principalorgid", "aws:sourcearn",
                   "aws:sourcevpc", "aws:sourcevpce", "aws:principalarn", "aws:userid",
                   "aws:sourceowner", "aws:principalorgpaths", "aws:sourceip", "kms:calleraccount"}


def request_context(call, secret=None, extra: dict | None = None, tags: dict | None = None) -> dict:
    ctx = {"aws:CurrentTime": call.now, "aws:EpochTime": int(call.now.timestamp()),
           "aws:SecureTransport": bool(call.ctx.secure_transport), "aws:RequestedRegion": call.region,
           "aws:ViaAWSService": bool(call.ctx.via_service)}
    if call.ctx.source_ip:
        ctx["aws:SourceIp"] = call.ctx.source_ip
    if secret is not None:
        ctx["secretsmanager:SecretId"] = secret.arn
        ctx["secretsmanager:Name"] = secret.name
        if secret.description:
            ctx["secretsmanager:Description"] = secret.description
        ctx["secretsmanager:KmsKeyId"] = secret.key_id
        ctx["secretsmanager:SecretPrimaryRegion"] = secret.primary_region or secret.region
        if secret.rotation_lambda:
            ctx["secretsmanager:resource/AllowRotationLambdaArn"] = secret.rotation_lambda
        if secret.secret_type:
            ctx["secretsmanager:resource/Type"] = secret.secret_type
        if tags is None:
            from ..tagging import get_tags
            with call.store.read() as conn:
                tags = get_tags(conn, secret.arn)
        for k, v in tags.items():
            ctx[f"secretsmanager:ResourceTag/{k}"] = v
            ctx[f"aws:ResourceTag/{k}"] = v
    if extra:
        ctx.update(extra)
    return ctx


def authorize_secret(call, action: str, secret, extra: dict | None = None, tags: dict | None = None) -> None:
    """Allow `action` ("secretsmanager:GetSecretValue") on `secret`, or AccessDeniedException."""
    if call.ctx.service_event:
        return
    request = AuthzRequest(call.principal, action, secret.arn, request_context(call, secret, extra, tags))
    # refusals name the secret without the suffix its ARN got at creation, exactly as a refusal
    # for a name that exists nowhere does: the answer must not tell which names exist
    shown = _unsuffixed(call, secret.name, secret.account, secret.region)
    # every policy attached to the secret counts: a Deny in any wins, an Allow in any allows
    resource = [decide(parse_policy(text, "secret"), request) for text in secret.resource_policies().values()]
    if any(d.denied for d in resource):
        raise access_denied(call, action, shown, "with an explicit deny in a resource-based policy")
    identity = identity_decision(call, request)
    if identity == "Deny":
        raise access_denied(call, action, shown, "with an explicit deny in an identity-based policy")
    resource_allows = any(d.allowed for d in resource)
    # a role session scoped down by AssumeRole's Policy can do at most what that policy allows
    check_session_policy(call, request, shown)
    if call.principal.account == secret.account:
        if identity == ALLOW or resource_allows:
            return
        raise access_denied(call, action, shown, "no identity-based policy allows")
    if not resource_allows:
        raise access_denied(call, action, secret.arn)
    if identity != ALLOW:
        raise access_denied(call, action, shown, "no identity-based policy allows")


def authorize_account(call, action: str, resource: str = "*", extra: dict | None = None) -> None:
    """Actions on no particular secret (CreateSecret, ListSecrets, GetRandomPassword)."""
    if call.ctx.service_event:
        return
    request = AuthzRequest(call.principal, action, resource, request_context(call, None, extra))
    require_identity_allows(call, request, resource)


def _unsuffixed(call, name: str, account: str, region: str) -> str:
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{name}"


def deny_unknown_unless_allowed(call, action: str, secret_id: str) -> None:
    """For a SecretId that names no secret: AccessDeniedException unless the caller's identity
    policies would allow `action` on it. IAM decides before the secret is looked up, so a caller
    without the permission learns nothing about which secrets exist (AccessDenied either way);
    only one who could act on it is told it is not there."""
    if call.ctx.service_event:
        return
    arn = secret_id if secret_id.startswith("arn:") else _unsuffixed(call, secret_id, call.account, call.region)
    request = AuthzRequest(call.principal, action, arn, request_context(call, None))
    require_identity_allows(call, request, arn)


def assumable_role(call, role_arn: str):
    """The IAM role `role_arn`, if it exists and its trust policy lets Secrets Manager assume it."""
    registry = getattr(call.engine, "identities", None)
    role = registry.role(role_arn) if registry is not None else None
    if role is None:
        return None
    service = Principal(account=role.account, arn=SERVICE_PRINCIPAL, type="AWSService", name=SERVICE_PRINCIPAL)
    trust = decide(parse_policy(role.trust_policy, "trust"), AuthzRequest(service, "sts:AssumeRole", role.arn, {}))
    return role if trust.allowed else None


def check_role_to_pass(call, account: str, role_arn: str, member: str) -> None:
    """A role the caller hands Secrets Manager to assume later (a replication role, a managed
    external secret's rotation role), validated when it is set: a role of `account`, which the
    caller may pass (iam:PassRole) and which trusts Secrets Manager."""
    m = _ROLE_ARN.match(role_arn)
    if m is None or m.group(1) != account:
        raise InvalidParameterException(f"{member} must be the ARN of an IAM role in the secret's account.")
    if not call.ctx.service_event:
        request = AuthzRequest(call.principal, "iam:PassRole", role_arn, {"iam:PassedToService": SERVICE_PRINCIPAL})
        if identity_decision(call, request) != ALLOW:
            raise access_denied(call, "iam:PassRole", role_arn, "no identity-based policy allows")
    if getattr(call.engine, "identities", None) is not None and assumable_role(call, role_arn) is None:
        raise InvalidParameterException(
            f"Secrets Manager can't assume the role {role_arn}: it doesn't exist or its trust policy "
            f"doesn't allow {SERVICE_PRINCIPAL}.")


def broad_access_statements(policy_text: str) -> list[str]:
    """Sids (or positions) of Allow statements that let anyone in: Principal "*" (or AWS "*")
    with no condition that pins the caller down."""
    doc = json.loads(policy_text)
    statements = doc.get("Statement", [])
    if isinstance(statements, dict):
        statements = [statements]
    found = []
    for i, st in enumerate(statements):
        if st.get("Effect") != "Allow":
            continue
        principal = st.get("Principal")
        public = "NotPrincipal" in st or principal == "*"
        if isinstance(principal, dict):
            aws = principal.get("AWS")
            public = public or aws == "*" or (isinstance(aws, list) and "*" in aws)
        if not public:
            continue
        keys = {k.lower() for block in (st.get("Condition") or {}).values() for k in block}
        if keys & _NARROWING_KEYS:
            continue
        found.append(st.get("Sid") or f"Statement[{i}]")
    return found


def check_public(policy_text: str) -> None:
    if broad_access_statements(policy_text):
        raise PublicPolicyException("You can't attach this resource policy because it grants "
                                    "broad access to the secret (BlockPublicPolicy).")


def validate_policy(policy_text: str):
    """The parsed policy, or MalformedPolicyDocumentException in AWS's words."""
    return parse_policy(policy_text, "secret")
