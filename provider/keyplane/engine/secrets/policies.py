"""Resource policies on secrets (Put/Get/Delete/List/ValidateResourcePolicy) and
GetRandomPassword — the Secrets Manager operations that touch no secret value.

A secret's policies have names: `default` is the one callers manage; Secrets Manager attaches
others itself (`cross-account-replication` on a cross-account replica), which callers can read
and list but not change (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListResourcePolicies.html)."""
from __future__ import annotations

import secrets as pyrandom
import string

from ..errors import AwsError
from ..registry import operation
from . import access
from .errors import InvalidParameterException, InvalidRequestException, ResourceNotFoundException
from .model import (DEFAULT_POLICY, decode_token, encode_token, mutating, require_not_deleted, resolve_secret,
                    save_secret)

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _policy_name(p) -> str:
    """PolicyName, `default` when the request leaves it out."""
    return p.get("PolicyName") or DEFAULT_POLICY


def _only_default(name: str) -> None:
    """Put/DeleteResourcePolicy act on `default` only; other policies are Secrets Manager's own.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html"""
    if name != DEFAULT_POLICY:
        raise InvalidParameterException(
            f"You can't modify the resource policy {name}. You can only modify the default resource policy.")


def _authorize(call, action: str, secret, name: str, extra: dict | None = None) -> None:
    access.authorize_secret(call, action, secret, {"secretsmanager:PolicyName": name, **(extra or {})})


def _store_policy(call, secret, name: str, text: str | None) -> dict:
    """Save `text` (None: no policy) as the secret's default policy; PutResourcePolicy's and
    DeleteResourcePolicy's answer."""
    with call.store.write() as conn:
        secret.policy = text
        save_secret(conn, secret)
    return {"ARN": secret.arn, "Name": secret.name, "PolicyName": name}


