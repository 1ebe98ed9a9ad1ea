"""Multi-Region keys: ReplicateKey, UpdatePrimaryRegion, and what CreateKey and key deletion do for a
set of related keys (same `mrk-` id, one key per Region). Keeping the set in step is
multi_region_sync.py; DescribeKey's MultiRegionConfiguration is records.py's.

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

import logging
from dataclasses import replace
from datetime import timedelta

import sqlalchemy as sa

from .. import registry, tagging
from ..authz import authorize
from ..calls import Call
from ..errors import AlreadyExistsException, NotFoundException, UnsupportedOperationException
from ..policy import default_key_policy
from ..registry import operation
from .model import (EPOCH, REPLICAS, Key, is_primary, is_replica, key_arn, replica_regions, require_state,
                    resolve_key, save_key, state_error, ts)
from .multi_region_sync import (AFTER_CREATING, begin_update, copy_materials, drop_replicas, finish_transient,
                                load_key, push, quietly, store_key_row)
from .policies import policy_for_new_key
from .records import require_room_for_a_key
from .tables import keys as keys_table
from .tags import validate_tags

log = logging.getLogger("keyplane.kms.multi_region")


# ---- helpers: other Regions' stores --------------------------------------------------------------
def _region_call(call, region: str, operation_name: str, params: dict) -> Call:
    """The same caller, acting in another Region (its store, its root key), for a state-changing
    operation (CreateKey, UpdatePrimaryRegion) its audit record there names."""
    spec = registry.OperationSpec("kms", operation_name, None, False)
    sub = Call(call.engine, replace(call.ctx, region=region), spec, call.engine.store_for(region), params)
    sub._now = call.now
    return sub


# ---- CreateKey, ScheduleKeyDeletion and deletion of a member (keys.py calls these) ---------------
def check_create_key(call, p, key: Key) -> None:
    if p.get("MultiRegion") and p.get("CustomKeyStoreId"):
        raise UnsupportedOperationException("Multi-Region keys are not supported in a custom key store.")



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


def schedule_primary_deletion(call, key: Key, days: int) -> bool:
    """A primary with replicas waits for them (PendingReplicaDeletion): True if it does."""
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



def after_member_deleted(engine, store, row) -> None:
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
                    if drop_replicas(member, {row.region}, now):
                        store_key_row(conn, member)
                        member_store.after_commit(lambda arn=member.arn: engine.cache.pop(("kms-key", arn)))
        except Exception:
            log.warning("could not update the set of %s in %s", row.key_id, member_store.url, exc_info=True)


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
        policy=p.get("Policy") or default_key_policy(key.account), multi_region=True,
        primary_region=key.region, rotation_enabled=key.rotation_enabled,
        rotation_period_days=key.rotation_period_days, next_rotation_date=key.next_rotation_date,
        on_demand_rotation_start=key.on_demand_rotation_start,
        current_material_id=key.current_material_id,
        attrs={REPLICAS: replicas + [region], EPOCH: epoch,
               AFTER_CREATING: "PendingImport" if key.origin == "EXTERNAL" else "Enabled"},
    )
    # of CreateKey's option checks only the Policy's applies: a multi-Region key is never in a
    # custom key store
    policy_for_new_key(rcall, create_params, replica)
    with rcall.store.write() as conn:
        if conn.execute(sa.select(keys_table.c.arn).where(keys_table.c.arn == arn)).first():
            raise AlreadyExistsException(f"Key '{arn}' already exists")
        require_room_for_a_key(conn, key.account, region)
        conn.execute(keys_table.insert().values(**replica.to_row()))
        copy_materials(call, key, conn, rcall.root_key, arn)
        if tags:
            tagging.set_tags(conn, arn, tags)
        # CloudTrail: ReplicateKey in the primary's Region, CreateKey in the replica's
        rcall.resource(arn, "AWS::KMS::Key")
        rcall.ctx = replace(rcall.ctx, via_service="kms")
        call.engine.audit.record(rcall.store, call.engine._event(rcall, {"KeyMetadata": replica.metadata()}, None))
    call.engine.cache.pop(("kms-key", arn))
    engine = call.engine
    call.store.after_commit(lambda: quietly(finish_transient, engine, region, arn))
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
        new = load_key(conn, new_arn)
        if new is None:
            raise NotFoundException(f"Key '{new_arn}' does not exist")
        authorize(tcall, "kms:UpdatePrimaryRegion", key=new, context={"kms:PrimaryRegion": target})
        if new.state in ("Creating", "PendingDeletion", "PendingReplicaDeletion"):
            raise state_error(new)
        new.primary_region = target
        new.attrs[REPLICAS] = order
        new.attrs[EPOCH] = epoch
        new.next_rotation_date = key.next_rotation_date
        begin_update(new)
        store_key_row(conn, new)
        engine.service_event(tcall.store, "kms", "SynchronizeMultiRegionKey", target, key.account,
                             [("AWS::KMS::Key", new_arn)],
                             {"primaryKeyArn": new_arn, "formerPrimaryKeyArn": key.arn})
    engine.cache.pop(("kms-key", new_arn))
    key.primary_region = target
    key.attrs[REPLICAS] = order
    key.attrs[EPOCH] = epoch
    begin_update(key)
    save_key(call, key)
    region, account, key_id = key.region, key.account, key.key_id
    call.store.after_commit(lambda: quietly(finish_transient, engine, target, new_arn))
    call.store.after_commit(lambda: quietly(finish_transient, engine, region, key.arn))
    call.store.after_commit(lambda: push(engine, target, account, key_id))
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
    begin_update(key)
    engine, region, arn = call.engine, key.region, key.arn
    call.store.after_commit(lambda: quietly(finish_transient, engine, region, arn))
    save_key(call, key)         # the remaining replicas learn their new primary after commit
    call.audit_extra = {"formerPrimaryRegion": lost, "formerPrimaryUnavailable": True}
    call.resource(key.arn, "AWS::KMS::Key")
    return {}
