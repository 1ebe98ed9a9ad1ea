"""KMS grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant. The question
authorisation asks of grants (`grant_allowing`) and the grant record are grant_rules.py's.

A grant lets its grantee perform some operations on one key, optionally only with a matching
encryption context; it needs no identity policy, even across accounts. keyplane's grants are
consistent at once, so a grant token only has to be well formed and name a grant that existed.
Grants of a key are cached with the key (engine cache), so a grant-authorised Encrypt does no
database work either.
"""
from __future__ import annotations

import json
import os

import sqlalchemy as sa

from ..authz import access_denied, authorize
from ..errors import (AccessDeniedException, DryRunOperationException, InvalidGrantIdException,
                      InvalidGrantTokenException, LimitExceededException, NotFoundException, ValidationException)
from ..policy import NO_MATCH
from ..registry import operation
from . import messages
from .grant_rules import (CONTEXT_OPERATIONS, UNCONSTRAINED_OPERATIONS, Grant, grant_id_of_token, grants_of,
                          new_token)
from .model import Key, get_key, require_not_pending_deletion, resolve_key, ts
from .paging import page
from .tables import grants as grants_table

MAX_GRANTS_PER_KEY = 50_000

# Grant operations a key supports, by key usage.
_USAGE_OPERATIONS = {
    "ENCRYPT_DECRYPT": {"Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey",
                        "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                        "GenerateDataKeyPairWithoutPlaintext"},
    "SIGN_VERIFY": {"Sign", "Verify", "GetPublicKey"},
    "GENERATE_VERIFY_MAC": {"GenerateMac", "VerifyMac"},
    "KEY_AGREEMENT": {"DeriveSharedSecret", "GetPublicKey"},
    "ENCAPSULATE_DECAPSULATE": {"Encapsulate", "Decapsulate", "GetPublicKey"},
}
_ALWAYS = {"CreateGrant", "RetireGrant", "DescribeKey"}


# ---- operations ----------------------------------------------------------------------------

def _dry_run(p) -> None:
    if p.get("DryRun"):
        raise DryRunOperationException(messages.DRY_RUN)


def _check_principal(value: str, member: str) -> None:
    """Grantee and retiring principals are ARNs of AWS principals, or service principals."""
    if value.endswith(".amazonaws.com"):
        return
    parts = value.split(":", 5)
    ok = (len(parts) == 6 and parts[0] == "arn" and parts[2] in ("iam", "sts") and parts[4].isdigit()
          and len(parts[4]) == 12 and parts[5])
    if not ok:
        raise ValidationException(f"{member} {value} is not a valid principal.")


def _one_of(p, member: str, service_member: str, *, required: bool, message: str) -> tuple[str | None, bool]:
    """(principal, is a service principal) from a pair of members at most one of which may be given
    (exactly one if `required`): GranteePrincipal / GranteeServicePrincipal and the like."""
    principal, service = p.get(member), p.get(service_member)
    if (principal is not None and service is not None) or (required and principal is None and service is None):
        raise ValidationException(message)
    return (service, True) if service is not None else (principal, False)


GRANTEE_ONE_OF = "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both."
RETIRING_AT_MOST_ONE = "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not both."
RETIRING_ONE_OF = "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both."
GRANTEE_FILTER_AT_MOST_ONE = "You can specify either GranteePrincipal or GranteeServicePrincipal, but not both."


def _check_service_grant(p, retiring: str | None) -> None:
    """A grant for a service principal must say on behalf of which resource (SourceArn) and who
    retires it."""
    if (p.get("Constraints") or {}).get("SourceArn") is None:
        raise ValidationException("When you specify a GranteeServicePrincipal, you must also specify a SourceArn "
                                  "grant constraint.")
    if retiring is None:
        raise ValidationException("When you specify a GranteeServicePrincipal, you must also specify either a "
                                  "RetiringPrincipal or a RetiringServicePrincipal.")


def _require_service_caller(call, member: str, action: str, resource: str) -> None:
    """The service-principal filters of ListGrants and ListRetirableGrants are only usable by callers
    that are AWS service principals; keyplane's callers are IAM identities."""
    if call.principal.type != "AWSService":
        raise AccessDeniedException(
            f"User: {call.principal.arn} is not authorized to perform: {action} on resource: {resource} "
            f"because the {member} filter is only usable by callers in a service principal")


def _validate_constraints(constraints: dict | None, operations: list[str]) -> dict | None:
    if not constraints:
        return None
    from ..policy import schema_error_message
    from keyplane.schemas import validator
    from jsonschema.exceptions import best_match
    error = best_match(validator("grant-constraints").iter_errors(constraints))
    if error is not None:
        raise ValidationException(f"Constraints.{schema_error_message(error)}".replace("Constraints.Policy", "Constraints"))
    if constraints.get("EncryptionContextEquals") is not None and constraints.get("EncryptionContextSubset") is not None:
        raise ValidationException("You can specify either EncryptionContextEquals or EncryptionContextSubset, "
                                  "but not both.")
    if constraints.get("EncryptionContextEquals") is not None or constraints.get("EncryptionContextSubset") is not None:
        unsupported = [op for op in operations if op not in CONTEXT_OPERATIONS and op not in UNCONSTRAINED_OPERATIONS]
        if unsupported:
            raise ValidationException(
                f"Grant constraints are not supported for the operations {', '.join(unsupported)}: they accept "
                "no encryption context.")
    return {k: v for k, v in constraints.items() if v is not None}


def _at_least_as_strict(child: dict | None, parent: dict | None) -> bool:
    """Whether a child grant's constraints are no looser than the grant that allowed creating it."""
    if not parent:
        return True
    child = child or {}
    if parent.get("SourceArn") is not None and child.get("SourceArn") != parent["SourceArn"]:
        return False
    p_eq, p_sub = parent.get("EncryptionContextEquals"), parent.get("EncryptionContextSubset")
    c_eq, c_sub = child.get("EncryptionContextEquals"), child.get("EncryptionContextSubset")
    if p_eq is not None:
        return c_eq == p_eq
    if p_sub is not None:
        required = c_eq if c_eq is not None else c_sub
        return required is not None and all(required.get(k) == v for k, v in p_sub.items())
    return True


@operation("kms", "CreateGrant")
def create_grant(call, p):
    # the model leaves both grantee members optional: exactly one of them names the grantee
    grantee, grantee_service = _one_of(p, "GranteePrincipal", "GranteeServicePrincipal", required=True,
                                       message=GRANTEE_ONE_OF)
    retiring, retiring_service = _one_of(p, "RetiringPrincipal", "RetiringServicePrincipal", required=False,
                                         message=RETIRING_AT_MOST_ONE)
    if grantee_service:
        _check_service_grant(p, retiring)
    operations = list(dict.fromkeys(p.get("Operations") or []))
    if not operations:
        raise ValidationException("1 validation error detected: Value '[]' at 'operations' failed to satisfy "
                                  "constraint: Member must have length greater than or equal to 1")
    if operations == ["CreateGrant"]:
        raise ValidationException(messages.GRANT_ONLY_CREATE_GRANT)
    key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
    if not grantee_service:
        _check_principal(grantee, "GranteePrincipal")
    if retiring and not retiring_service:
        _check_principal(retiring, "RetiringPrincipal")
    allowed = authorize(call, "kms:CreateGrant", key=key)
    require_not_pending_deletion(key)
    supported = _USAGE_OPERATIONS.get(key.key_usage, set()) | _ALWAYS
    if key.key_usage == "ENCRYPT_DECRYPT" and not key.spec.symmetric:
        supported = (supported - {"GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
                                  "GenerateDataKeyPairWithoutPlaintext"}) | {"GetPublicKey"}
    bad = [op for op in operations if op not in supported]
    if bad:
        raise ValidationException(f"Grant operations {bad} are not supported by KMS key {key.arn} "
                                  f"(KeySpec {key.key_spec}, KeyUsage {key.key_usage}).")
    constraints = _validate_constraints(p.get("Constraints"), operations)
    parent = getattr(allowed, "grant", None)
    if parent is not None:
        # Authority that came from a grant can only be passed on, never widened.
        if not set(operations) <= parent.operations or not _at_least_as_strict(constraints, parent.constraints):
            raise call_denied(call, key)
    name = p.get("Name")
    _dry_run(p)
    ops_json = json.dumps(sorted(operations))
    constraints_json = json.dumps(constraints, sort_keys=True) if constraints else None
    with call.store.write() as conn:
        if name:
            for g in conn.execute(grants_table.select().where(grants_table.c.key_arn == key.arn,
                                                              grants_table.c.name == name)):
                if (g.grantee_principal == grantee and bool(g.grantee_service) == grantee_service
                        and g.retiring_principal == retiring and bool(g.retiring_service) == retiring_service
                        and g.operations == ops_json and g.constraints == constraints_json):
                    return {"GrantToken": new_token(g.grant_id), "GrantId": g.grant_id}
        count = conn.execute(sa.select(sa.func.count()).select_from(grants_table)
                             .where(grants_table.c.key_arn == key.arn)).scalar()
        if count >= MAX_GRANTS_PER_KEY:
            raise LimitExceededException(f"The request would exceed the limit of {MAX_GRANTS_PER_KEY} grants "
                                         f"for KMS key {key.arn}.")
        grant_id = os.urandom(32).hex()
        conn.execute(grants_table.insert().values(
            grant_id=grant_id, key_arn=key.arn, name=name, grantee_principal=grantee,
            grantee_service=grantee_service, retiring_principal=retiring, retiring_service=retiring_service,
            issuing_account=call.principal.account, operations=ops_json,
            constraints=constraints_json, creation_date=ts(call.now)))
        call.invalidate(("kms-grants", key.arn))
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"GrantToken": new_token(grant_id), "GrantId": grant_id}


