"""Replicas, and the one push that keeps every replica in step with its primary.

Two kinds of replica get the primary's versions through `push_versions`:

- A Region replica (ReplicateSecretToRegions, RemoveRegionsFromReplication): same account, its
  ARN differs from the primary's only in the Region; it lives in its own Region's store
  (`engine.store_for(region)`, which may be another database), so it survives the loss of the
  primary's. Description, type and tags follow the primary.
- A cross-account replica (cross_account.py links it): a secret of another account in the same
  Region, with its own policies, key and lifecycle; only the versions and their labels follow
  the primary, written by the caller who changed the primary (a forward access session) or by the
  replication role named at association, which needs kms:Decrypt on the primary's key and
  kms:Encrypt on the replica's
  (https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-permissions.html).

Either way a version is decrypted under the primary's key and re-encrypted under the replica's,
keeping the primary's version id and labels. Replicas are read-only; StopReplicationToReplica,
called on the replica, makes it a standalone secret.
"""
from __future__ import annotations

import json

from ..calls import Call, RequestContext
from ..errors import AwsError
from ..identity import Principal
from ..registry import OperationSpec
from ..tagging import delete_all, get_tags, set_tags
from . import access
from .errors import InvalidParameterException, InvalidRequestException
from .model import (Secret, Version, arn_in_region, changed, decrypt_version, delete_secret_rows,
                    encrypt_value, find_by_name, insert_secret, insert_version, listed_key, load_secret,
                    MANAGED_POLICY, load_versions, mutating, require_not_deleted, required_members,
                    resolve_secret, save_secret, save_stages, ts)

_SPEC = OperationSpec("secretsmanager", "ReplicateSecretVersion", None, False)


def service_context(secret: Secret, region: str) -> RequestContext:
    """Secrets Manager acting on its own for a secret (rotation, replication): the secret's account."""
    return RequestContext(principal=Principal.root(secret.account), region=region,
                          user_agent="secretsmanager.amazonaws.com")


def _service_call(engine, ctx, store) -> Call:
    return Call(engine, ctx, _SPEC, store, {})


def _status(region: str, key_id: str | None, status: str, message: str | None = None) -> dict:
    out = {"Region": region, "KmsKeyId": key_id or "alias/aws/secretsmanager", "Status": status}
    if message:
        out["StatusMessage"] = message
    return out


def push_versions(writer, conn, primary_versions: list[Version], target: Secret, key_id: str, region: str,
                  wrap: str = "GenerateDataKey") -> bool:
    """Make `target`'s versions (in `conn`, its store) the primary's: each missing one decrypted by
    `writer` under the primary's key and encrypted under `key_id`, labels as on the primary,
    versions the primary no longer has removed. Every value is re-encrypted before anything is
    written, so a refused KMS call leaves the target as it was. True when something changed."""
    have = {v.version_id: v for v in load_versions(conn, target.arn)}
    new = []
    for pv in primary_versions:
        if pv.version_id not in have:
            value = decrypt_version(writer, pv)
            data_key, sealed, key_arn = encrypt_value(writer, target.arn, key_id, pv.version_id, value,
                                                      region=region, wrap=wrap)
            new.append(Version(secret_arn=target.arn, version_id=pv.version_id, created=pv.created,
                               stages=list(pv.stages), kind=pv.kind, data_key=data_key, ciphertext=sealed,
                               kms_key_arn=listed_key(target.kms_key_id, key_arn)))
    wanted = {v.version_id for v in primary_versions}
    gone = set(have) - wanted
    from .tables import versions as versions_table
    for vid in gone:
        conn.execute(versions_table.delete().where(versions_table.c.secret_arn == target.arn,
                                                   versions_table.c.version_id == vid))
    for v in new:
        insert_version(conn, v)
    relabelled = []
    for pv in primary_versions:
        rv = have.get(pv.version_id)
        if rv is not None and rv.stages != pv.stages:
            rv.stages = list(pv.stages)
            relabelled.append(rv)
    save_stages(conn, relabelled)
    return bool(new or gone or relabelled)


