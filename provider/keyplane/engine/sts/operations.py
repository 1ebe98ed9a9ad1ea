"""GetCallerIdentity and AssumeRole, named and shaped as in the STS API."""
from __future__ import annotations

import base64
import hashlib
import json

# the same identity-policy and session-policy rules KMS authorisation applies, with the trust
# policy in the place of the key policy
from ..authz import check_session_policy, identity_decision
from ..errors import AccessDeniedException, AwsError, MalformedPolicyDocumentException, ValidationException
from ..identity import Principal
from ..policy import AuthzRequest, decide, parse_policy
from ..registry import operation
from . import sessions

DEFAULT_DURATION = 3600
CHAINED_MAX_DURATION = 3600
PACKED_POLICY_MAX = 2048


def unique_id(prefix: str, arn: str) -> str:
    """A stable IAM-style unique id (AIDA... for users, AROA... for roles) derived from the ARN."""
    digest = base64.b32encode(hashlib.sha256(arn.encode()).digest()).decode()
    return prefix + digest[:17]


def user_id(p: Principal) -> str:
    if p.type == "Root":
        return p.account
    if p.type == "IAMUser":
        return unique_id("AIDA", p.arn)
    if p.type == "AssumedRole":
        return f"{unique_id('AROA', p.role_arn or '')}:{p.session_name}"
    return unique_id("AROA", p.arn)


@operation("sts", "GetCallerIdentity", readonly=True)
def get_caller_identity(call, params: dict) -> dict:
    # No policy can deny this call: it only tells callers who they are.
    p = call.principal
    return {"UserId": user_id(p), "Account": p.account, "Arn": p.arn}


def _denied(p: Principal, role_arn: str) -> AwsError:
    return AccessDeniedException(
        f"User: {p.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")


@operation("sts", "AssumeRole")
def assume_role(call, params: dict) -> dict:
    caller = call.principal
    role_arn = params["RoleArn"]
    session_name = params["RoleSessionName"]
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam":
        raise ValidationException(f"{role_arn} is invalid")
    if caller.is_root:
        raise AccessDeniedException("Roles may not be assumed by root accounts.")

    identities = call.engine.identities
    role = identities.role(role_arn) if identities is not None else None
    context = {"sts:RoleSessionName": session_name, "aws:SecureTransport": call.ctx.secure_transport}
    if params.get("ExternalId") is not None:
        context["sts:ExternalId"] = params["ExternalId"]
    if params.get("SourceIdentity") is not None:
        context["sts:SourceIdentity"] = params["SourceIdentity"]
    if role is None:
        raise _denied(caller, role_arn)  # AWS does not tell a caller whether the role exists
    request = AuthzRequest(principal=caller, action="sts:AssumeRole", resource=role.arn, context=context)
    trust = decide(parse_policy(role.trust_policy, "trust"), request)
    if not trust.allowed:
        raise _denied(caller, role.arn)
    # A trust policy naming only the account delegates to the account's IAM policies; another
    # account's caller always needs its own identity policy to allow the call too.
    identity = identity_decision(call, request)
    if identity == "Deny" or ((not trust.direct or caller.account != role.account) and identity != "Allow"):
        raise _denied(caller, role.arn)
    check_session_policy(call, request, role.arn)  # a session policy narrows role chaining too

    duration = params.get("DurationSeconds", DEFAULT_DURATION)
    if caller.type == "AssumedRole" and duration > CHAINED_MAX_DURATION:
        raise ValidationException("The requested DurationSeconds exceeds the 1 hour session limit "
                                  "for roles assumed by role chaining.")
    if duration > role.max_session_duration:
        raise ValidationException("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")

    policy_text = params.get("Policy")
    packed = None
    if policy_text is not None:
        try:
            parse_policy(policy_text, "identity")
        except MalformedPolicyDocumentException as e:
            raise AwsError(e.message, code="MalformedPolicyDocument") from None
        compact = json.dumps(json.loads(policy_text), separators=(",", ":"))
        packed = (len(compact) * 100 + PACKED_POLICY_MAX - 1) // PACKED_POLICY_MAX
        if packed > 100:
            raise AwsError(f"Packed policy consumes {packed}% of allotted space, please use smaller policy "
                           "for session.", code="PackedPolicyTooLarge")

    creds = sessions.issue(call, account=role.account, role_name=role.name, role_arn=role.arn,
                           session_name=session_name, duration=duration, source_arn=caller.arn,
                           session_policy=policy_text)
    call.resource(role.arn, "AWS::IAM::Role", role.account)
    call.audit_params = {"roleArn": role.arn, "roleSessionName": session_name, "durationSeconds": duration}
    result = {
        "Credentials": {"AccessKeyId": creds.access_key_id, "SecretAccessKey": creds.secret_access_key,
                        "SessionToken": creds.session_token, "Expiration": creds.expiration},
        "AssumedRoleUser": {"AssumedRoleId": f"{unique_id('AROA', role.arn)}:{session_name}", "Arn": creds.arn},
    }
    if packed is not None:
        result["PackedPolicySize"] = packed
    if params.get("SourceIdentity") is not None:
        result["SourceIdentity"] = params["SourceIdentity"]
    return result
