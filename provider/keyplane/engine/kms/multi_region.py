"""Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, DescribeKey's MultiRegionConfiguration,
and keeping a set of related keys (same `mrk-` id, one key per Region) in step.

Each Region may live in its own store with its own root key, so a Region is a failure domain:

- **Bookkeeping lives in every member.** Each key of a set records the primary's Region
  (`Key.primary_region`) and the list of replica Regions (`attrs["replica_regions"]`), so any
  member answers DescribeKey, and decrypts, with no other store reachable. The primary's copy is
  authoritative; `attrs["primary_epoch"]` counts primary changes so a primary that comes back
  after a fail-over cannot overwrite the set the new primary owns.
- **Replication copies the material.** ReplicateKey unseals each material version under the
  primary store's root key and seals it again under the replica store's root key (the sealing AAD
  names the replica's ARN). Material ids are kept, so the ciphertext header's material id resolves
  in every Region and a multi-Region ciphertext decrypts wherever a related key exists, with no
  cross-Region call. Imported material (Origin EXTERNAL) is not copied: the replica gets a
  placeholder for each version and waits in PendingImport until the same material is imported
  into it (other material is refused), as in AWS.
- **Transient states.** The replica is written in `Creating` (that is what ReplicateKey returns);
  it becomes Enabled (PendingImport for imported material) as soon as the ReplicateKey
  transaction commits. UpdatePrimaryRegion puts both keys in `Updating` in its transaction and
  restores their states right after it commits. Crypto keeps working in Updating. The scheduler
  task `kms.multi-region` finishes any key a crash left in Creating/Updating.
- **Synchronisation** (audit service event `SynchronizeMultiRegionKey` in the replica's Region):
  whenever a primary with replicas changes (a key save or new material: rotation, rotation
  settings), the shared properties — key spec and usage, origin, rotation settings, the key
  material and which version is current, the primary/replica designation and the replica list —
  are pushed to every replica after the change commits; the scheduler task retries a push that
  failed within a minute and re-checks every primary hourly, so a replica whose store was
  unreachable catches up. Replicas never rotate on their own (the
  rotation task skips them); the primary's rotation reaches them as new material.
  Policy, grants, aliases, tags, description, enabled state and deletion stay per key.
- **A store that is gone stops nothing else.** Writes to other Regions' stores are best effort
  (logged, healed by the next sync). A replica whose store is reachable but no longer holds it
  is forgotten by its primary (so a primary waiting in PendingReplicaDeletion moves on).
- **Fail-over.** In AWS, UpdatePrimaryRegion is called in the primary's Region. When the primary's
  Region has lost its store (the key no longer exists there, or the store cannot be opened), call
  UpdatePrimaryRegion in a replica's Region naming that replica's Region as `PrimaryRegion`: the
  replica becomes the primary of the remaining set, the lost Region leaves it, and a new replica
  can be made there with ReplicateKey. While the old primary is reachable, calling it on a
  replica is refused (UnsupportedOperationException), as in AWS. Should the old primary's store
  come back after all, its next synchronisation finds a replica owned by a newer primary
  (`primary_epoch`) and it rejoins the set as a replica of the new primary.
- **Deletion.** A primary with replicas goes to PendingReplicaDeletion (no DeletionDate); when its
  last replica is deleted (the replica's own window ends), its window starts.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from .. import registry, tagging
from ..authz import authorize
from ..core import Call
from ..errors import AlreadyExistsException, NotFoundException, UnsupportedOperationException
from ..identity import Principal
from ..registry import operation
from ..scheduler import task
from ..sealing import material_aad
from .keys import (AFTER_CREATE_HOOKS, AFTER_DELETE_HOOKS, CREATE_KEY_HOOKS, SCHEDULE_DELETION_HOOKS,
                   default_policy)
from .model import (KEY_CHANGED_HOOKS, METADATA_HOOKS, Key, key_arn, list_materials, require_state,
                    resolve_key, save_key, state_error, ts)
from .tables import keys as keys_table
from .tables import materials as materials_table
from .tags import validate_tags

log = logging.getLogger("keyplane.kms.multi_region")

REPLICAS = "replica_regions"
EPOCH = "primary_epoch"
AFTER_CREATING = "state_after_creating"
BEFORE_UPDATING = "state_before_update"
# what the primary owns for the whole set (material and current version are handled apart)
SHARED_FIELDS = ("key_usage", "key_spec", "origin", "key_manager", "rotation_enabled",
                 "rotation_period_days", "next_rotation_date", "on_demand_rotation_start")


def is_primary(key: Key) -> bool:
    return key.multi_region and (key.primary_region or key.region) == key.region


def is_replica(key: Key) -> bool:
    return key.multi_region and not is_primary(key)


def replica_regions(key: Key) -> list[str]:
    return list(key.attrs.get(REPLICAS, []))


# ---- DescribeKey ---------------------------------------------------------------------------------
def _metadata(key: Key, md: dict) -> None:
    if not key.multi_region:
        return
    primary = key.primary_region or key.region
    md["MultiRegionConfiguration"] = {
        "MultiRegionKeyType": "PRIMARY" if primary == key.region else "REPLICA",
        "PrimaryKey": {"Arn": key_arn(primary, key.account, key.key_id), "Region": primary},
        "ReplicaKeys": [{"Arn": key_arn(r, key.account, key.key_id), "Region": r}
                        for r in replica_regions(key)],
    }
    if key.state == "PendingReplicaDeletion" and key.pending_window_days:
        md["PendingDeletionWindowInDays"] = key.pending_window_days


METADATA_HOOKS.append(_metadata)


# ---- helpers: other Regions' stores --------------------------------------------------------------
def _region_call(call, region: str, operation_name: str, params: dict) -> Call:
    """The same caller, acting in another Region (its store, its root key)."""
    sub = Call(call.engine, replace(call.ctx, region=region), registry.lookup("kms", operation_name),
               call.engine.store_for(region), params)
    sub._now = call.now
    return sub


def _service_call(engine, region: str, account: str) -> Call:
    """KMS itself acting in a Region (synchronisation, the scheduler)."""
    ctx = engine.context(Principal.root(account), region=region, service_event=True)
    spec = registry.OperationSpec("kms", "SynchronizeMultiRegionKey", None, False)
    return Call(engine, ctx, spec, engine.store_for(region), {})


def _load(conn, arn: str) -> Key | None:
    row = conn.execute(keys_table.select().where(keys_table.c.arn == arn)).first()
    return Key.from_row(row) if row is not None else None


def _store_key(conn, key: Key) -> None:
    conn.execute(keys_table.update().where(keys_table.c.arn == key.arn).values(**key.to_row()))


def _quietly(fn, *args) -> None:
    """After-commit work: the caller's change is committed; a failure here is healed later."""
    try:
        fn(*args)
    except Exception:
        log.exception("multi-Region follow-up %s failed; the scheduler retries it", fn.__name__)


