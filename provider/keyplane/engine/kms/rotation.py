"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
ListKeyRotations, and the scheduled automatic rotation (`kms.rotate-keys`).

A rotation adds key material and makes it CURRENT; every earlier material stays NON_CURRENT and
keeps decrypting, because each ciphertext names the material that sealed it. Automatic rotation is
for symmetric encryption keys whose material keyplane generated (Origin AWS_KMS); AWS managed keys
rotate every 365 days on their own. On-demand rotation also serves imported material: the new
material must already be imported (PENDING_ROTATION) and the rotation makes it current.

On-demand rotation completes within the call (AWS finishes it in the background moments later),
so GetKeyRotationStatus never shows an OnDemandRotationStartDate still in progress: the field is
absent, as AWS leaves it once its rotation is done. Every rotation writes a `RotateKey` service event.
"""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..authz import authorize
from ..errors import (ConflictException, KMSInvalidStateException, LimitExceededException,
                      UnsupportedOperationException)
from ..registry import operation
from . import messages, specs
from .paging import page
from .model import Key, add_material, dt, get_key, list_materials, require_state, resolve_key, save_key, ts
from .tables import keys as keys_table
from .tables import materials as materials_table

DEFAULT_PERIOD_DAYS = 365
MANAGED_PERIOD_DAYS = 365
MAX_ON_DEMAND_ROTATIONS = 25
# AWS refuses an on-demand rotation this close to a scheduled one
CONFLICT_WINDOW = timedelta(minutes=20)


class ServiceCall:
    """What KMS helpers need from a call, for work the service does on its own (the scheduler)."""

    def __init__(self, engine, store, now: datetime):
        self.engine, self.store, self.now = engine, store, now
        self.resources: list = []

    @property
    def root_key(self):
        return self.engine.root_key_for(self.store)

    def invalidate(self, cache_key) -> None:
        self.engine.cache.pop(cache_key)
        self.store.after_commit(lambda: self.engine.cache.pop(cache_key))


# ---- what may rotate ---------------------------------------------------------------------------
def _is_replica(key: Key) -> bool:
    return key.multi_region and key.primary_region not in (None, key.region)


def _unsupported(key: Key, what: str) -> UnsupportedOperationException | None:
    """Why `key` cannot have `what` ("automatic" or "on-demand") rotation, or None.

    Automatic rotation is for keys whose material KMS made (origin AWS_KMS): imported material
    (EXTERNAL) and keys in a custom key store (AWS_CLOUDHSM) get AWS's origin answer. On-demand
    rotation also serves imported material, but not a multi-Region key's
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html)."""
    if what == "automatic" and key.origin != "AWS_KMS":
        return origin_not_valid(key)
    if key.custom_key_store_id:
        return UnsupportedOperationException(
            f"{key.arn} is in a custom key store, which does not support {what} key rotation.")
    if not key.is_symmetric_encryption:
        return UnsupportedOperationException(
            f"{key.arn} key spec {key.key_spec} does not support {what} key rotation: only symmetric "
            "encryption KMS keys can be rotated.")
    if what == "on-demand" and key.multi_region and key.origin == "EXTERNAL":
        return UnsupportedOperationException(
            f"{key.arn} is a multi-Region key with imported key material, which does not support "
            "on-demand key rotation.")
    if _is_replica(key):
        return UnsupportedOperationException(
            f"{key.arn} is a multi-Region replica key: set key rotation on its primary key in "
            f"{key.primary_region}.")
    return None


def origin_not_valid(key: Key) -> UnsupportedOperationException:
    return UnsupportedOperationException(messages.ORIGIN_NOT_VALID.format(arn=key.arn, origin=key.origin))


def _require_automatic_supported(key: Key) -> None:
    err = _unsupported(key, "automatic")
    if err is not None:
        raise err


def next_rotation(key: Key) -> float | None:
    """When automatic rotation next happens (epoch seconds), or None if it is off."""
    if not key.rotation_enabled:
        return None
    if key.next_rotation_date is not None:
        return key.next_rotation_date
    # AWS managed keys: a year after creation (their record carries no date until first rotation)
    period = key.rotation_period_days or MANAGED_PERIOD_DAYS
    return key.creation_date + period * 86400


# ---- operations --------------------------------------------------------------------------------
@operation("kms", "EnableKeyRotation")
def enable_key_rotation(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    period = p.get("RotationPeriodInDays")
    authorize(call, "kms:EnableKeyRotation", key=key,
              context={"kms:RotationPeriodInDays": period or DEFAULT_PERIOD_DAYS})
    if key.aws_managed:
        raise UnsupportedOperationException(f"{key.arn} is an AWS managed key: its rotation is not configurable.")
    _require_automatic_supported(key)
    require_state(key, ("Enabled", "Updating"))
    period = period or DEFAULT_PERIOD_DAYS
    now = ts(call.now)
    if key.rotation_enabled:
        # a new period counts from the last automatic rotation (or from when rotation was enabled)
        anchor = key.attrs.get("rotation_anchor", now)
        key.next_rotation_date = max(anchor + period * 86400, now)
    else:
        key.attrs["rotation_anchor"] = now
        key.next_rotation_date = now + period * 86400
    key.rotation_enabled = True
    key.rotation_period_days = period
    save_key(call, key)
    call.resource(key.arn, "AWS::KMS::Key")
    return {}


@operation("kms", "DisableKeyRotation")
def disable_key_rotation(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    authorize(call, "kms:DisableKeyRotation", key=key)
    if key.aws_managed:
        raise UnsupportedOperationException(f"{key.arn} is an AWS managed key: its rotation is not configurable.")
    _require_automatic_supported(key)
    require_state(key, ("Enabled", "Updating"))
    key.rotation_enabled = False
    key.next_rotation_date = None
    key.attrs.pop("rotation_anchor", None)
    save_key(call, key)
    call.resource(key.arn, "AWS::KMS::Key")
    return {}


@operation("kms", "GetKeyRotationStatus", readonly=True)
def get_key_rotation_status(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    authorize(call, "kms:GetKeyRotationStatus", key=key)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    if key.origin != "AWS_KMS":
        # imported material or a custom key store: refused, whatever the key's state (AWS's answer
        # for a key of origin EXTERNAL, quoted in ansible-collections/community.aws#311)
        raise origin_not_valid(key)
    # AWS: a key pending deletion reports false (and true again if the deletion is cancelled);
    # the other keys that cannot rotate automatically (asymmetric, HMAC) always report false.
    # A multi-Region replica reports its primary's setting, synchronised to it (a shared property).
    as_rotating = replace(key, primary_region=None) if _is_replica(key) else key
    enabled = (key.rotation_enabled and _unsupported(as_rotating, "automatic") is None
               and key.state not in ("PendingDeletion", "PendingReplicaDeletion"))
    out = {"KeyRotationEnabled": enabled, "KeyId": key.arn}
    if enabled:
        out["RotationPeriodInDays"] = key.rotation_period_days or DEFAULT_PERIOD_DAYS
        out["NextRotationDate"] = dt(next_rotation(key))
    if key.on_demand_rotation_start is not None:
        out["OnDemandRotationStartDate"] = dt(key.on_demand_rotation_start)
    return out


@operation("kms", "RotateKeyOnDemand")
def rotate_key_on_demand(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    authorize(call, "kms:RotateKeyOnDemand", key=key)
    if key.aws_managed:
        raise UnsupportedOperationException(
            f"{key.arn} is an AWS managed key: KMS rotates its key material every year.")
    # the key's state is checked before its type: a disabled RSA key is DisabledException
    require_state(key, ("Enabled",))
    err = _unsupported(key, "on-demand")
    if err is not None:
        raise err
    due = next_rotation(key)
    if due is not None and due - ts(call.now) <= CONFLICT_WINDOW.total_seconds():
        raise ConflictException(f"{key.arn} has an automatic rotation in progress or due within "
                                f"{int(CONFLICT_WINDOW.total_seconds() // 60)} minutes. Try again later.")
    materials = list_materials(call, key)
    if sum(1 for m in materials if m.rotation_type == "ON_DEMAND") >= MAX_ON_DEMAND_ROTATIONS:
        raise LimitExceededException(f"{key.arn} has reached the maximum of {MAX_ON_DEMAND_ROTATIONS} "
                                     "on-demand rotations.")
    if key.origin == "EXTERNAL":
        pending = [m for m in materials if m.state == "PENDING_ROTATION" and m.import_state == "IMPORTED"]
        if not pending:
            raise KMSInvalidStateException(
                f"{key.arn} has no imported key material in PENDING_ROTATION state: import new key "
                "material (ImportType NEW_KEY_MATERIAL) before rotating.")
        promote(call, key, pending[0].material_id, "ON_DEMAND")
    else:
        rotate(call, key, "ON_DEMAND")
    call.resource(key.arn, "AWS::KMS::Key")
    return {"KeyId": key.arn}


@operation("kms", "ListKeyRotations", readonly=True)
def list_key_rotations(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    authorize(call, "kms:ListKeyRotations", key=key)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    if not key.is_symmetric_encryption or key.custom_key_store_id:
        raise _unsupported(key, "on-demand")
    include_all = p.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    rows = ordered_materials(call, key)
    if not include_all:
        rows = [m for m in rows if m.rotation_type is not None]
    entries = [_rotation_entry(key, m) for m in rows]
    # the marker is the position-padded index, so it sorts as the rows do
    indexed = [(f"{i:08d}", e) for i, e in enumerate(entries)]
    chunk, extra = page(indexed, p.get("Limit", 100), p.get("Marker"), lambda r: r[0])
    return {"Rotations": [e for _, e in chunk], **extra}


def ordered_materials(call, key: Key) -> list:
    """A key's materials in the order they were added (timestamps alone tie within one instant)."""
    return sorted(list_materials(call, key), key=lambda m: (json.loads(m.attrs or "{}").get("seq", 0), m.created))


