"""Keeping a multi-Region key set in step: the primary pushes its shared properties and material
to every replica after each change commits, and the scheduler task `kms.multi-region` retries
pushes that failed, re-checks every primary hourly and finishes keys a crash left Creating or
Updating. What is shared, and why each member keeps the set's bookkeeping, is told in
multi_region.py, which holds the operations on a set.
"""
from __future__ import annotations

import copy
import logging
from datetime import timedelta

import sqlalchemy as sa

from .. import registry
from ..calls import Call
from ..identity import Principal
from ..sealing import material_aad
from .records import EPOCH, REPLICAS, Key, is_primary, key_arn, list_materials, replica_regions, ts
from .tables import keys as keys_table
from .tables import materials as materials_table

log = logging.getLogger("keyplane.kms.multi_region")

AFTER_CREATING = "state_after_creating"
BEFORE_UPDATING = "state_before_update"
# what the primary owns for the whole set (material and current version are handled apart)
SHARED_FIELDS = ("key_usage", "key_spec", "origin", "key_manager", "rotation_enabled",
                 "rotation_period_days", "next_rotation_date", "on_demand_rotation_start")


# ---- helpers: other Regions' stores --------------------------------------------------------------
def _service_call(engine, region: str, account: str) -> Call:
    """KMS itself acting in a Region (synchronisation, the scheduler)."""
    ctx = engine.context(Principal.root(account), region=region, service_event=True)
    spec = registry.OperationSpec("kms", "SynchronizeMultiRegionKey", None, False)
    return Call(engine, ctx, spec, engine.store_for(region), {})


def load_key(conn, arn: str) -> Key | None:
    row = conn.execute(keys_table.select().where(keys_table.c.arn == arn)).first()
    return Key.from_row(row) if row is not None else None


def store_key_row(conn, key: Key) -> None:
    conn.execute(keys_table.update().where(keys_table.c.arn == key.arn).values(**key.to_row()))


def quietly(fn, *args) -> None:
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


def copy_materials(src_call: Call, src: Key, conn, dst_root, dst_arn: str) -> bool:
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


def drop_replicas(key: Key, gone, now) -> bool:
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


def finish_transient(engine, region: str, arn: str) -> None:
    """Creating → Enabled (or PendingImport); Updating → the state before the update."""
    store = engine.store_for(region)
    with store.write() as conn:
        key = load_key(conn, arn)
        if key is None:
            return
        if key.state == "Creating":
            key.state = key.attrs.pop(AFTER_CREATING, "Enabled")
        elif key.state == "Updating":
            key.state = key.attrs.pop(BEFORE_UPDATING, "Enabled")
        else:
            return
        store_key_row(conn, key)
    engine.cache.pop(("kms-key", arn))


def begin_update(key: Key) -> None:
    if key.state != "Updating":
        key.attrs[BEFORE_UPDATING] = key.state
        key.state = "Updating"


# ---- synchronisation -----------------------------------------------------------------------------
def _unsynced(engine) -> set:
    """Primaries (region, account, key id) a push did not fully reach: retried within a minute."""
    return engine.__dict__.setdefault("_mrk_unsynced", set())


def push(engine, region: str, account: str, key_id: str) -> None:
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
        primary = load_key(conn, arn)
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
            primary = load_key(conn, arn)
            if primary is not None and drop_replicas(primary, gone, engine.clock.now()):
                store_key_row(conn, primary)
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
        new = load_key(conn, new_arn)
        if new is None or not is_primary(new) or new.attrs.get(EPOCH, 0) <= stale.attrs.get(EPOCH, 0):
            return 0
        if stale.region not in replica_regions(new):
            new.attrs[REPLICAS] = replica_regions(new) + [stale.region]
            store_key_row(conn, new)
    engine.cache.pop(("kms-key", new_arn))
    with pcall.store.write() as conn:
        key = load_key(conn, stale.arn)
        if key is None or not is_primary(key):
            return 0
        key.primary_region = new_region
        key.attrs[EPOCH] = new.attrs.get(EPOCH, 0)
        key.attrs[REPLICAS] = replica_regions(new)
        store_key_row(conn, key)
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
        replica = load_key(conn, arn)
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
        replica = load_key(conn, arn)     # again, under the write lock
        if replica is None:
            return None
        if replica.attrs.get(EPOCH, 0) > primary.attrs.get(EPOCH, 0):
            return False
        changed = _align(primary, replica)
        if copy_materials(pcall, primary, conn, rcall.root_key, arn):
            changed.append("key_material")
        if not changed:
            return False
        store_key_row(conn, replica)
        engine.service_event(rcall.store, "kms", "SynchronizeMultiRegionKey", region, primary.account,
                             [("AWS::KMS::Key", arn)],
                             {"primaryKeyArn": primary.arn, "synchronized": sorted(set(changed))})
    engine.cache.pop(("kms-key", arn))
    return True


def push_after_commit(call, key: Key) -> None:
    """A key or its material changed in the call's store: a primary with replicas pushes the
    change to them once the transaction commits (model.save_key / add_material call this)."""
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
    store.after_commit(lambda: push(engine, region, account, key_id))


# ---- the scheduler -------------------------------------------------------------------------------
# Changes are pushed as they commit. Pushes that failed are retried once a minute (of the
# engine's clock); every primary is re-checked once an hour, which also heals what a failed push
# in another process (or before a restart) left behind.
RETRY_EVERY = 60.0
SWEEP_EVERY = 3600.0


def synchronize_due(engine, store, now) -> int:
    """Finish keys a crash left Creating/Updating; retry failed pushes; sweep every primary."""
    with store.read() as conn:
        stuck = list(conn.execute(sa.select(keys_table.c.arn, keys_table.c.region).where(
            keys_table.c.multi_region.is_(True), keys_table.c.state.in_(("Creating", "Updating")))))
    for row in stuck:
        quietly(finish_transient, engine, row.region, row.arn)
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