# Imported material belongs to each key: its secret, import state, expiry and description.
IMPORT_COLUMNS = ("sealed", "import_state", "expiration_model", "valid_to", "description")


def _material_rows(conn, arn: str, imported: bool) -> dict:
    """A key's material versions by id, as rows comparable across Regions (never the secret)."""
    skip = ("key_arn",) + (IMPORT_COLUMNS if imported else ("sealed",))
    rows = conn.execute(materials_table.select().where(materials_table.c.key_arn == arn))
    return {r.material_id: {k: v for k, v in r._mapping.items() if k not in skip} for r in rows}


def _copy_materials(src_call: Call, src: Key, conn, dst_root, dst_arn: str) -> bool:
    """Bring the replica's material rows in line with the primary's, re-sealing each secret
    under the destination store's root key. Imported material is not copied: the replica gets a
    placeholder per version (PENDING_IMPORT), so importing anything but the same material into it
    is refused, as in AWS. True if anything changed."""
    imported = src.origin == "EXTERNAL"
    have = {r.material_id: r for r in conn.execute(
        materials_table.select().where(materials_table.c.key_arn == dst_arn))}
    per_key = ("key_arn", "material_id") + (IMPORT_COLUMNS if imported else ("sealed",))
    changed = False
    for row in list_materials(src_call, src):
        data = dict(row._mapping)
        material_id = data["material_id"]
        data["key_arn"] = dst_arn
        existing = have.get(material_id)
        if existing is None:
            if imported:
                data.update(sealed=None, import_state="PENDING_IMPORT", expiration_model=None,
                            valid_to=None, description=None)
            elif data["sealed"] is not None:
                secret = src_call.root_key.unseal(data["sealed"], material_aad(src.arn, material_id))
                data["sealed"] = dst_root.seal(secret, material_aad(dst_arn, material_id))
            conn.execute(materials_table.insert().values(**data))
            changed = True
            continue
        update = {k: v for k, v in data.items() if k not in per_key and getattr(existing, k) != v}
        if update:
            conn.execute(materials_table.update().where(
                materials_table.c.key_arn == dst_arn,
                materials_table.c.material_id == material_id).values(**update))
            changed = True
    return changed


