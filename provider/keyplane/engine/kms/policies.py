"""KMS key policies: PutKeyPolicy, GetKeyPolicy, ListKeyPolicies, and the Policy given to CreateKey.

A key has one policy, named `default`. A new policy is validated against
`schemas/key-policy.schema.json` (MalformedPolicyDocumentException naming the JSON path), limited
to 32 KB (LimitExceededException), and must pass the lockout safety check: it has to let the
caller call PutKeyPolicy again, unless BypassPolicyLockoutSafetyCheck is set. Principals that
name IAM users or roles of an account keyplane knows must exist there, as in AWS.
"""
from __future__ import annotations

import json
import os

from ..authz import authorize, policy_allows_caller
from ..errors import (LimitExceededException, MalformedPolicyDocumentException, NotFoundException,
                      UnsupportedOperationException)
from ..policy import default_key_policy, parse_policy
from ..registry import operation
from . import messages
from .model import require_not_pending_deletion, resolve_key, save_key

POLICY_NAME = "default"
MAX_POLICY_BYTES = 32 * 1024
LOCKOUT_MESSAGE = "The new key policy will not allow you to update the key policy in the future."


def check_policy(call, text: str, key, bypass: bool) -> None:
    """Everything a new key policy must satisfy before it is attached to `key`."""
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise LimitExceededException(f"Policy document exceeds the maximum size of {MAX_POLICY_BYTES} bytes.")
    if not _is_json(text):
        # KMS answers a policy that is not JSON with the code alone (aws/aws-sdk-ruby#1784: CreateKey
        # with Policy "not a real policy statement" gives MalformedPolicyDocumentException, no text)
        raise MalformedPolicyDocumentException(None)
    doc = parse_policy(text, "key")
    _check_statement_elements(doc)
    _check_principals_exist(call, doc)
    if not bypass and not policy_allows_caller(call, text, key):
        raise MalformedPolicyDocumentException(LOCKOUT_MESSAGE)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _check_statement_elements(doc) -> None:
    """Since 18 August 2025 AWS refuses (CreateKey, PutKeyPolicy, ReplicateKey) a key policy
    statement without Action or NotAction, or without a Resource element; and "*" (this key) is
    the only Resource a key policy accepts (AWS's notice to account holders, quoted in
    ministryofjustice/analytical-platform#7691; key-policies.html: "the value of the Resource
    element is "*""). Before, such statements were accepted and silently ineffective."""
    for st in doc.statements:
        raw = st.raw
        if "Action" not in raw and "NotAction" not in raw:
            raise MalformedPolicyDocumentException(messages.POLICY_STATEMENT_WITHOUT_ACTION)
        resources = raw.get("Resource")
        if isinstance(resources, str):
            resources = [resources]
        if not resources or any(r != "*" for r in resources):
            raise MalformedPolicyDocumentException(messages.POLICY_STATEMENT_RESOURCE)


def _check_principals_exist(call, doc) -> None:
    """A policy naming a user or role the identities file does not have is refused, as AWS refuses
    an unknown principal; keyplane's message goes on to name it and where principals come from
    (AWS's sentence stays first and unchanged, for code that matches it)."""
    registry = getattr(call.engine, "identities", None)
    if registry is None or not hasattr(registry, "accounts"):
        return
    for st in doc.statements:
        if st.principal is None:
            continue
        for arn in st.principal.arns:
            parts = arn.split(":", 5)
            account, resource = parts[4], parts[5]
            if account not in registry.accounts or not resource.startswith("user/"):
                continue
            if registry.user(arn) is None:
                raise MalformedPolicyDocumentException(_unknown_principal(registry, arn, "user"))
        for account, name in st.principal.roles:
            arn = f"arn:aws:iam::{account}:role/{name}"
            if account in registry.accounts and registry.role(arn) is None:
                raise MalformedPolicyDocumentException(_unknown_principal(registry, arn, "role"))


def _unknown_principal(registry, arn: str, kind: str) -> str:
    where = getattr(registry, "path", None)
    source = f"the identities file ({os.path.basename(str(where))})" if where else "the identities file"
    return (f"{messages.INVALID_PRINCIPALS} {arn} is not a {kind} in {source}: principals come from "
            f"identities.yaml in the keyplane state folder (accounts[].{kind}s), or --identities FILE")


def policy_for_new_key(call, p, key) -> None:
    """CreateKey's (and ReplicateKey's) Policy: checked, then given to the new key."""
    if p.get("Policy") is not None:
        check_policy(call, p["Policy"], key, bool(p.get("BypassPolicyLockoutSafetyCheck")))
        key.policy = p["Policy"]


def _policy_name(p) -> str:
    name = p.get("PolicyName") or POLICY_NAME
    if name != POLICY_NAME:
        raise NotFoundException(f"No such policy exists: {name}. The only valid name is {POLICY_NAME}.")
    return name


@operation("kms", "PutKeyPolicy")
def put_key_policy(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
    authorize(call, "kms:PutKeyPolicy", key=key)
    _policy_name(p)
    if key.aws_managed:
        raise UnsupportedOperationException(f"{key.arn} is an AWS managed key: its policy cannot be changed.")
    require_not_pending_deletion(key)
    check_policy(call, p["Policy"], key, bool(p.get("BypassPolicyLockoutSafetyCheck")))
    key.policy = p["Policy"]
    save_key(call, key)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {}


@operation("kms", "GetKeyPolicy", readonly=True)
def get_key_policy(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
    authorize(call, "kms:GetKeyPolicy", key=key)
    name = _policy_name(p)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"Policy": key.policy or default_key_policy(key.account), "PolicyName": name}


@operation("kms", "ListKeyPolicies", readonly=True)
def list_key_policies(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
    authorize(call, "kms:ListKeyPolicies", key=key)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}
