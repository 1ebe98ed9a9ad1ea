"""Region replicas: ReplicateSecretToRegions, RemoveRegionsFromReplication, StopReplicationToReplica,
and the push that keeps every replica in step with its primary.

A replica lives in its own Region's store (`engine.store_for(region)`, which may be another
database), so it survives the loss of the primary's. Its ARN differs from the primary's only in the
Region; its versions carry the primary's version ids and labels but are re-encrypted under a key of
the replica's own Region (its KmsKeyId, or that Region's aws/secretsmanager key). Replicas are
read-only; StopReplicationToReplica, called in the replica's Region, promotes one to a standalone
secret.
"""
from __future__ import annotations

import json

from ..calls import Call, RequestContext
from ..identity import Principal
from ..registry import OperationSpec
from ..tagging import delete_all, get_tags, set_tags
from . import access
from .errors import InvalidParameterException, InvalidRequestException
from .model import (Secret, Version, arn_in_region, changed, decrypt_version, delete_secret_rows,
                    encrypt_value, find_by_name, insert_secret, insert_version, listed_key, load_secret,
                    load_versions, mutating, require_not_deleted, required_members, resolve_secret,
                    save_secret, save_stages)

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


def _sync_one(call, secret: Secret, region: str, key_id: str | None, force: bool = False) -> dict:
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
        have = {v.version_id: v for v in load_versions(conn, replica_arn)}
        wanted = {v.version_id for v in primary_versions}
        from .tables import versions as versions_table
        for vid in set(have) - wanted:
            conn.execute(versions_table.delete().where(versions_table.c.secret_arn == replica_arn,
                                                       versions_table.c.version_id == vid))
        for pv in primary_versions:
            rv = have.get(pv.version_id)
            if rv is None:
                value = decrypt_version(call, pv)
                data_key, sealed, key_arn = encrypt_value(call, replica_arn, replica.key_id, pv.version_id,
                                                          value, region=region)
                insert_version(conn, Version(secret_arn=replica_arn, version_id=pv.version_id,
                                             created=pv.created, stages=list(pv.stages), kind=pv.kind,
                                             data_key=data_key, ciphertext=sealed,
                                             kms_key_arn=listed_key(replica.kms_key_id, key_arn)))
            elif rv.stages != pv.stages:
                rv.stages = list(pv.stages)
                save_stages(conn, [rv])
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
            statuses[region] = _sync_one(call, secret, region, key_id, force)
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


def sync_all(call, secret: Secret) -> None:
    """Push the primary's current state to each replica (after every change of the primary)."""
    statuses = secret.replica_list()
    if not statuses:
        return
    for s in statuses:
        try:
            new = _sync_one(call, secret, s["Region"], s.get("KmsKeyId") if s.get("KmsKeyId") != "alias/aws/secretsmanager" else None, True)
        except Exception as err:      # noqa: BLE001
            new = _status(s["Region"], s.get("KmsKeyId"), "Failed",
                          f"Replication failed: {getattr(err, 'message', None) or type(err).__name__}")
        s.update(new)
    _save_statuses(call, secret, statuses)


def sync_stored(engine, store, arn: str) -> None:
    """`sync_all` for work the service does on its own (a finished rotation)."""
    with store.read() as conn:
        secret = load_secret(conn, arn)
    if secret is None or not secret.replica_list():
        return
    call = _service_call(engine, service_context(secret, secret.region), store)
    sync_all(call, secret)


@mutating("ReplicateSecretToRegions")
def replicate_secret_to_regions(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    regions = required_members(p["AddReplicaRegions"], "AddReplicaRegions", "Region")
    access.authorize_secret(call, "secretsmanager:ReplicateSecretToRegions", secret,
                            {"secretsmanager:AddReplicaRegions": [r["Region"] for r in regions],
                             "secretsmanager:ForceOverwriteReplicaSecret": bool(p.get("ForceOverwriteReplicaSecret"))})
    require_not_deleted(secret, "ReplicateSecretToRegions")
    if secret.is_replica:
        raise InvalidRequestException("You can't replicate a replica secret; call this in the primary Region.")
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