def _drop_replicas(key: Key, gone, now) -> bool:
    """Forget replica Regions; a primary waiting for its replicas starts its own window when
    none is left. True if the key changed."""
    before = replica_regions(key)
    after = [r for r in before if r not in gone]
    if after == before:
        return False
    key.attrs[REPLICAS] = after
    if is_primary(key) and key.state == "PendingReplicaDeletion" and not after:
        key.state = "PendingDeletion"
        key.pending_window_days = key.pending_window_days or 30
        key.deletion_date = ts(now + timedelta(days=key.pending_window_days))
    return True


def _finish_transient(engine, region: str, arn: str) -> None:
    """Creating → Enabled (or PendingImport); Updating → the state before the update."""
    store = engine.store_for(region)
    with store.write() as conn:
        key = _load(conn, arn)
        if key is None:
            return
        if key.state == "Creating":
            key.state = key.attrs.pop(AFTER_CREATING, "Enabled")
        elif key.state == "Updating":
            key.state = key.attrs.pop(BEFORE_UPDATING, "Enabled")
        else:
            return
        _store_key(conn, key)
    engine.cache.pop(("kms-key", arn))


def _begin_update(key: Key) -> None:
    if key.state != "Updating":
        key.attrs[BEFORE_UPDATING] = key.state
        key.state = "Updating"


# ---- synchronisation -----------------------------------------------------------------------------
def _unsynced(engine) -> set:
    """Primaries (region, account, key id) a push did not fully reach: retried within a minute."""
    return engine.__dict__.setdefault("_mrk_unsynced", set())


def _push(engine, region: str, account: str, key_id: str) -> None:
    """After-commit push of a primary's change; a failure is retried by the scheduler."""
    try:
        synchronize(engine, region, account, key_id)
    except Exception:
        log.warning("pushing %s to its replicas failed; retrying later", key_id, exc_info=True)
        _unsynced(engine).add((region, account, key_id))


def synchronize(engine, region: str, account: str, key_id: str) -> int:
    """Push the primary's shared properties and material to each of its replicas; forget replicas
    whose (reachable) store no longer holds them. Returns how many replicas changed."""
    pcall = _service_call(engine, region, account)
    arn = key_arn(region, account, key_id)
    with pcall.store.read() as conn:
        primary = _load(conn, arn)
    if primary is None or not is_primary(primary):
        return 0
    changed, gone = 0, set()
    for replica_region in replica_regions(primary):
        try:
            outcome = _sync_replica(engine, pcall, primary, replica_region)
        except Exception:
            log.warning("could not synchronise %s to %s; retrying later", arn, replica_region, exc_info=True)
            _unsynced(engine).add((region, account, key_id))
            continue
        if isinstance(outcome, Superseded):
            return _rejoin(engine, pcall, primary, outcome.primary_region)
        if outcome is None:
            gone.add(replica_region)
        elif outcome:
            changed += 1
    if gone:
        with pcall.store.write() as conn:
            primary = _load(conn, arn)
            if primary is not None and _drop_replicas(primary, gone, engine.clock.now()):
                _store_key(conn, primary)
        engine.cache.pop(("kms-key", arn))
        changed += synchronize(engine, region, account, key_id) if primary is not None else 0
    return changed


class Superseded:
    """What a replica says when a newer primary (after a fail-over) owns it."""

    def __init__(self, primary_region: str):
        self.primary_region = primary_region