def _sync_region(call, secret: Secret, region: str, key_id: str | None, force: bool = False) -> dict:
    """Create or refresh the replica of `secret` in `region`; its ReplicationStatus entry."""
    if region not in call.engine.regions:
        raise InvalidParameterException(f"{region} is not a Region this endpoint serves.")
    store = call.engine.store_for(region)
    replica_arn = arn_in_region(secret.arn, region)
    with call.store.read() as conn:
        primary_versions = load_versions(conn, secret.arn)
        tags = get_tags(conn, secret.arn)
    changed(store)
    with store.write() as conn:
        replica = load_secret(conn, replica_arn)
        if replica is None:
            clash = find_by_name(conn, secret.account, region, secret.name)
            if clash is not None:
                if not force:
                    return _status(region, key_id, "Failed",
                                   f"Replication failed: Secret name {secret.name} already exists in the region.")
                delete_secret_rows(conn, clash.arn)
            replica = Secret(arn=replica_arn, account=secret.account, region=region, name=secret.name,
                             created=secret.created, primary_region=secret.region)
            insert_secret(conn, replica)
        replica.description, replica.secret_type = secret.description, secret.secret_type
        replica.kms_key_id, replica.last_changed = key_id or None, secret.last_changed
        replica.primary_region = secret.region
        save_secret(conn, replica)
        delete_all(conn, replica_arn)
        set_tags(conn, replica_arn, tags)
        push_versions(call, conn, primary_versions, replica, replica.key_id, region)
    return _status(region, key_id, "InSync")


def _save_statuses(call, secret: Secret, statuses: list[dict]) -> None:
    with call.store.write() as conn:
        fresh = load_secret(conn, secret.arn)
        fresh.replicas = json.dumps(statuses)
        save_secret(conn, fresh)
        secret.replicas = fresh.replicas


def add_replicas(call, secret: Secret, regions: list[dict], force: bool) -> list[dict]:
    regions = required_members(regions, "AddReplicaRegions", "Region")
    statuses = {s["Region"]: s for s in secret.replica_list()}
    for r in regions:
        region = r["Region"]
        if region == secret.region:
            raise InvalidParameterException("You can't replicate a secret to the Region it is in.")
        if region in statuses:
            raise InvalidRequestException(f"The secret is already replicated to {region}.")
    for r in regions:
        region, key_id = r["Region"], r.get("KmsKeyId")
        try:
            statuses[region] = _sync_region(call, secret, region, key_id, force)
        except Exception as err:        # noqa: BLE001 - a failed Region is reported, not raised
            statuses[region] = _status(region, key_id, "Failed",
                                       f"Replication failed: {getattr(err, 'message', None) or type(err).__name__}")
        call.engine.service_event(call.store, "secretsmanager",
                                  "ReplicationSucceeded" if statuses[region]["Status"] == "InSync" else "ReplicationFailed",
                                  secret.region, secret.account, [("AWS::SecretsManager::Secret", secret.arn)],
                                  {"region": region})
    out = list(statuses.values())
    _save_statuses(call, secret, out)
    return out


def _failure(err: Exception) -> str:
    return f"Replication failed: {getattr(err, 'message', None) or type(err).__name__}"


def sync_all(call, secret: Secret) -> None:
    """Push the primary's current state to each of its replicas, Region and cross-account (after
    every change of the primary), and record how each went."""
    statuses = secret.replica_list()
    for s in statuses:
        key_id = s.get("KmsKeyId") if s.get("KmsKeyId") != "alias/aws/secretsmanager" else None
        try:
            new = _sync_region(call, secret, s["Region"], key_id, True)
        except Exception as err:      # noqa: BLE001 - a failed Region is reported, not raised
            new = _status(s["Region"], s.get("KmsKeyId"), "Failed", _failure(err))
        s.update(new)
    if statuses:
        _save_statuses(call, secret, statuses)
    entries = [sync_cross_account(call, secret, e) if e["ReplicationStatus"] != DETACHED else e
               for e in secret.cross_account_replicas]
    if entries:
        save_cross_account_entries(call, secret, entries)


def sync_stored(engine, store, arn: str) -> None:
    """`sync_all` for work the service does on its own (a finished rotation)."""
    with store.read() as conn:
        secret = load_secret(conn, arn)
    if secret is None or not (secret.replica_list() or secret.cross_account_replicas):
        return
    call = _service_call(engine, service_context(secret, secret.region), store)
    sync_all(call, secret)


