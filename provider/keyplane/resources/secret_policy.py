"""keyplane.SecretPolicy: a secret's resource policy as a resource of its own
(aws.secretsmanager.SecretPolicy's names). Use it or the Secret's `policy`, not both: the program
fails when both are declared. Deleting it deletes the resource policy."""
from __future__ import annotations

from typing import Optional

from keyplane.resources import base


class SecretPolicyProvider(base.Provider):
    resource = "secret-policy"
    replace_on = frozenset({"secret_arn", "region", "account"})
    documents = {"policy": "secret-policy"}
    gone_codes = frozenset({"ResourceNotFoundException"})

    def normalize(self, inputs):
        return base.policy_text(inputs, "policy")

    def validate(self, inputs):
        from keyplane.resources.secret import public_policy_failures

        return public_policy_failures(inputs)

    def _put(self, api, inputs):
        api.secretsmanager.put_resource_policy(SecretId=inputs["secret_arn"], ResourcePolicy=inputs["policy"],
                                               BlockPublicPolicy=inputs.get("block_public_policy", True))

    def _create(self, api, inputs):
        arn = api.secretsmanager.describe_secret(SecretId=inputs["secret_arn"])["ARN"]
        self._put(api, {**inputs, "secret_arn": arn})
        return arn

    def _read(self, api, id_, inputs) -> Optional[dict]:
        live = api.secretsmanager.get_resource_policy(SecretId=id_).get("ResourcePolicy")
        if live is None:
            return None
        return {"secret_arn": inputs.get("secret_arn", id_), "policy": base.live_document(inputs.get("policy"), live)}

    def _update(self, api, id_, olds, news, changed):
        self._put(api, {**news, "secret_arn": id_})

    def _delete(self, api, id_, inputs):
        api.secretsmanager.delete_resource_policy(SecretId=id_)


class SecretPolicy(base.Resource, module="keyplane", name="SecretPolicy"):
    """A secret's resource policy, apart from the Secret. Inputs: secret_arn, policy (dict or
    JSON text), block_public_policy, region, account. Use it or the Secret's `policy`, not both."""

    _provider_class = SecretPolicyProvider
    _computed = {"region": str}

    def __init__(self, resource_name: str, opts=None, **inputs):
        inputs["secret_arn"] = base.sets_part_of(inputs.get("secret_arn"), "policy", "SecretPolicy", resource_name)
        super().__init__(resource_name, opts, **inputs)