def call_denied(call, key: Key):
    return access_denied(call, "kms:CreateGrant", key.arn)


def _grant_by_id(call, key: Key, grant_id: str) -> Grant:
    for g in grants_of(call, key):
        if g.grant_id == grant_id:
            return g
    if len(grant_id) != 64 or any(c not in "0123456789abcdef" for c in grant_id):
        raise InvalidGrantIdException(f"Invalid grant ID {grant_id}")
    raise NotFoundException(f"Grant ID {grant_id} not found")


def _delete_grant(call, key: Key, grant: Grant) -> None:
    with call.store.write() as conn:
        conn.execute(grants_table.delete().where(grants_table.c.grant_id == grant.grant_id))
    call.invalidate(("kms-grants", key.arn))


def _find_grant(call, grant_id: str) -> tuple[Key, Grant] | None:
    with call.store.read() as conn:
        row = conn.execute(grants_table.select().where(grants_table.c.grant_id == grant_id)).first()
    if row is None:
        return None
    key = get_key(call, row.key_arn)
    return (key, Grant(row)) if key is not None else None


@operation("kms", "RetireGrant")
def retire_grant(call, p):
    token, key_id, grant_id = p.get("GrantToken"), p.get("KeyId"), p.get("GrantId")
    if token:
        token_grant = grant_id_of_token(token)
        if grant_id and grant_id != token_grant:
            raise InvalidGrantTokenException("The grant token does not match the grant ID.")
        grant_id = token_grant
        found = _find_grant(call, grant_id)
        if found is None:
            raise NotFoundException(f"Grant ID {grant_id} not found")
        key, grant = found
        if key_id:
            named = resolve_key(call, key_id, aliases=False, managed=False)
            if named.arn != key.arn:
                raise NotFoundException(f"Grant ID {grant_id} not found")
    elif key_id and grant_id:
        key = resolve_key(call, key_id, aliases=False, managed=False)
        grant = _grant_by_id(call, key, grant_id)
    else:
        raise ValidationException("Either GrantToken, or both KeyId and GrantId, must be specified.")
    principal = call.principal
    # Retiring is decided by the grant itself: its retiring principal, its grantee when it includes
    # RetireGrant, or the account that created it; failing those, the key's policies.
    if not (grant.retiring_match(principal) != NO_MATCH
            or ("RetireGrant" in grant.operations and grant.grantee_match(principal) != NO_MATCH)
            or (principal.type == "Root" and principal.account == grant.issuing_account)):
        authorize(call, "kms:RetireGrant", key=key)
    _dry_run(p)
    _delete_grant(call, key, grant)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {}


