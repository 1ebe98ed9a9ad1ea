"""keyplane.MultiRegionReplica: a replica of a multi-Region key in another Region (ReplicateKey),
with the argument names of the Pulumi AWS provider's aws.kms.ReplicaKey.

`region` is the replica's Region; ReplicateKey is called in the primary's Region (from
`primary_key_arn`), everything else on the replica in its own Region. A replica has the primary's
key id, so the resource id is that key id, read in `region`. Another primary or Region replaces
the replica; description, policy, enabled state and tags update in place. A replica promoted to
primary outside Pulumi (UpdatePrimaryRegion) is still the same key of the same set: no drift.
Deleting it schedules its deletion with `deletion_window_in_days`, as AWS does.
"""
from __future__ import annotations

from typing import Optional

from pulumi.dynamic import CheckFailure

from keyplane.resources import base
from keyplane.resources.key import (PENDING, _iso, _tags, cancel_pending_deletion, policy_and_tags, read_policy,
                                    schedule_deletion, update_description_and_policy, update_key_tags)


def _region_of(arn: str) -> str:
    return arn.split(":")[3]


def _key_id_of(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


class MultiRegionReplicaProvider(base.Provider):
    resource = "multi_region_replica"
    replace_on = frozenset({"primary_key_arn", "region"})
    documents = {"policy": "key-policy"}

    def normalize(self, inputs):
        base.policy_text(inputs, "policy")
        return inputs

    def validate(self, inputs):
        primary, region = inputs.get("primary_key_arn"), inputs.get("region")
        if base.contains_unknown([primary, region]) or not primary or not region:
            return []
        if _region_of(primary) == region:
            return [CheckFailure("region", f"region: {region!r} is the primary key's Region; a replica "
                                           "must be in another Region")]
        return []

    def doomed(self, olds):
        return olds.get("key_state") in PENDING

    def _create(self, api, inputs):
        primary = inputs["primary_key_arn"]
        params = {
            "KeyId": primary,
            "ReplicaRegion": api.region,
            "Description": inputs.get("description", ""),
            **policy_and_tags(inputs),
        }
        meta = api.client("kms", region=_region_of(primary)).replicate_key(**params)["ReplicaKeyMetadata"]
        key_id = meta["KeyId"]
        api.on_failure(lambda: api.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7))
        if not inputs["enabled"]:
            api.kms.disable_key(KeyId=key_id)
        return key_id

    def _read(self, api, id_, inputs) -> Optional[dict]:
        meta = api.kms.describe_key(KeyId=id_)["KeyMetadata"]
        config = meta.get("MultiRegionConfiguration") or {}
        live_primary = (config.get("PrimaryKey") or {}).get("Arn")
        declared = inputs.get("primary_key_arn")
        outs = {
            "key_id": meta["KeyId"],
            "arn": meta["Arn"],
            "key_state": meta["KeyState"],
            "description": meta.get("Description", ""),
            "enabled": meta["Enabled"],
            # the set, not which member is primary today, is what was declared
            "primary_key_arn": declared if declared and _key_id_of(declared) == meta["KeyId"] else live_primary,
            "multi_region_key_type": config.get("MultiRegionKeyType"),
            "key_spec": meta.get("KeySpec"),
            "key_usage": meta["KeyUsage"],
            "deletion_date": _iso(meta.get("DeletionDate")),
            "creation_date": _iso(meta.get("CreationDate")),
        }
        if meta["KeyState"] in PENDING:
            return outs
        read_policy(api, id_, inputs, outs)
        outs["tags"] = _tags(api, id_)
        return outs

    def _update(self, api, id_, olds, news, changed):
        kms = api.kms
        changed = cancel_pending_deletion(kms, id_, olds, changed, "enabled")
        if news["enabled"] and "enabled" in changed:
            kms.enable_key(KeyId=id_)
        update_description_and_policy(kms, id_, news, changed)
        if "tags" in changed:
            update_key_tags(kms, id_, olds.get("tags") or {}, news.get("tags") or {})
        if not news["enabled"] and "enabled" in changed:
            kms.disable_key(KeyId=id_)

    def _delete(self, api, id_, inputs):
        schedule_deletion(api, id_, inputs)


class MultiRegionReplica(base.Resource, module="keyplane", name="MultiRegionReplica"):
    """A replica of a multi-Region key. Inputs as aws.kms.ReplicaKey: primary_key_arn, region (the
    replica's), description, policy (dict or JSON text), enabled, deletion_window_in_days,
    bypass_policy_lockout_safety_check, tags. Outputs: key_id, arn, key_state,
    multi_region_key_type, key_spec, key_usage, creation_date, deletion_date, and the inputs as
    they are live."""

    _provider_class = MultiRegionReplicaProvider
    _computed = {"key_id": str, "arn": str, "key_state": str, "multi_region_key_type": str, "key_spec": str,
                 "key_usage": str, "creation_date": str, "deletion_date": str, "policy": object, "region": str}
