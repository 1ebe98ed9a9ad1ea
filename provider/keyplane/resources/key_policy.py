"""keyplane.KeyPolicy: a KMS key's policy as a resource of its own (aws.kms.KeyPolicy's names).

For a policy managed apart from its key (another stack, another team). A Key with `policy=` and a
KeyPolicy on the same key would undo each other on every `up`, so the program fails when both are
declared. Deleting the KeyPolicy puts back the default key policy (the account's root, delegating to
IAM), which is the policy the key would have without one; a key already gone is nothing to do.
"""
from __future__ import annotations

from typing import Optional

from keyplane.resources import base


class KeyPolicyProvider(base.Provider):
    resource = "key-policy"
    replace_on = frozenset({"key_id", "region", "account"})
    documents = {"policy": "key-policy"}

    def normalize(self, inputs):
        return base.policy_text(inputs, "policy")

    def _put(self, api, key_id, inputs):
        api.kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=inputs["policy"],
                               BypassPolicyLockoutSafetyCheck=inputs.get("bypass_policy_lockout_safety_check", False))

    def _create(self, api, inputs):
        key_id = api.kms.describe_key(KeyId=inputs["key_id"])["KeyMetadata"]["KeyId"]
        self._put(api, key_id, inputs)
        return key_id

    def _read(self, api, id_, inputs) -> Optional[dict]:
        live = api.kms.get_key_policy(KeyId=id_, PolicyName="default")["Policy"]
        return {"key_id": inputs.get("key_id", id_), "policy": base.live_document(inputs.get("policy"), live)}

    def _update(self, api, id_, olds, news, changed):
        self._put(api, id_, news)

    def _delete(self, api, id_, inputs):
        from keyplane.engine.policy import default_key_policy

        meta = api.kms.describe_key(KeyId=id_)["KeyMetadata"]
        if meta["KeyState"] in ("PendingDeletion", "PendingReplicaDeletion"):
            return
        api.kms.put_key_policy(KeyId=id_, PolicyName="default", Policy=default_key_policy(meta["AWSAccountId"]))


class KeyPolicy(base.Resource, module="keyplane", name="KeyPolicy"):
    """A key's policy, apart from the Key. Inputs: key_id, policy (dict or JSON text),
    bypass_policy_lockout_safety_check, region, account. Use it or the Key's `policy`, not both."""

    _provider_class = KeyPolicyProvider
    _computed = {"region": str}

    def __init__(self, resource_name: str, opts=None, **inputs):
        inputs["key_id"] = base.sets_part_of(inputs.get("key_id"), "policy", "KeyPolicy", resource_name)
        super().__init__(resource_name, opts, **inputs)
