"""keyplane.Key: a KMS key declared in a Pulumi stack (names as the AWS provider's aws.kms.Key).

What KMS cannot change in place (spec, usage, multi-Region, origin, custom key store, region)
replaces the key; the rest is updated in place. A key disabled or scheduled for deletion outside
Pulumi shows on refresh, and the next `up` puts it back as declared. Deleting the Key schedules
its deletion with `deletion_window_in_days`, as AWS does.
"""
from __future__ import annotations

import json
from typing import Optional

from pulumi.dynamic import CheckFailure

from keyplane.resources import base

PENDING = ("PendingDeletion", "PendingReplicaDeletion")


class KeyProvider(base.Provider):
    resource = "key"
    replace_on = frozenset(
        {"key_spec", "customer_master_key_spec", "key_usage", "multi_region", "origin",
         "custom_key_store_id", "region", "account"}
    )
    documents = {"policy": "key-policy"}
    kept_outputs = ("public_key",)

    def normalize(self, inputs):
        # aws.kms.Key's older name for the spec; one field is what gets compared and sent.
        if "key_spec" not in inputs and "customer_master_key_spec" in inputs:
            inputs["key_spec"] = inputs["customer_master_key_spec"]
        inputs.setdefault("key_spec", "SYMMETRIC_DEFAULT")
        if isinstance(inputs.get("policy"), dict) and not base.contains_unknown(inputs["policy"]):
            inputs["policy"] = json.dumps(inputs["policy"], indent=2)
        return inputs

    def validate(self, inputs):
        spec, old_name = inputs.get("key_spec"), inputs.get("customer_master_key_spec")
        failures = []
        if old_name is not None and not base.contains_unknown([spec, old_name]) and spec != old_name:
            failures.append(CheckFailure(
                "customer_master_key_spec",
                f"customer_master_key_spec: {old_name!r} contradicts key_spec {spec!r}; give one of them"))
        if inputs.get("rotation_period_in_days") is not None and inputs.get("enable_key_rotation") is False:
            failures.append(CheckFailure(
                "rotation_period_in_days",
                "rotation_period_in_days: only meaningful with enable_key_rotation=True"))
        if isinstance(spec, str) and spec not in _served_specs():
            failures.append(CheckFailure(
                "key_spec", f"key_spec: {spec} is not supported by keyplane (CreateKey would refuse it with "
                            "UnsupportedOperationException)"))
        policy = inputs.get("policy")
        if policy is not None and not base.contains_unknown(policy):
            from keyplane.engine.policy import parse_policy  # the rules KMS adds to the grammar

            try:
                parse_policy(policy, "key")
            except Exception as exc:  # noqa: BLE001 - MalformedPolicyDocumentException
                failures.append(CheckFailure("policy", f"policy.{getattr(exc, 'message', exc)}"))
        return failures

    def same(self, name, old, new):
        if name == "customer_master_key_spec":
            return True  # normalize() copied it to key_spec, which is what gets compared
        return super().same(name, old, new)

    def doomed(self, olds):
        return olds.get("key_state") in PENDING

    def _create(self, api, inputs):
        params = {
            "Description": inputs.get("description", ""),
            "KeyUsage": inputs["key_usage"],
            "KeySpec": inputs["key_spec"],
            "Origin": inputs["origin"],
            "MultiRegion": inputs["multi_region"],
            "BypassPolicyLockoutSafetyCheck": inputs["bypass_policy_lockout_safety_check"],
            "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(inputs.get("tags", {}).items())],
        }
        if inputs.get("policy") is not None:
            params["Policy"] = inputs["policy"]
        if inputs.get("custom_key_store_id"):
            params["CustomKeyStoreId"] = inputs["custom_key_store_id"]
        key_id = api.kms.create_key(**params)["KeyMetadata"]["KeyId"]
        api.on_failure(lambda: api.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7))
        # GetPublicKey needs an enabled key: read it now, before is_enabled=False disables it; it
        # never changes, so later reads keep it from state (kept_outputs) whatever the key's state
        once = {"public_key": _public_key_pem(api, key_id)} if _asymmetric(inputs["key_spec"]) else {}
        if inputs["enable_key_rotation"]:
            self._enable_rotation(api, key_id, inputs)
        if not inputs["is_enabled"]:
            api.kms.disable_key(KeyId=key_id)
        return key_id, once

    def _read(self, api, id_, inputs) -> Optional[dict]:
        meta = api.kms.describe_key(KeyId=id_)["KeyMetadata"]
        outs = {
            "key_id": meta["KeyId"],
            "arn": meta["Arn"],
            "key_state": meta["KeyState"],
            "description": meta.get("Description", ""),
            "key_usage": meta["KeyUsage"],
            "key_spec": meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
            "origin": meta.get("Origin"),
            "multi_region": meta.get("MultiRegion", False),
            "is_enabled": meta["Enabled"],
            "deletion_date": _iso(meta.get("DeletionDate")),
            "creation_date": _iso(meta.get("CreationDate")),
        }
        if meta.get("CustomKeyStoreId"):
            outs["custom_key_store_id"] = meta["CustomKeyStoreId"]
        if "customer_master_key_spec" in inputs:  # echo the older name only if the user chose it
            outs["customer_master_key_spec"] = meta.get("CustomerMasterKeySpec") or outs["key_spec"]
        if meta["KeyState"] == "Enabled" and _asymmetric(outs["key_spec"]):
            outs["public_key"] = _public_key_pem(api, id_)
        if meta["KeyState"] in PENDING:
            return outs  # policy, rotation and tags are unreadable until deletion is cancelled
        policy = _facet(api.kms.get_key_policy, KeyId=id_, PolicyName="default")
        if policy is not None:
            outs["policy"] = base.live_document(inputs.get("policy"), policy["Policy"])
        if meta["KeyUsage"] == "ENCRYPT_DECRYPT" and meta.get("KeySpec") == "SYMMETRIC_DEFAULT":
            rotation = _facet(api.kms.get_key_rotation_status, KeyId=id_)
            if rotation is not None:
                outs["enable_key_rotation"] = rotation["KeyRotationEnabled"]
                if rotation["KeyRotationEnabled"] or inputs.get("rotation_period_in_days") is not None:
                    outs["rotation_period_in_days"] = rotation.get("RotationPeriodInDays")
        outs["tags"] = _tags(api, id_)
        return outs

    def _update(self, api, id_, olds, news, changed):
        kms = api.kms
        if olds.get("key_state") in PENDING:
            kms.cancel_key_deletion(KeyId=id_)  # leaves the key Disabled
            changed = changed | {"is_enabled"}
        if news["is_enabled"] and "is_enabled" in changed:
            kms.enable_key(KeyId=id_)
        if "description" in changed:
            kms.update_key_description(KeyId=id_, Description=news.get("description", ""))
        if "policy" in changed and news.get("policy") is not None:
            kms.put_key_policy(KeyId=id_, PolicyName="default", Policy=news["policy"],
                               BypassPolicyLockoutSafetyCheck=news["bypass_policy_lockout_safety_check"])
        if changed & {"enable_key_rotation", "rotation_period_in_days"}:
            if news["enable_key_rotation"]:
                self._enable_rotation(api, id_, news)
            else:
                kms.disable_key_rotation(KeyId=id_)
        if "tags" in changed:
            old, new = olds.get("tags") or {}, news.get("tags") or {}
            gone = sorted(set(old) - set(new))
            if gone:
                kms.untag_resource(KeyId=id_, TagKeys=gone)
            put = {k: v for k, v in new.items() if old.get(k) != v}
            if put:
                kms.tag_resource(KeyId=id_, Tags=[{"TagKey": k, "TagValue": v} for k, v in sorted(put.items())])
        if not news["is_enabled"] and "is_enabled" in changed:
            kms.disable_key(KeyId=id_)

    def _delete(self, api, id_, inputs):
        if api.kms.describe_key(KeyId=id_)["KeyMetadata"]["KeyState"] in PENDING:
            return  # already scheduled: deleting again is a no-op
        api.kms.schedule_key_deletion(KeyId=id_, PendingWindowInDays=inputs.get("deletion_window_in_days", 30))

    @staticmethod
    def _enable_rotation(api, key_id, inputs):
        params = {"KeyId": key_id}
        if inputs.get("rotation_period_in_days") is not None:
            params["RotationPeriodInDays"] = inputs["rotation_period_in_days"]
        api.kms.enable_key_rotation(**params)