@mutating("PutResourcePolicy")
def put_resource_policy(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    block = bool(p.get("BlockPublicPolicy"))
    name = _policy_name(p)
    _authorize(call, "secretsmanager:PutResourcePolicy", secret, name, {"secretsmanager:BlockPublicPolicy": block})
    require_not_deleted(secret, "PutResourcePolicy")
    _only_default(name)
    text = p["ResourcePolicy"]
    access.validate_policy(text)
    if block:
        access.check_public(text)
    return _store_policy(call, secret, name, text)


@operation("secretsmanager", "GetResourcePolicy", readonly=True)
def get_resource_policy(call, p):
    secret = resolve_secret(call, p["SecretId"])
    name = _policy_name(p)
    _authorize(call, "secretsmanager:GetResourcePolicy", secret, name)
    # a secret scheduled for deletion answers as AWS's does: InvalidRequestException, "marked for
    # deletion" (which clients that list every secret's policy skip, e.g. hashicorp/terraform-provider-aws
    # internal/service/secretsmanager/secret_policy_list.go)
    require_not_deleted(secret, "GetResourcePolicy")
    policies = secret.resource_policies()
    if name != DEFAULT_POLICY and name not in policies:
        # "If you specify a name other than default and no policy with that name exists, the
        # operation returns a ResourceNotFoundException." (no default policy: no ResourcePolicy)
        raise ResourceNotFoundException(f"Secrets Manager can't find the resource policy {name} on the secret.")
    out = {"ARN": secret.arn, "Name": secret.name, "PolicyName": name}
    if name in policies:
        out["ResourcePolicy"] = policies[name]
    return out


@mutating("DeleteResourcePolicy")
def delete_resource_policy(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    name = _policy_name(p)
    _authorize(call, "secretsmanager:DeleteResourcePolicy", secret, name)
    require_not_deleted(secret, "DeleteResourcePolicy")
    _only_default(name)
    return _store_policy(call, secret, name, None)


@operation("secretsmanager", "ListResourcePolicies", readonly=True)
def list_resource_policies(call, p):
    """The names of the secret's policies: `default` first, then the others alphabetically.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListResourcePolicies.html"""
    secret = resolve_secret(call, p["SecretId"])
    access.authorize_secret(call, "secretsmanager:ListResourcePolicies", secret)
    offset, limit = decode_token(p.get("NextToken")), p.get("MaxResults") or 100
    names = sorted(secret.resource_policies(), key=lambda n: (n != DEFAULT_POLICY, n))
    out = {"ResourcePolicies": [{"PolicyName": n} for n in names[offset:offset + limit]]}
    if offset + limit < len(names):
        out["NextToken"] = encode_token(offset + limit)
    return out


@operation("secretsmanager", "ValidateResourcePolicy", readonly=True)
def validate_resource_policy(call, p):
    """Three checks, as AWS runs them: syntax, broad access, and not locking the caller out."""
    text = p["ResourcePolicy"]
    secret = None
    if p.get("SecretId"):
        secret = resolve_secret(call, p["SecretId"])
        access.authorize_secret(call, "secretsmanager:ValidateResourcePolicy", secret)
    else:
        access.authorize_account(call, "secretsmanager:ValidateResourcePolicy")
    errors = []
    try:
        access.validate_policy(text)
    except AwsError as err:
        errors.append({"CheckName": "SYNTAX_CHECK", "ErrorMessage": err.message})
        return {"PolicyValidationPassed": False, "ValidationErrors": errors}
    for sid in access.broad_access_statements(text):
        errors.append({"CheckName": "BROAD_ACCESS_CHECK",
                       "ErrorMessage": f"{sid} grants broad access to the secret."})
    if secret is not None and _locks_out(call, secret, text):
        errors.append({"CheckName": "LOCKOUT_PREVENTION_CHECK",
                       "ErrorMessage": "The policy would deny you secretsmanager:PutResourcePolicy on this secret."})
    return {"PolicyValidationPassed": not errors, "ValidationErrors": errors}


def _locks_out(call, secret, text: str) -> bool:
    from dataclasses import replace
    probe = replace(secret, policy=text)
    try:
        access.authorize_secret(call, "secretsmanager:PutResourcePolicy", probe)
    except AwsError:
        return True
    return False


@operation("secretsmanager", "GetRandomPassword", readonly=True)
def get_random_password(call, p):
    access.authorize_account(call, "secretsmanager:GetRandomPassword")
    return {"RandomPassword": random_password(
        length=p.get("PasswordLength") or 32, exclude=p.get("ExcludeCharacters") or "",
        numbers=not p.get("ExcludeNumbers"), punctuation=not p.get("ExcludePunctuation"),
        upper=not p.get("ExcludeUppercase"), lower=not p.get("ExcludeLowercase"),
        space=bool(p.get("IncludeSpace")), require_each=p.get("RequireEachIncludedType", True))}


def random_password(length: int = 32, exclude: str = "", *, numbers=True, punctuation=True, upper=True,
                    lower=True, space=False, require_each=True) -> str:
    if not 1 <= length <= 4096:
        raise InvalidParameterException("PasswordLength must be between 1 and 4096.")
    classes = [c for on, c in ((lower, string.ascii_lowercase), (upper, string.ascii_uppercase),
                               (numbers, string.digits), (punctuation, PUNCTUATION), (space, " ")) if on]
    classes = [c for c in ("".join(ch for ch in cls if ch not in exclude) for cls in classes) if c]
    if not classes:
        raise InvalidParameterException("The password can't be generated: every character type is excluded.")
    if require_each and length < len(classes):
        raise InvalidRequestException(
            f"The password length is too short to include a character from each of the {len(classes)} "
            "included character types.")
    alphabet = "".join(classes)
    rng = pyrandom.SystemRandom()
    while True:
        pw = "".join(rng.choice(alphabet) for _ in range(length))
        if not require_each or all(any(ch in cls for ch in pw) for cls in classes):
            return pw