def material_seq(call, key: Key) -> dict:
    """The `attrs` a newly added material carries so listings keep their order."""
    return {"seq": len(list_materials(call, key))}


def _rotation_entry(key: Key, m) -> dict:
    entry = {"KeyId": key.arn, "KeyMaterialId": m.material_id, "KeyMaterialState": m.state}
    if m.rotation_type:
        entry["RotationType"] = m.rotation_type
        entry["RotationDate"] = dt(m.rotation_date)
    if key.origin == "EXTERNAL":
        entry["ImportState"] = m.import_state or "PENDING_IMPORT"
        if m.expiration_model:
            entry["ExpirationModel"] = m.expiration_model
        if m.valid_to is not None:
            entry["ValidTo"] = dt(m.valid_to)
        if m.description:
            entry["KeyMaterialDescription"] = m.description
    return entry


# ---- the rotation itself -----------------------------------------------------------------------
def rotate(call, key: Key, rotation_type: str) -> str:
    """Give `key` fresh generated material and make it current. Returns the new material id."""
    new_id = add_material(call, key, specs.SPECS[key.key_spec].generate(), state="PENDING_ROTATION",
                          attrs=material_seq(call, key))
    promote(call, key, new_id, rotation_type)
    return new_id


def promote(call, key: Key, material_id: str, rotation_type: str) -> None:
    """Make `material_id` the key's CURRENT material; the previous one stays for decryption."""
    now = ts(call.now)
    with call.store.write() as conn:
        conn.execute(materials_table.update().where(
            materials_table.c.key_arn == key.arn, materials_table.c.state == "CURRENT").values(state="NON_CURRENT"))
        conn.execute(materials_table.update().where(
            materials_table.c.key_arn == key.arn, materials_table.c.material_id == material_id).values(
            state="CURRENT", rotation_type=rotation_type, rotation_date=now))
        row = conn.execute(sa.select(materials_table.c.expiration_model, materials_table.c.valid_to).where(
            materials_table.c.key_arn == key.arn, materials_table.c.material_id == material_id)).first()
    key.current_material_id = material_id
    if key.origin == "EXTERNAL":
        key.expiration_model, key.valid_to = row.expiration_model, row.valid_to
    save_key(call, key)   # multi-Region replicas receive the new material through the key-change hook
    call.engine.service_event(call.store, "kms", "RotateKey", key.region, key.account,
                              [("AWS::KMS::Key", key.arn)],
                              {"keyId": key.key_id, "rotationType": rotation_type, "keyMaterialId": material_id})


