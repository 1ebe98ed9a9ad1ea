"""KMS aliases: CreateAlias, UpdateAlias, DeleteAlias, ListAliases.

Names start with `alias/`, are unique per account and Region, and `alias/aws/` is AWS's. An alias
points at one customer managed key of the same account and Region; a key has at most 50.
"""
from __future__ import annotations

import sqlalchemy as sa

from ..authz import authorize
from ..errors import (AlreadyExistsException, InvalidAliasNameException, LimitExceededException,
                      ValidationException)
from ..registry import operation
from . import messages
from .paging import page
from .managed import PREDEFINED
from .model import (AWS_ALIAS_PREFIX, alias_arn, alias_not_found, dt, lookup_alias, require_not_pending_deletion,
                    resolve_key, ts)
from .tables import aliases as aliases_table

MAX_ALIASES_PER_KEY = 50


def _check_name(name: str) -> None:
    """What any alias name must be (CreateAlias, UpdateAlias, DeleteAlias)."""
    if not name.startswith("alias/"):
        raise ValidationException(messages.ALIAS_PREFIX_REQUIRED)
    if ":" in name:
        # the model's pattern allows ':', AWS does not (an alias ARN ends in the name)
        raise ValidationException(messages.ALIAS_INVALID_CHARACTERS.format(name=name))


def _check_new_name(name: str) -> None:
    """What a new alias's name must also be: not AWS's (InvalidAliasNameException is CreateAlias's
    alone; UpdateAlias and DeleteAlias of an `alias/aws/` name find no alias of the caller's, or an
    AWS managed key whose policy refuses them)."""
    _check_name(name)
    if name.startswith(AWS_ALIAS_PREFIX):
        raise InvalidAliasNameException(f"Alias {name} must not begin with '{AWS_ALIAS_PREFIX}' "
                                        "(reserved for AWS managed keys).")
    if name == "alias/":
        raise InvalidAliasNameException("Alias name must not be empty after 'alias/'.")


