"""Resource policies on secrets (Put/Get/Delete/ValidateResourcePolicy) and
GetRandomPassword — the two Secrets Manager operations that touch no secret value."""
from __future__ import annotations

import secrets as pyrandom
import string

from ..errors import AwsError
from ..registry import operation
from . import access
from .errors import InvalidParameterException, InvalidRequestException
from .model import mutating, resolve_secret, save_secret

PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _policy_name(p) -> None:
    if p.get("PolicyName") not in (None, "default"):
        raise InvalidParameterException("Only the resource policy named 'default' can be managed.")


@mutating("PutResourcePolicy")
def put_resource_policy(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    block = bool(p.get("BlockPublicPolicy"))
    access.authorize_secret(call, "secretsmanager:PutResourcePolicy", secret,
                            {"secretsmanager:BlockPublicPolicy": block})
    _policy_name(p)
    text = p["ResourcePolicy"]
    access.validate_policy(text)
    if block:
        access.check_public(text)
    with call.store.write() as conn:
        secret.policy = text
        save_secret(conn, secret)
    return {"ARN": secret.arn, "Name": secret.name}


@operation("secretsmanager", "GetResourcePolicy", readonly=True)
def get_resource_policy(call, p):
    secret = resolve_secret(call, p["SecretId"])
    access.authorize_secret(call, "secretsmanager:GetResourcePolicy", secret)
    _policy_name(p)
    out = {"ARN": secret.arn, "Name": secret.name}
    if secret.policy:
        out["ResourcePolicy"] = secret.policy
    return out


@mutating("DeleteResourcePolicy")
def delete_resource_policy(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:DeleteResourcePolicy", secret)
    _policy_name(p)
    with call.store.write() as conn:
        secret.policy = None
        save_secret(conn, secret)
    return {"ARN": secret.arn, "Name": secret.name}


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