def _rejoin(engine, pcall: Call, stale: Key, new_region: str) -> int:
    """A primary whose Region failed over while it was unreachable is back: it becomes a replica of
    the new primary (which lists it again), so the set has one primary and the new primary's
    material and settings reach it with the next synchronisation."""
    new_arn = key_arn(new_region, stale.account, stale.key_id)
    new_store = engine.store_for(new_region)
    with new_store.write() as conn:
        new = _load(conn, new_arn)
        if new is None or not is_primary(new) or new.attrs.get(EPOCH, 0) <= stale.attrs.get(EPOCH, 0):
            return 0
        if stale.region not in replica_regions(new):
            new.attrs[REPLICAS] = replica_regions(new) + [stale.region]
            _store_key(conn, new)
    engine.cache.pop(("kms-key", new_arn))
    with pcall.store.write() as conn:
        key = _load(conn, stale.arn)
        if key is None or not is_primary(key):
            return 0
        key.primary_region = new_region
        key.attrs[EPOCH] = new.attrs.get(EPOCH, 0)
        key.attrs[REPLICAS] = replica_regions(new)
        _store_key(conn, key)
        engine.service_event(pcall.store, "kms", "SynchronizeMultiRegionKey", stale.region, stale.account,
                             [("AWS::KMS::Key", stale.arn)],
                             {"primaryKeyArn": new_arn, "formerPrimaryRejoined": True})
    engine.cache.pop(("kms-key", stale.arn))
    return 1 + synchronize(engine, new_region, stale.account, stale.key_id)


def _align(primary: Key, replica: Key) -> list[str]:
    """Give the replica the primary's shared properties and the set's bookkeeping; what changed."""
    changed = [f for f in SHARED_FIELDS if getattr(replica, f) != getattr(primary, f)]
    for f in changed:
        setattr(replica, f, getattr(primary, f))
    if primary.origin != "EXTERNAL" and replica.current_material_id != primary.current_material_id:
        replica.current_material_id = primary.current_material_id
        changed.append("current_material_id")
    if replica.primary_region != primary.region:
        replica.primary_region = primary.region
        changed.append("primary_region")
    if replica_regions(replica) != replica_regions(primary):
        replica.attrs[REPLICAS] = replica_regions(primary)
        changed.append("replica_regions")
    if replica.attrs.get(EPOCH, 0) != primary.attrs.get(EPOCH, 0):
        replica.attrs[EPOCH] = primary.attrs.get(EPOCH, 0)
        changed.append("primary_epoch")
    return changed


def _sync_replica(engine, pcall: Call, primary: Key, region: str) -> bool | None | Superseded:
    """True if the replica changed, False if it was in step, None if it no longer exists,
    Superseded if a newer primary owns it.
    Looks first and writes only when something differs, so the periodic pass takes no write
    lock on a store whose replicas are in step."""
    rcall = _service_call(engine, region, primary.account)
    arn = key_arn(region, primary.account, primary.key_id)
    with rcall.store.read() as conn:
        replica = _load(conn, arn)
        if replica is None:
            return None
        if replica.attrs.get(EPOCH, 0) > primary.attrs.get(EPOCH, 0):
            # a newer primary owns this replica (a fail-over happened)
            return Superseded(replica.primary_region) if replica.primary_region != primary.region else False
        in_step = not _align(primary, copy.deepcopy(replica))
        if in_step:
            imported = primary.origin == "EXTERNAL"
            with pcall.store.read() as pconn:
                wanted = _material_rows(pconn, primary.arn, imported)
            in_step = _material_rows(conn, arn, imported) == wanted
    if in_step:
        return False
    with rcall.store.write() as conn:
        replica = _load(conn, arn)     # again, under the write lock
        if replica is None:
            return None
        if replica.attrs.get(EPOCH, 0) > primary.attrs.get(EPOCH, 0):
            return False
        changed = _align(primary, replica)
        if _copy_materials(pcall, primary, conn, rcall.root_key, arn):
            changed.append("key_material")
        if not changed:
            return False
        _store_key(conn, replica)
        engine.service_event(rcall.store, "kms", "SynchronizeMultiRegionKey", region, primary.account,
                             [("AWS::KMS::Key", arn)],
                             {"primaryKeyArn": primary.arn, "synchronized": sorted(set(changed))})
    engine.cache.pop(("kms-key", arn))
    return True


def _on_key_changed(call, key: Key) -> None:
    """A primary with replicas changed: push the change once the transaction commits."""
    if not is_primary(key) or not replica_regions(key):
        return
    store = getattr(call, "store", None)
    if store is None:
        return
    pending = call.__dict__.setdefault("_mrk_sync_pending", set())
    if key.arn in pending:
        return
    pending.add(key.arn)
    engine, region, account, key_id = call.engine, key.region, key.account, key.key_id
    store.after_commit(lambda: _push(engine, region, account, key_id))