def rotate_due_keys(engine, store, now) -> int:
    """Automatic rotation of every Enabled key whose rotation date has come (AWS managed keys a
    year after creation or their last rotation). Disabled keys wait: rotation resumes once they
    are enabled again, at once if the date has passed meanwhile."""
    t = now.timestamp()
    managed_due = t - MANAGED_PERIOD_DAYS * 86400
    with store.read() as conn:
        due = [r.arn for r in conn.execute(sa.select(keys_table.c.arn).where(
            keys_table.c.rotation_enabled.is_(True), keys_table.c.state == "Enabled",
            keys_table.c.origin == "AWS_KMS", keys_table.c.key_spec == "SYMMETRIC_DEFAULT",
            keys_table.c.custom_key_store_id.is_(None),
            sa.or_(keys_table.c.next_rotation_date <= t,
                   sa.and_(keys_table.c.next_rotation_date.is_(None), keys_table.c.key_manager == "AWS",
                           keys_table.c.creation_date <= managed_due))))]
    done = 0
    for arn in due:
        call = ServiceCall(engine, store, now)
        with store.write():
            key = get_key(call, arn)     # re-read under the write lock: it may have changed
            if key is None or key.state != "Enabled" or not key.rotation_enabled:
                continue
            scheduled = next_rotation(key)
            if scheduled is None or scheduled > t or _is_replica(key):
                continue
            rotate(call, key, "AUTOMATIC")
            period = (key.rotation_period_days or DEFAULT_PERIOD_DAYS) * 86400
            # one rotation per tick however long the scheduler slept; the schedule keeps its phase
            nxt = scheduled + period
            while nxt <= t:
                nxt += period
            key.next_rotation_date = nxt
            key.attrs["rotation_anchor"] = t
            save_key(call, key)
            done += 1
    return done