@operation("kms", "RevokeGrant")
def revoke_grant(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
    authorize(call, "kms:RevokeGrant", key=key)
    grant = _grant_by_id(call, key, p["GrantId"])
    _dry_run(p)
    _delete_grant(call, key, grant)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {}


def _limit(p) -> int:
    return min(p.get("Limit") or 50, 100)


@operation("kms", "ListGrants", readonly=True)
def list_grants(call, p):
    grantee, grantee_service = _one_of(p, "GranteePrincipal", "GranteeServicePrincipal", required=False,
                                       message=GRANTEE_FILTER_AT_MOST_ONE)
    key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
    authorize(call, "kms:ListGrants", key=key)
    if grantee_service:
        _require_service_caller(call, "GranteeServicePrincipal", "kms:ListGrants", key.arn)
    grants = list(grants_of(call, key))
    if p.get("GrantId"):
        grants = [g for g in grants if g.grant_id == p["GrantId"]]
    if grantee is not None:
        grants = [g for g in grants if g.grantee == grantee and g.grantee_service == grantee_service]
    grants.sort(key=_order)
    chunk, extra = page(grants, _limit(p), p.get("Marker"), _order)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    return {"Grants": [g.entry(key) for g in chunk], **extra}


def _order(g: Grant) -> str:
    return f"{g.creation_date:020.6f}:{g.grant_id}"


@operation("kms", "ListRetirableGrants", readonly=True)
def list_retirable_grants(call, p):
    # the model leaves both members optional: exactly one of them names the retiring principal
    retiring, retiring_service = _one_of(p, "RetiringPrincipal", "RetiringServicePrincipal", required=True,
                                         message=RETIRING_ONE_OF)
    authorize(call, "kms:ListRetirableGrants", resource="*")
    if retiring_service:
        _require_service_caller(call, "RetiringServicePrincipal", "kms:ListRetirableGrants", "*")
    in_region = f"arn:aws:kms:{call.region}:"     # grants in the caller's Region (a store may hold several)
    with call.store.read() as conn:
        rows = conn.execute(grants_table.select().where(grants_table.c.retiring_principal == retiring)).fetchall()
    grants = sorted((Grant(r) for r in rows
                     if bool(r.retiring_service) == retiring_service and r.key_arn.startswith(in_region)), key=_order)
    chunk, extra = page(grants, _limit(p), p.get("Marker"), _order)
    out = []
    for g in chunk:
        key = get_key(call, g.key_arn)
        if key is not None:
            out.append(g.entry(key))
    return {"Grants": out, **extra}