KEY_CHANGED_HOOKS.append(_on_key_changed)


# ---- CreateKey / deletion hooks ------------------------------------------------------------------
def _check_create(call, p, key: Key) -> None:
    if p.get("MultiRegion") and p.get("CustomKeyStoreId"):
        raise UnsupportedOperationException("Multi-Region keys are not supported in a custom key store.")


CREATE_KEY_HOOKS.append(_check_create)


def _existing_replicas(engine, key: Key) -> list[str]:
    """The replica Regions still holding the key; a Region whose store cannot be opened counts
    (it may come back), one whose store is reachable but lacks the key does not."""
    live = []
    for region in replica_regions(key):
        try:
            store = engine.store_for(region)
            with store.read() as conn:
                found = conn.execute(sa.select(keys_table.c.arn).where(
                    keys_table.c.arn == key_arn(region, key.account, key.key_id))).first()
        except Exception:
            live.append(region)
            continue
        if found is not None:
            live.append(region)
    return live


def _schedule_primary_deletion(call, key: Key, days: int) -> bool:
    if not is_primary(key) or not replica_regions(key):
        return False
    live = _existing_replicas(call.engine, key)
    key.attrs[REPLICAS] = live
    if not live:
        return False            # nothing to wait for: an ordinary deletion window
    key.state = "PendingReplicaDeletion"
    key.pending_window_days = days
    key.deletion_date = None    # the window starts when the last replica is deleted
    return True


SCHEDULE_DELETION_HOOKS.append(_schedule_primary_deletion)


def _after_delete(engine, store, row) -> None:
    """A deleted replica leaves its set, in every store that holds a member."""
    if not row.key_id.startswith("mrk-"):
        return
    now = engine.clock.now()
    seen = set()
    for member_store in engine.all_stores():
        if id(member_store) in seen:
            continue
        seen.add(id(member_store))
        try:
            with member_store.write() as conn:
                rows = list(conn.execute(keys_table.select().where(
                    keys_table.c.key_id == row.key_id, keys_table.c.account == row.account)))
                for member_row in rows:
                    member = Key.from_row(member_row)
                    if _drop_replicas(member, {row.region}, now):
                        _store_key(conn, member)
                        member_store.after_commit(lambda arn=member.arn: engine.cache.pop(("kms-key", arn)))
        except Exception:
            log.warning("could not update the set of %s in %s", row.key_id, member_store.url, exc_info=True)


AFTER_DELETE_HOOKS.append(_after_delete)


# ---- operations ----------------------------------------------------------------------------------
def _not_primary(key: Key) -> UnsupportedOperationException:
    if not key.multi_region:
        return UnsupportedOperationException(f"{key.arn} is not a multi-Region key.")
    return UnsupportedOperationException(
        f"{key.arn} is a multi-Region replica key. The operation must be performed on the primary "
        f"key {key_arn(key.primary_region, key.account, key.key_id)}.")


