"""KMS keys: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription, Enable/DisableKey,
ScheduleKeyDeletion / CancelKeyDeletion, and the scheduled deletion when a window ends. DisableKey
and ScheduleKeyDeletion offer policies kms:TrailingDaysWithoutKeyUsage (usage.py)."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from .. import tagging
from ..authz import authorize
from ..errors import (InvalidMarkerException, KMSInvalidStateException, UnsupportedOperationException,
                      ValidationException, invalid_value)
from ..policy import default_key_policy
from ..registry import operation
from . import custom_key_stores, imports, messages, multi_region, policies, specs, usage
from .model import (Key, add_material, delete_key_everywhere, dt, insert_key, key_arn, new_key_id,
                    require_not_pending_deletion, require_state, resolve_key, save_key, ts)
from .paging import marker, unmarker
from .tables import keys as keys_table
from .tags import validate_tags


@operation("kms", "CreateKey")
def create_key(call, p):
    authorize(call, "kms:CreateKey", resource="*")
    spec_name = p.get("KeySpec")
    legacy = p.get("CustomerMasterKeySpec")
    if spec_name and legacy and spec_name != legacy:
        raise ValidationException("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                                  "CustomerMasterKeySpec is deprecated.")
    spec_name = spec_name or legacy or "SYMMETRIC_DEFAULT"
    spec = specs.SPECS.get(spec_name)
    if spec is None:
        raise UnsupportedOperationException(
            specs.UNSERVED.get(spec_name, f"KeySpec {spec_name} is not supported in this Region."))
    # KeyUsage "is optional when you are creating a symmetric encryption KMS key; otherwise, it is
    # required" (CreateKey's reference)
    usage = p.get("KeyUsage")
    if usage is None and spec_name != "SYMMETRIC_DEFAULT":
        raise ValidationException(messages.KEY_USAGE_REQUIRED)
    usage = usage or "ENCRYPT_DECRYPT"
    if usage not in spec.usages:
        raise ValidationException((messages.SYMMETRIC_KEY_USAGE if spec_name == "SYMMETRIC_DEFAULT" else
                                   messages.KEY_USAGE_NOT_COMPATIBLE).format(usage=usage, spec=spec_name))
    in_many_regions = bool(p.get("MultiRegion"))
    key_id = new_key_id(in_many_regions)
    key = Key(
        arn=key_arn(call.region, call.account, key_id), key_id=key_id, account=call.account,
        region=call.region, key_usage=usage, key_spec=spec_name,
        origin=p.get("Origin") or "AWS_KMS", description=p.get("Description", ""),
        creation_date=ts(call.now), policy=p.get("Policy") or default_key_policy(call.account),
        multi_region=in_many_regions, primary_region=call.region if in_many_regions else None,
    )
    tags = validate_tags(p.get("Tags") or [])
    # the options other features own, in this order: the first that fails is the error
    custom_key_stores.check_create_key(call, p, key)
    multi_region.check_create_key(call, p, key)
    policies.policy_for_new_key(call, p, key)
    make_material = MATERIAL_BY_ORIGIN.get(key.origin)
    if make_material is None:
        raise UnsupportedOperationException(f"Origin {key.origin} is not supported.")
    insert_key(call, key)
    make_material(call, p, key, spec)
    save_key(call, key)
    if tags:
        with call.store.write() as conn:
            tagging.set_tags(conn, key.arn, tags)
    call.resource(key.arn, "AWS::KMS::Key")
    return {"KeyMetadata": key.metadata()}


def generated_material(call, p, key: Key, spec: specs.KeySpec) -> None:
    """Origin AWS_KMS: keyplane generates the material."""
    secret = spec.generate()
    public = getattr(spec, "public_key", None)
    extra = {"public_key": public(secret)} if public else {}
    key.current_material_id = add_material(call, key, secret, **extra)


# Origin -> function(call, params, key, spec) that gives a just-inserted key its material (or leaves
# it PendingImport). EXTERNAL_KEY_STORE is not served.
MATERIAL_BY_ORIGIN = {
    "AWS_KMS": generated_material,
    "EXTERNAL": imports.pending_import,
    "AWS_CLOUDHSM": custom_key_stores.material_in_token,
}


@operation("kms", "DescribeKey", readonly=True)
def describe_key(call, p):
    key = resolve_key(call, p["KeyId"])
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    authorize(call, "kms:DescribeKey", key=key)
    return {"KeyMetadata": key.metadata()}


@operation("kms", "ListKeys", readonly=True)
def list_keys(call, p):
    """The caller's keys in the Region (ResourceOwners SELF, the default), then the keys other
    accounts share with it through Resource Access Manager (OTHER_ACCOUNTS_VIA_RAM): keyplane has no
    RAM, so no key is ever shared that way and that part of the list is always empty. (A key policy
    naming another account is not a RAM share: AWS does not list such keys either.)"""
    authorize(call, "kms:ListKeys", resource="*")
    owners = frozenset(p.get("ResourceOwners") or ("SELF",))
    limit = p.get("Limit", 100)
    after = _list_keys_position(p.get("Marker"), owners)
    if "SELF" not in owners:
        return {"Keys": [], "Truncated": False}
    q = sa.select(keys_table.c.key_id, keys_table.c.arn).where(
        keys_table.c.account == call.account, keys_table.c.region == call.region)
    if after is not None:
        q = q.where(keys_table.c.key_id > after)
    q = q.order_by(keys_table.c.key_id).limit(limit + 1)
    with call.store.read() as conn:
        rows = list(conn.execute(q))
    chunk = rows[:limit]
    out = {"Keys": [{"KeyId": r.key_id, "KeyArn": r.arn} for r in chunk], "Truncated": len(rows) > limit}
    if len(rows) > limit:
        out["NextMarker"] = marker(_owners_prefix(owners) + chunk[-1].key_id)
    return out


def _owners_prefix(owners: frozenset) -> str:
    """What a ListKeys marker starts with for these ResourceOwners: nothing for SELF alone (the
    markers keyplane has always issued), else the owners, so a marker is honoured only by a request
    with the same ResourceOwners ("Otherwise, the request can fail with an InvalidMarkerException")."""
    return "" if owners == {"SELF"} else ",".join(sorted(owners)) + ":"


def _list_keys_position(marker_in: str | None, owners: frozenset) -> str | None:
    """The key id a ListKeys marker continues after (key ids hold no ':')."""
    if marker_in is None:
        return None
    value, prefix = unmarker(marker_in), _owners_prefix(owners)
    if not value.startswith(prefix) or ":" in value[len(prefix):]:
        raise InvalidMarkerException(messages.INVALID_MARKER)
    return value[len(prefix):]


def managed_key(call, p, action: str, context: dict | None = None, key_context=None):
    """The key a management operation names (key id or ARN, no aliases), recorded for the audit
    trail and authorised for `action`; `key_context(call, key)` adds condition keys of the key."""
    key = resolve_key(call, p["KeyId"], aliases=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    if key_context is not None:
        context = {**(context or {}), **key_context(call, key)}
    authorize(call, action, key=key, context=context)
    return key


@operation("kms", "UpdateKeyDescription")
def update_key_description(call, p):
    key = managed_key(call, p, "kms:UpdateKeyDescription")
    require_not_pending_deletion(key)
    key.description = p["Description"]
    save_key(call, key)
    return {}


def _set_enabled(call, p, enabled: bool) -> dict:
    """EnableKey / DisableKey: a key that is Unavailable (custom key store disconnected) takes the
    new setting when it becomes available again."""
    if enabled:
        key = managed_key(call, p, "kms:EnableKey")
    else:
        key = managed_key(call, p, "kms:DisableKey", key_context=usage.unused_days_condition)
    require_state(key, ("Enabled", "Disabled", "Unavailable"))
    if key.state == "Unavailable":
        key.attrs["enabled_when_available"] = enabled
        save_key(call, key)
    elif key.state != ("Enabled" if enabled else "Disabled"):
        key.state = "Enabled" if enabled else "Disabled"
        save_key(call, key)
    return {}


@operation("kms", "EnableKey")
def enable_key(call, p):
    return _set_enabled(call, p, True)


@operation("kms", "DisableKey")
def disable_key(call, p):
    return _set_enabled(call, p, False)


@operation("kms", "ScheduleKeyDeletion")
def schedule_key_deletion(call, p):
    # the model admits 1-365 days, the service 7-30 ("If you include a value, it must be between 7
    # and 30, inclusive"): a check of the request alone, made before the key is looked up
    days = p.get("PendingWindowInDays", 30)
    if days < 7:
        raise invalid_value(days, "pendingWindowInDays", "Member must have value greater than or equal to 7")
    if days > 30:
        raise invalid_value(days, "pendingWindowInDays", "Member must have value less than or equal to 30")
    key = managed_key(call, p, "kms:ScheduleKeyDeletion", {"kms:ScheduleKeyDeletionPendingWindowInDays": days},
                      key_context=usage.unused_days_condition)
    if key.state in ("PendingDeletion", "PendingReplicaDeletion", "Updating"):
        raise KMSInvalidStateException(f"{key.arn} is pending deletion." if key.state != "Updating"
                                       else f"{key.arn} is updating.")
    key.attrs["state_before_deletion"] = key.state
    if multi_region.schedule_primary_deletion(call, key, days):
        save_key(call, key)
        out = {"KeyId": key.arn, "KeyState": key.state, "PendingWindowInDays": days}
        if key.deletion_date is not None:
            out["DeletionDate"] = dt(key.deletion_date)
        return out
    key.state = "PendingDeletion"
    key.pending_window_days = days
    key.deletion_date = ts(call.now + timedelta(days=days))
    save_key(call, key)
    return {"KeyId": key.arn, "DeletionDate": dt(key.deletion_date), "KeyState": key.state,
            "PendingWindowInDays": days}


@operation("kms", "CancelKeyDeletion")
def cancel_key_deletion(call, p):
    key = managed_key(call, p, "kms:CancelKeyDeletion")
    if key.state not in ("PendingDeletion", "PendingReplicaDeletion"):
        raise KMSInvalidStateException(f"{key.arn} is not pending deletion.")
    before = key.attrs.pop("state_before_deletion", None)
    # AWS leaves a cancelled key Disabled; a key awaiting import goes back to waiting for it
    key.state = "PendingImport" if before == "PendingImport" else "Disabled"
    key.deletion_date = None
    key.pending_window_days = None
    custom_key_stores.cancelled_while_disconnected(call, key)
    save_key(call, key)
    return {"KeyId": key.arn}


def delete_due_keys(engine, store, now) -> int:
    with store.read() as conn:
        due = list(conn.execute(sa.select(keys_table.c.arn, keys_table.c.account, keys_table.c.region,
                                          keys_table.c.key_id).where(
            keys_table.c.state == "PendingDeletion", keys_table.c.deletion_date <= now.timestamp())))
    for row in due:
        with store.write() as conn:
            # re-check under the write lock: it may have been cancelled meanwhile
            still = conn.execute(sa.select(keys_table.c.state, keys_table.c.deletion_date).where(
                keys_table.c.arn == row.arn)).first()
            if still is None or still.state != "PendingDeletion" or still.deletion_date > now.timestamp():
                continue
            delete_key_everywhere(conn, row.arn, row.account, row.region, row.key_id)
            engine.service_event(store, "kms", "DeleteKey", row.region, row.account,
                                 [("AWS::KMS::Key", row.arn)], {"keyId": row.key_id})
        engine.cache.pop(("kms-key", row.arn))
        custom_key_stores.destroy_in_token(engine, store, row)
        multi_region.after_member_deleted(engine, store, row)
    return len(due)
