"""Authorisation: the one hook every operation calls before it acts.

`authorize(call, action, ...)` raises AccessDeniedException in AWS's wording, or returns. This first
version is deliberately simple — a caller may use the resources of its own account, AWS managed keys
only for use, never for management — and the policy work (key policies, identity policies, grants,
cross-account, kms:ViaService) replaces the inside of `authorize`, not its callers.
"""
from __future__ import annotations

from .errors import AccessDeniedException

# actions AWS managed keys allow their account (the rest is AWS's to do)
_MANAGED_KEY_ACTIONS = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo",
                        "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext",
                        "kms:DescribeKey", "kms:ListAliases", "kms:ListResourceTags",
                        "kms:GetKeyPolicy", "kms:ListKeyPolicies", "kms:GetKeyRotationStatus",
                        "kms:ListGrants", "kms:RevokeGrant", "kms:ListKeyRotations", "kms:CreateGrant"}


def access_denied(call, action: str, resource: str, reason: str = "no resource-based policy allows") -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {call.principal.arn} is not authorized to perform: {action} on resource: {resource} "
        f"because {reason} the {action} action")


def authorize(call, action: str, *, key=None, resource: str | None = None, owner: str | None = None,
              context: dict | None = None) -> None:
    """Allow or refuse `action` (e.g. "kms:Encrypt") on `key` (a kms Key) or on `resource` (an ARN
    owned by `owner`, default the caller's account). `context` holds request condition keys."""
    if key is not None:
        resource, owner = key.arn, key.account
        if key.aws_managed and action not in _MANAGED_KEY_ACTIONS:
            raise access_denied(call, action, resource)
    owner = owner or call.account
    if call.principal.account != owner:
        raise access_denied(call, action, resource or "*")