def _target(call, target_key_id: str):
    key = resolve_key(call, target_key_id, aliases=False, managed=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    if key.account != call.account:
        raise alias_not_found(target_key_id)
    return key


def _existing_alias(call, name: str):
    """The ARN and row of the caller's alias `name` (UpdateAlias, DeleteAlias): a valid name
    first, then NotFoundException for an alias the account and Region do not have."""
    _check_name(name)
    arn = alias_arn(call.region, call.account, name)
    row = lookup_alias(call, call.account, name)
    if row is None:
        raise alias_not_found(arn)
    return arn, row


def _named(call, name: str):
    """The row of the caller's alias `name` in its account and Region."""
    return sa.and_(aliases_table.c.account == call.account, aliases_table.c.region == call.region,
                   aliases_table.c.name == name)


def _authorize_on_alias(call, action: str, arn: str, row):
    """Changing an alias needs `action` on the alias and on the key it points at now (that key
    is returned)."""
    key = resolve_key(call, row.target_key_id, aliases=False, managed=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    authorize(call, action, resource=arn)
    authorize(call, action, key=key)
    return key


CUSTOMER_MANAGED_ONLY = "An alias can only point to a customer managed key."


def _key_type(key) -> str:
    """The type UpdateAlias keeps: "both symmetric or both asymmetric or both HMAC"
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdateAlias.html#KMS-UpdateAlias-request-TargetKeyId)."""
    if key.key_spec == "SYMMETRIC_DEFAULT":
        return "symmetric"
    return "HMAC" if key.key_spec.startswith("HMAC_") else "asymmetric"


@operation("kms", "CreateAlias")
def create_alias(call, p):
    name = p["AliasName"]
    _check_new_name(name)
    key = _target(call, p["TargetKeyId"])
    arn = alias_arn(call.region, call.account, name)
    authorize(call, "kms:CreateAlias", resource=arn)
    # an AWS managed key's policy allows no alias operation: the key policy refuses first
    authorize(call, "kms:CreateAlias", key=key)
    if key.aws_managed:
        raise InvalidAliasNameException(CUSTOMER_MANAGED_ONLY)
    require_not_pending_deletion(key)
    with call.store.write() as conn:
        if lookup_alias(call, call.account, name) is not None:
            raise AlreadyExistsException(f"An alias with the name {arn} already exists")
        count = conn.execute(sa.select(sa.func.count()).select_from(aliases_table).where(
            aliases_table.c.account == call.account, aliases_table.c.region == call.region,
            aliases_table.c.target_key_id == key.key_id)).scalar()
        if count >= MAX_ALIASES_PER_KEY:
            raise LimitExceededException(f"A KMS key can have at most {MAX_ALIASES_PER_KEY} aliases.")
        now = ts(call.now)
        conn.execute(aliases_table.insert().values(account=call.account, region=call.region, name=name,
                                                   target_key_id=key.key_id, creation_date=now,
                                                   last_updated_date=now))
    call.invalidate(("kms-alias", call.account, call.region, name))
    return {}


@operation("kms", "UpdateAlias")
def update_alias(call, p):
    name = p["AliasName"]
    arn, row = _existing_alias(call, name)
    new_key = _target(call, p["TargetKeyId"])  # the new target is resolved before the current one
    old_key = _authorize_on_alias(call, "kms:UpdateAlias", arn, row)
    authorize(call, "kms:UpdateAlias", key=new_key)
    if new_key.aws_managed:
        raise ValidationException(CUSTOMER_MANAGED_ONLY)
    require_not_pending_deletion(new_key)
    # same type (symmetric, asymmetric or HMAC) and same key usage; RSA and ECC are both asymmetric
    if (_key_type(old_key), old_key.key_usage) != (_key_type(new_key), new_key.key_usage):
        raise ValidationException(
            f"Alias {arn} cannot be changed from a {_key_type(old_key)} {old_key.key_usage} key to a "
            f"{_key_type(new_key)} {new_key.key_usage} key: the new key must have the same key type and "
            "key usage.")
    with call.store.write() as conn:
        conn.execute(aliases_table.update().where(_named(call, name)).values(
            target_key_id=new_key.key_id, last_updated_date=ts(call.now)))
    call.invalidate(("kms-alias", call.account, call.region, name))
    return {}


@operation("kms", "DeleteAlias")
def delete_alias(call, p):
    name = p["AliasName"]
    arn, row = _existing_alias(call, name)
    _authorize_on_alias(call, "kms:DeleteAlias", arn, row)
    with call.store.write() as conn:
        conn.execute(aliases_table.delete().where(_named(call, name)))
    call.invalidate(("kms-alias", call.account, call.region, name))
    return {}


@operation("kms", "ListAliases", readonly=True)
def list_aliases(call, p):
    q = aliases_table.select().where(aliases_table.c.account == call.account,
                                     aliases_table.c.region == call.region)
    key = None
    if p.get("KeyId"):
        key = resolve_key(call, p["KeyId"], aliases=False, managed=False)
        call.resource(key.arn, "AWS::KMS::Key", key.account)
        authorize(call, "kms:ListAliases", key=key)
        q = q.where(aliases_table.c.target_key_id == key.key_id)
    else:
        authorize(call, "kms:ListAliases", resource="*")
    with call.store.read() as conn:
        rows = list(conn.execute(q.order_by(aliases_table.c.name)))
    entries = [{"AliasName": r.name, "AliasArn": alias_arn(call.region, call.account, r.name),
                "TargetKeyId": r.target_key_id, "CreationDate": dt(r.creation_date),
                "LastUpdatedDate": dt(r.last_updated_date)} for r in rows]
    if key is None:
        # AWS lists its predefined aliases even before their managed keys exist
        present = {r.name for r in rows}
        entries += [{"AliasName": n, "AliasArn": alias_arn(call.region, call.account, n)}
                    for n in PREDEFINED if n not in present]
        entries.sort(key=lambda e: e["AliasName"])
    chunk, extra = page(entries, p.get("Limit", 50), p.get("Marker"), lambda e: e["AliasName"])
    return {"Aliases": chunk, **extra}
