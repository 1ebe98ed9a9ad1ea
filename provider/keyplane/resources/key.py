"""keyplane.Key: a KMS key declared in a Pulumi stack (names as the AWS provider's aws.kms.Key).

What KMS cannot change in place (spec, usage, multi-Region, origin, custom key store, region)
replaces the key; the rest is updated in place. A key disabled or scheduled for deletion outside
Pulumi shows on refresh, and the next `up` puts it back as declared. Deleting the Key schedules
its deletion with `deletion_window_in_days`, as AWS does.

Origin EXTERNAL takes its material from `key_material_base64` (secret): the provider wraps it for
ImportKeyMaterial the way AWS's guide does, with `valid_to` as its expiry. Material that expired
(the key is PendingImport) is imported again by the next `up`; a new `valid_to` re-imports it in
place; other material means another key (replacement).
"""
from __future__ import annotations

from typing import Optional

from pulumi.dynamic import CheckFailure

from keyplane.resources import base

PENDING = ("PendingDeletion", "PendingReplicaDeletion")


class KeyProvider(base.Provider):
    resource = "key"
    replace_on = frozenset(
        {"key_spec", "customer_master_key_spec", "key_usage", "multi_region", "origin",
         "custom_key_store_id", "key_material_base64", "region", "account"}
    )
    documents = {"policy": "key-policy"}
    kept_outputs = ("public_key",)

    def normalize(self, inputs):
        # aws.kms.Key's older name for the spec; one field is what gets compared and sent.
        if "key_spec" not in inputs and "customer_master_key_spec" in inputs:
            inputs["key_spec"] = inputs["customer_master_key_spec"]
        inputs.setdefault("key_spec", "SYMMETRIC_DEFAULT")
        base.policy_text(inputs, "policy")
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
        failures += _imported_material_failures(inputs)
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
        if name == "valid_to" and old is not None and new is not None:
            return _instant(old) == _instant(new)
        return super().same(name, old, new)

    def doomed(self, olds):
        # imported material that expired or was deleted outside Pulumi: the next up re-imports it
        return olds.get("key_state") in PENDING or (
            olds.get("key_state") == "PendingImport" and bool(olds.get("key_material_base64")))

    def _create(self, api, inputs):
        params = {
            "Description": inputs.get("description", ""),
            "KeyUsage": inputs["key_usage"],
            "KeySpec": inputs["key_spec"],
            "Origin": inputs["origin"],
            "MultiRegion": inputs["multi_region"],
            **policy_and_tags(inputs),
        }
        if inputs.get("custom_key_store_id"):
            params["CustomKeyStoreId"] = inputs["custom_key_store_id"]
        key_id = api.kms.create_key(**params)["KeyMetadata"]["KeyId"]
        api.on_failure(lambda: api.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7))
        if inputs.get("key_material_base64"):
            _import_material(api, key_id, inputs)
        # GetPublicKey needs an enabled key with material: read it now, before is_enabled=False
        # disables it; it never changes, so later reads keep it from state (kept_outputs)
        has_material = inputs["origin"] != "EXTERNAL" or bool(inputs.get("key_material_base64"))
        once = {"public_key": _public_key_pem(api, key_id)} if _asymmetric(inputs["key_spec"]) and has_material else {}
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
        if meta.get("Origin") == "EXTERNAL":
            live = _iso(meta.get("ValidTo"))
            declared = inputs.get("valid_to")
            outs["valid_to"] = declared if live and declared and _instant(declared) == _instant(live) else live
        if "customer_master_key_spec" in inputs:  # echo the older name only if the user chose it
            outs["customer_master_key_spec"] = meta.get("CustomerMasterKeySpec") or outs["key_spec"]
        if meta["KeyState"] == "Enabled" and _asymmetric(outs["key_spec"]):
            outs["public_key"] = _public_key_pem(api, id_)
        if meta["KeyState"] in PENDING:
            return outs  # policy, rotation and tags are unreadable until deletion is cancelled
        read_policy(api, id_, inputs, outs)
        # (KMS answers no rotation status for a key whose material it did not make: imported
        # material or a custom key store -- UnsupportedOperationException "... origin is EXTERNAL
        # which is not valid for this operation.", as AWS does)
        if meta["KeyUsage"] == "ENCRYPT_DECRYPT" and meta.get("KeySpec") == "SYMMETRIC_DEFAULT" \
                and meta.get("Origin", "AWS_KMS") == "AWS_KMS":
            rotation = _facet(api.kms.get_key_rotation_status, KeyId=id_)
            if rotation is not None:
                outs["enable_key_rotation"] = rotation["KeyRotationEnabled"]
                if rotation["KeyRotationEnabled"] or inputs.get("rotation_period_in_days") is not None:
                    outs["rotation_period_in_days"] = rotation.get("RotationPeriodInDays")
        outs["tags"] = _tags(api, id_)
        return outs

    def _update(self, api, id_, olds, news, changed):
        kms = api.kms
        changed = cancel_pending_deletion(kms, id_, olds, changed, "is_enabled")
        if news.get("key_material_base64") and ("valid_to" in changed or _state(api, id_) == "PendingImport"):
            _import_material(api, id_, news)    # the same material: new expiry, or back after expiry
        if news["is_enabled"] and "is_enabled" in changed:
            kms.enable_key(KeyId=id_)
        update_description_and_policy(kms, id_, news, changed)
        if changed & {"enable_key_rotation", "rotation_period_in_days"}:
            if news["enable_key_rotation"]:
                self._enable_rotation(api, id_, news)
            else:
                kms.disable_key_rotation(KeyId=id_)
        if "tags" in changed:
            update_key_tags(kms, id_, olds.get("tags") or {}, news.get("tags") or {})
        if not news["is_enabled"] and "is_enabled" in changed:
            kms.disable_key(KeyId=id_)

    def _delete(self, api, id_, inputs):
        schedule_deletion(api, id_, inputs)

    @staticmethod
    def _enable_rotation(api, key_id, inputs):
        params = {"KeyId": key_id}
        if inputs.get("rotation_period_in_days") is not None:
            params["RotationPeriodInDays"] = inputs["rotation_period_in_days"]
        api.kms.enable_key_rotation(**params)