def _asymmetric(spec: Optional[str]) -> bool:
    return bool(spec) and spec != "SYMMETRIC_DEFAULT" and not spec.startswith("HMAC_")


def _public_key_pem(api, key_id) -> str:
    """GetPublicKey's DER SubjectPublicKeyInfo as PEM, the form OpenSSL and most tools take."""
    from cryptography.hazmat.primitives import serialization

    der = api.kms.get_public_key(KeyId=key_id)["PublicKey"]
    return serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _served_specs() -> frozenset:
    """The key specs keyplane's engine can make (SM2 and ML-DSA are in the model, not here)."""
    from keyplane.engine import registry
    from keyplane.engine.kms import specs

    registry.load_services()  # spec modules register themselves on import
    return frozenset(specs.SPECS)


def _facet(operation, **params) -> Optional[dict]:
    """One facet of a key, or None from a keyplane server that does not offer the operation
    (an older release): there is then nothing of that facet that could have drifted."""
    try:
        return operation(**params)
    except Exception as exc:  # noqa: BLE001
        if base.error_code(exc) == "UnknownOperationException":
            return None
        raise


def _iso(value) -> Optional[str]:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _tags(api, key_id) -> dict:
    tags, marker = {}, None
    while True:
        page = api.kms.list_resource_tags(KeyId=key_id, **({"Marker": marker} if marker else {}))
        tags.update({t["TagKey"]: t["TagValue"] for t in page.get("Tags", [])})
        if not page.get("Truncated"):
            return tags
        marker = page["NextMarker"]


class Key(base.Resource, module="keyplane", name="Key"):
    """A KMS key. Inputs as aws.kms.Key: description, key_usage, key_spec (or
    customer_master_key_spec), policy (dict or JSON text), bypass_policy_lockout_safety_check,
    enable_key_rotation, rotation_period_in_days, deletion_window_in_days, is_enabled,
    multi_region, origin, custom_key_store_id, tags, region. Outputs: key_id, arn, key_state,
    creation_date, deletion_date, public_key (PEM, asymmetric keys), and the inputs as they are live."""

    _provider_class = KeyProvider
    _computed = ("key_id", "arn", "key_state", "creation_date", "deletion_date", "key_spec",
                 "policy", "enable_key_rotation", "rotation_period_in_days", "region", "public_key")