@operation("kms", "ReplicateKey")
def replicate_key(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    region = p["ReplicaRegion"]
    authorize(call, "kms:ReplicateKey", key=key, context={"kms:ReplicaRegion": region})
    if not is_primary(key):
        raise _not_primary(key)
    if region not in call.engine.regions:
        # AWS documents no error text for a Region outside the partition; nothing is made there
        raise UnsupportedOperationException(f"{region} is not a Region this endpoint serves.")
    require_state(key, ("Enabled",))
    replicas = replica_regions(key)
    arn = key_arn(region, key.account, key.key_id)
    if region == key.region or region in replicas:
        raise AlreadyExistsException(f"Key '{arn}' already exists")
    tags = validate_tags(p.get("Tags") or [])
    create_params = {"Description": p.get("Description", ""), "KeyUsage": key.key_usage,
                     "KeySpec": key.key_spec, "Origin": key.origin, "MultiRegion": True,
                     "BypassPolicyLockoutSafetyCheck": bool(p.get("BypassPolicyLockoutSafetyCheck"))}
    if p.get("Policy") is not None:
        create_params["Policy"] = p["Policy"]
    if p.get("Tags"):
        create_params["Tags"] = p["Tags"]
    rcall = _region_call(call, region, "CreateKey", create_params)
    authorize(rcall, "kms:CreateKey", resource="*", context={"kms:MultiRegion": True})
    if tags:
        authorize(rcall, "kms:TagResource", resource="*", context={
            "aws:TagKeys": list(tags), **{f"aws:RequestTag/{k}": v for k, v in tags.items()}})
    epoch = key.attrs.get(EPOCH, 0)
    replica = Key(
        arn=arn, key_id=key.key_id, account=key.account, region=region, key_usage=key.key_usage,
        key_spec=key.key_spec, origin=key.origin, key_manager=key.key_manager, state="Creating",
        creation_date=ts(call.now), description=p.get("Description", ""),
        policy=p.get("Policy") or default_policy(key.account), multi_region=True,
        primary_region=key.region, rotation_enabled=key.rotation_enabled,
        rotation_period_days=key.rotation_period_days, next_rotation_date=key.next_rotation_date,
        on_demand_rotation_start=key.on_demand_rotation_start,
        current_material_id=key.current_material_id,
        attrs={REPLICAS: replicas + [region], EPOCH: epoch,
               AFTER_CREATING: "PendingImport" if key.origin == "EXTERNAL" else "Enabled"},
    )
    for hook in CREATE_KEY_HOOKS:
        hook(rcall, create_params, replica)
    with rcall.store.write() as conn:
        if conn.execute(sa.select(keys_table.c.arn).where(keys_table.c.arn == arn)).first():
            raise AlreadyExistsException(f"Key '{arn}' already exists")
        conn.execute(keys_table.insert().values(**replica.to_row()))
        _copy_materials(call, key, conn, rcall.root_key, arn)
        if tags:
            tagging.set_tags(conn, arn, tags)
        for hook in AFTER_CREATE_HOOKS:
            hook(rcall, create_params, replica)
        # CloudTrail: ReplicateKey in the primary's Region, CreateKey in the replica's
        rcall.resource(arn, "AWS::KMS::Key")
        rcall.ctx = replace(rcall.ctx, via_service="kms")
        call.engine.audit.record(rcall.store, call.engine._event(rcall, {"KeyMetadata": replica.metadata()}, None))
    call.engine.cache.pop(("kms-key", arn))
    engine = call.engine
    call.store.after_commit(lambda: _quietly(_finish_transient, engine, region, arn))
    key.attrs[REPLICAS] = replicas + [region]
    save_key(call, key)         # the other replicas learn of the new one after commit
    call.resource(key.arn, "AWS::KMS::Key")
    return {"ReplicaKeyMetadata": replica.metadata(), "ReplicaPolicy": replica.policy,
            "ReplicaTags": [{"TagKey": k, "TagValue": v} for k, v in tags.items()]}


@operation("kms", "UpdatePrimaryRegion")
def update_primary_region(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    target = p["PrimaryRegion"]
    authorize(call, "kms:UpdatePrimaryRegion", key=key, context={"kms:PrimaryRegion": target})
    if not key.multi_region:
        raise _not_primary(key)
    if is_replica(key):
        return _fail_over(call, key, target)
    require_state(key, ("Enabled", "Updating"))
    replicas = replica_regions(key)
    new_arn = key_arn(target, key.account, key.key_id)
    if target == key.region:
        raise UnsupportedOperationException(f"{key.arn} is already the primary key in {target}.")
    if target not in replicas:
        raise NotFoundException(f"Key '{new_arn}' does not exist")
    tcall = _region_call(call, target, "UpdatePrimaryRegion", p)
    epoch = key.attrs.get(EPOCH, 0) + 1
    order = [key.region if r == target else r for r in replicas]
    engine = call.engine
    with tcall.store.write() as conn:
        new = _load(conn, new_arn)
        if new is None:
            raise NotFoundException(f"Key '{new_arn}' does not exist")
        authorize(tcall, "kms:UpdatePrimaryRegion", key=new, context={"kms:PrimaryRegion": target})
        if new.state in ("Creating", "PendingDeletion", "PendingReplicaDeletion"):
            raise state_error(new)
        new.primary_region = target
        new.attrs[REPLICAS] = order
        new.attrs[EPOCH] = epoch
        new.next_rotation_date = key.next_rotation_date
        _begin_update(new)
        _store_key(conn, new)
        engine.service_event(tcall.store, "kms", "SynchronizeMultiRegionKey", target, key.account,
                             [("AWS::KMS::Key", new_arn)],
                             {"primaryKeyArn": new_arn, "formerPrimaryKeyArn": key.arn})
    engine.cache.pop(("kms-key", new_arn))
    key.primary_region = target
    key.attrs[REPLICAS] = order
    key.attrs[EPOCH] = epoch
    _begin_update(key)
    save_key(call, key)
    region, account, key_id = key.region, key.account, key.key_id
    call.store.after_commit(lambda: _quietly(_finish_transient, engine, target, new_arn))
    call.store.after_commit(lambda: _quietly(_finish_transient, engine, region, key.arn))
    call.store.after_commit(lambda: _push(engine, target, account, key_id))
    call.resource(key.arn, "AWS::KMS::Key")
    call.resource(new_arn, "AWS::KMS::Key")
    return {}


def _primary_reachable(engine, key: Key) -> bool:
    try:
        store = engine.store_for(key.primary_region)
        with store.read() as conn:
            return conn.execute(sa.select(keys_table.c.arn).where(
                keys_table.c.arn == key_arn(key.primary_region, key.account, key.key_id))).first() is not None
    except Exception:
        log.warning("the store of %s cannot be opened", key.primary_region, exc_info=True)
        return False


def _fail_over(call, key: Key, target: str):
    """UpdatePrimaryRegion on a replica, in its own Region: allowed only when the primary's Region
    has lost the key (see the module docstring)."""
    if target != key.region or _primary_reachable(call.engine, key):
        raise _not_primary(key)
    require_state(key, ("Enabled", "Updating"))
    lost = key.primary_region
    key.primary_region = key.region
    key.attrs[REPLICAS] = [r for r in replica_regions(key) if r not in (key.region, lost)]
    key.attrs[EPOCH] = key.attrs.get(EPOCH, 0) + 1
    if key.rotation_enabled and key.rotation_period_days and key.next_rotation_date is None:
        key.next_rotation_date = ts(call.now + timedelta(days=key.rotation_period_days))
    _begin_update(key)
    engine, region, arn = call.engine, key.region, key.arn
    call.store.after_commit(lambda: _quietly(_finish_transient, engine, region, arn))
    save_key(call, key)         # the remaining replicas learn their new primary after commit
    call.audit_extra = {"formerPrimaryRegion": lost, "formerPrimaryUnavailable": True}
    call.resource(key.arn, "AWS::KMS::Key")
    return {}


# ---- the scheduler -------------------------------------------------------------------------------
# Changes are pushed as they commit. Pushes that failed are retried once a minute (of the
# engine's clock); every primary is re-checked once an hour, which also heals what a failed push
# in another process (or before a restart) left behind.
RETRY_EVERY = 60.0
SWEEP_EVERY = 3600.0


@task("kms.multi-region")
def synchronize_due(engine, store, now) -> int:
    """Finish keys a crash left Creating/Updating; retry failed pushes; sweep every primary."""
    with store.read() as conn:
        stuck = list(conn.execute(sa.select(keys_table.c.arn, keys_table.c.region).where(
            keys_table.c.multi_region.is_(True), keys_table.c.state.in_(("Creating", "Updating")))))
    for row in stuck:
        _quietly(_finish_transient, engine, row.region, row.arn)
    done = len(stuck)
    t = now.timestamp()
    passes = engine.__dict__.setdefault("_mrk_passes", {})
    last_retry, last_sweep = passes.get(store.url, (None, None))
    if last_sweep is None or not 0 <= t - last_sweep < SWEEP_EVERY:
        passes[store.url] = (t, t)
        with store.read() as conn:
            todo = [(r.region, r.account, r.key_id) for r in conn.execute(sa.select(
                keys_table.c.key_id, keys_table.c.account, keys_table.c.region).where(
                keys_table.c.multi_region.is_(True), keys_table.c.primary_region == keys_table.c.region))]
    elif last_retry is None or not 0 <= t - last_retry < RETRY_EVERY:
        passes[store.url] = (t, last_sweep)
        todo = [k for k in list(_unsynced(engine)) if _store_of(engine, k[0]) is store]
    else:
        return done
    for item in todo:
        _unsynced(engine).discard(item)
        try:
            done += synchronize(engine, *item)
        except Exception:
            log.warning("synchronising %s failed", item[2], exc_info=True)
            _unsynced(engine).add(item)
    return done


def _store_of(engine, region: str):
    try:
        return engine.store_for(region)
    except Exception:
        return None