def _state(api, key_id) -> str:
    return api.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


def _instant(text: str):
    from datetime import datetime, timezone

    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _imported_material_failures(inputs) -> list:
    """Imported material belongs to Origin EXTERNAL; its value is never repeated in a message."""
    failures = []
    material, valid_to = inputs.get("key_material_base64"), inputs.get("valid_to")
    if base.contains_unknown([material, valid_to, inputs.get("origin")]):
        return failures
    for name, value in (("key_material_base64", material), ("valid_to", valid_to)):
        if value is not None and inputs.get("origin") != "EXTERNAL":
            failures.append(CheckFailure(name, f"{name}: only for origin EXTERNAL (imported key material)"))
    if material is not None:
        import base64
        import binascii

        try:
            raw = base64.b64decode(material, validate=True)
        except (binascii.Error, ValueError):
            failures.append(CheckFailure("key_material_base64", "key_material_base64: not valid base64"))
        else:
            if inputs.get("key_spec") == "SYMMETRIC_DEFAULT" and len(raw) != 32:
                failures.append(CheckFailure("key_material_base64", "key_material_base64: SYMMETRIC_DEFAULT "
                                             f"key material is 32 bytes, this is {len(raw)}"))
    if valid_to is not None:
        try:
            _instant(valid_to)
        except ValueError:
            failures.append(CheckFailure("valid_to", f"valid_to: {valid_to!r} is not an RFC 3339 date-time"))
        if material is None:
            failures.append(CheckFailure("valid_to", "valid_to: only with key_material_base64"))
    return failures