# ---- cross-account replicas -------------------------------------------------------------------

DETACHED = "Detached"
SESSION_NAME = "SecretsManagerReplication"


def writer_call(call, primary: Secret, role_arn: str | None):
    """Who replicates: the replication role's session, or without one the caller who changed the
    primary (a forward access session: the caller's own permissions)."""
    if not role_arn:
        return call
    role = access.assumable_role(call, role_arn)
    if role is None:
        raise InvalidRequestException(f"Secrets Manager can't assume the replication role {role_arn}.")
    principal = Principal(account=role.account, arn=f"arn:aws:sts::{role.account}:assumed-role/{role.name}/{SESSION_NAME}",
                          type="AssumedRole", name=role.name, session_name=SESSION_NAME, role_arn=role.arn)
    ctx = RequestContext(principal=principal, region=primary.region, user_agent=access.SERVICE_PRINCIPAL)
    return Call(call.engine, ctx, _SPEC, call.store, {})


def sync_cross_account(call, primary: Secret, entry: dict) -> dict:
    """Push the primary's versions to the cross-account replica `entry` names; the entry with its
    new ReplicationStatus. The replica's CrossAccountPrimary status follows."""
    replica_arn = entry["ReplicaSecretARN"]
    with call.store.read() as conn:
        primary_versions = load_versions(conn, primary.arn)
    status, message, pushed = "InSync", None, False
    with call.store.write() as conn:
        replica = load_secret(conn, replica_arn)
        link = replica.cross_account_primary if replica is not None else None
        if link is None or link.get("PrimarySecretARN") != primary.arn:
            return cross_account_entry(replica_arn, entry.get("ReplicationRoleARN"), "Failed",
                                       "Replication failed: the replica secret no longer replicates from this secret.")
        try:
            writer = writer_call(call, primary, entry.get("ReplicationRoleARN"))
            pushed = push_versions(writer, conn, primary_versions, replica, replica.get_attrs()["key_arn"],
                                   replica.region, wrap="Encrypt")
            if pushed:
                replica.last_changed = ts(call.now)
        except AwsError as err:
            status, message = "Failed", _failure(err)
        replica.set_attrs(cross_account_primary=cross_account_link(primary.arn, status, message))
        save_secret(conn, replica)
    if pushed or status != entry["ReplicationStatus"]:
        call.engine.service_event(call.store, "secretsmanager",
                                  "ReplicationSucceeded" if status == "InSync" else "ReplicationFailed",
                                  primary.region, primary.account, [("AWS::SecretsManager::Secret", primary.arn)],
                                  {"replicaSecretArn": replica_arn})
    return cross_account_entry(replica_arn, entry.get("ReplicationRoleARN"), status, message)


def cross_account_link(primary_arn: str, status: str, message: str | None = None) -> dict:
    """A cross-account replica's CrossAccountPrimary."""
    out = {"PrimarySecretARN": primary_arn, "ReplicationStatus": status}
    if message:
        out["StatusMessage"] = message
    return out


def cross_account_entry(replica_arn: str, role_arn: str | None, status: str, message: str | None = None) -> dict:
    """A primary's CrossAccountReplicaEntry."""
    out = {"ReplicaSecretARN": replica_arn, "ReplicationStatus": status}
    if role_arn:
        out["ReplicationRoleARN"] = role_arn
    if message:
        out["StatusMessage"] = message
    return out


def save_cross_account_entries(call, primary: Secret, entries: list[dict]) -> None:
    with call.store.write() as conn:
        fresh = load_secret(conn, primary.arn)
        fresh.set_attrs(cross_account_replicas=entries or None)
        save_secret(conn, fresh)
        primary.attrs = fresh.attrs