def _import_material(api, key_id, inputs) -> None:
    """Import the declared material as AWS's guide says: a fresh AES key wraps it (RFC 5649), the
    import's RSA public key wraps that (RSA_AES_KEY_WRAP_SHA_256, fit for every key spec)."""
    import base64
    import os

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

    params = api.kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(params["PublicKey"])
    aes_key = os.urandom(32)
    wrapped = public.encrypt(aes_key, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                   label=None))
    wrapped += aes_key_wrap_with_padding(aes_key, base64.b64decode(inputs["key_material_base64"]))
    expiry = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    if inputs.get("valid_to"):
        expiry = {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": _instant(inputs["valid_to"])}
    api.kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                **expiry)


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
    from keyplane.engine.kms import specs

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
    multi_region, origin, custom_key_store_id, tags, region; for origin EXTERNAL
    key_material_base64 (secret) and valid_to. Outputs: key_id, arn, key_state, creation_date,
    deletion_date, public_key (PEM, asymmetric keys), and the inputs as they are live."""

    _provider_class = KeyProvider
    _computed = {"key_id": str, "arn": str, "key_state": str, "creation_date": str, "deletion_date": str,
                 "key_spec": str, "policy": object, "enable_key_rotation": bool, "rotation_period_in_days": int,
                 "region": str, "public_key": str}
    _secret = ("key_material_base64",)

    def __init__(self, resource_name: str, opts=None, **inputs):
        # the material is secret from the start, so no state or log ever holds it in plaintext
        if inputs.get("key_material_base64") is not None:
            import pulumi

            inputs["key_material_base64"] = pulumi.Output.secret(inputs["key_material_base64"])
        super().__init__(resource_name, opts, **inputs)


def policy_and_tags(inputs) -> dict:
    """CreateKey's and ReplicateKey's policy members: the lockout check, the tags and the policy
    when one is declared (Key and MultiRegionReplica)."""
    params = {"BypassPolicyLockoutSafetyCheck": inputs["bypass_policy_lockout_safety_check"],
              "Tags": [{"TagKey": k, "TagValue": v} for k, v in sorted(inputs.get("tags", {}).items())]}
    if inputs.get("policy") is not None:
        params["Policy"] = inputs["policy"]
    return params


def read_policy(api, key_id: str, inputs: dict, outs: dict) -> None:
    """The key's live policy into `outs` (as declared when it means the same), if it can be read."""
    policy = _facet(api.kms.get_key_policy, KeyId=key_id, PolicyName="default")
    if policy is not None:
        outs["policy"] = base.live_document(inputs.get("policy"), policy["Policy"])


def cancel_pending_deletion(kms, key_id: str, olds: dict, changed, enabled: str):
    """A key scheduled for deletion outside Pulumi comes back: CancelKeyDeletion leaves it
    Disabled, so the `enabled` input counts as changed (returns the changed inputs)."""
    if olds.get("key_state") in PENDING:
        kms.cancel_key_deletion(KeyId=key_id)
        changed = changed | {enabled}
    return changed


def update_description_and_policy(kms, key_id: str, news: dict, changed) -> None:
    if "description" in changed:
        kms.update_key_description(KeyId=key_id, Description=news.get("description", ""))
    if "policy" in changed and news.get("policy") is not None:
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=news["policy"],
                           BypassPolicyLockoutSafetyCheck=news["bypass_policy_lockout_safety_check"])


def update_key_tags(kms, key_id: str, old: dict, new: dict) -> None:
    """Bring a key's tags from `old` to `new` with the fewest calls (Key and MultiRegionReplica)."""
    gone, put = base.tag_changes(old, new)
    if gone:
        kms.untag_resource(KeyId=key_id, TagKeys=gone)
    if put:
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": k, "TagValue": v} for k, v in sorted(put.items())])


def schedule_deletion(api, key_id: str, inputs: dict) -> None:
    """Deleting a key resource schedules the key's deletion with its window, as AWS does; a key
    already scheduled is left as it is (deleting twice is a no-op)."""
    if api.kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] in PENDING:
        return
    api.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=inputs.get("deletion_window_in_days", 30))