def _stop_cross_account(call, replica: Secret) -> None:
    """The replica account ends replication: the replica becomes standalone (its link and the
    policy Secrets Manager attached go) and the primary's entry for it turns Detached."""
    access.authorize_secret(call, "secretsmanager:DeleteResourcePolicy", replica,
                            {"secretsmanager:PolicyName": MANAGED_POLICY})
    primary_arn = replica.cross_account_primary["PrimarySecretARN"]
    with call.store.write() as conn:
        policies = dict(replica.get_attrs().get("managed_policies") or {})
        policies.pop(MANAGED_POLICY, None)
        replica.set_attrs(cross_account_primary=None, managed_policies=policies or None, key_arn=None)
        save_secret(conn, replica)
        primary = load_secret(conn, primary_arn)
        if primary is not None:
            entries = [cross_account_entry(e["ReplicaSecretARN"], e.get("ReplicationRoleARN"), DETACHED,
                                           "Replication was stopped by the replica secret's account.")
                       if e["ReplicaSecretARN"] == replica.arn else e for e in primary.cross_account_replicas]
            primary.set_attrs(cross_account_replicas=entries or None)
            save_secret(conn, primary)
    call.engine.service_event(call.store, "secretsmanager", "ReplicationPromoted", call.region, replica.account,
                              [("AWS::SecretsManager::Secret", replica.arn)], {"primarySecretArn": primary_arn})


@mutating("ReplicateSecretToRegions")
def replicate_secret_to_regions(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    regions = required_members(p["AddReplicaRegions"], "AddReplicaRegions", "Region")
    access.authorize_secret(call, "secretsmanager:ReplicateSecretToRegions", secret,
                            {"secretsmanager:AddReplicaRegions": [r["Region"] for r in regions],
                             "secretsmanager:ForceOverwriteReplicaSecret": bool(p.get("ForceOverwriteReplicaSecret"))})
    require_not_deleted(secret, "ReplicateSecretToRegions")
    if secret.is_replica or secret.cross_account_primary is not None:
        raise InvalidRequestException("You can't replicate a replica secret; call this on its primary secret.")
    statuses = add_replicas(call, secret, regions, bool(p.get("ForceOverwriteReplicaSecret")))
    return {"ARN": secret.arn, "ReplicationStatus": statuses}


@mutating("RemoveRegionsFromReplication")
def remove_regions_from_replication(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:RemoveRegionsFromReplication", secret)
    if secret.is_replica:
        raise InvalidRequestException("Call RemoveRegionsFromReplication in the primary Region.")
    statuses = secret.replica_list()
    names = {s["Region"] for s in statuses}
    for region in p["RemoveReplicaRegions"]:
        if region not in names:
            raise InvalidParameterException(f"The secret is not replicated to {region}.")
    for region in p["RemoveReplicaRegions"]:
        changed(call.engine.store_for(region))
        with call.engine.store_for(region).write() as conn:
            replica = load_secret(conn, arn_in_region(secret.arn, region))
            if replica is not None and replica.primary_region == secret.region:
                delete_secret_rows(conn, replica.arn)     # a removed replica goes at once
    remaining = [s for s in statuses if s["Region"] not in set(p["RemoveReplicaRegions"])]
    _save_statuses(call, secret, remaining)
    return {"ARN": secret.arn, "ReplicationStatus": remaining}


@mutating("StopReplicationToReplica")
def stop_replication_to_replica(call, p):
    replica = resolve_secret(call, p["SecretId"])
    call.resource(replica.arn, "AWS::SecretsManager::Secret", replica.account)
    access.authorize_secret(call, "secretsmanager:StopReplicationToReplica", replica)
    if replica.cross_account_primary is not None:
        _stop_cross_account(call, replica)
        return {"ARN": replica.arn}
    if not replica.is_replica:
        raise InvalidRequestException("StopReplicationToReplica is called on a replica secret, in its Region.")
    primary_region = replica.primary_region
    with call.store.write() as conn:
        replica.primary_region = None
        save_secret(conn, replica)
    primary_store = call.engine.store_for(primary_region)
    changed(primary_store)
    with primary_store.write() as conn:
        primary = load_secret(conn, arn_in_region(replica.arn, primary_region))
        if primary is not None:
            primary.replicas = json.dumps([s for s in primary.replica_list() if s["Region"] != call.region])
            save_secret(conn, primary)
    call.engine.service_event(call.store, "secretsmanager", "ReplicationPromoted", call.region, replica.account,
                              [("AWS::SecretsManager::Secret", replica.arn)], {"primaryRegion": primary_region})
    return {"ARN": replica.arn}


