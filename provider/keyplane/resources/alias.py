"""keyplane.Alias: a KMS alias (names as the AWS provider's aws.kms.Alias).

Its name is its identity: renaming replaces it, deleting the old alias first so the name is free.
Pointing it at another key is an in-place update (UpdateAlias).
"""
from __future__ import annotations

from typing import Optional

from keyplane.resources import base


class AliasProvider(base.Provider):
    resource = "alias"
    replace_on = frozenset({"name", "region", "account"})
    delete_before_replace = True

    def _create(self, api, inputs):
        try:
            api.kms.create_alias(AliasName=inputs["name"], TargetKeyId=inputs["target_key_id"])
        except Exception as exc:  # noqa: BLE001
            # A create retried after an interrupted `up` finds its own alias: already done.
            if base.error_code(exc) != "AlreadyExistsException" or not self._points_at_target(api, inputs):
                raise
        return inputs["name"]

    def _points_at_target(self, api, inputs) -> bool:
        live = self._read(api, inputs["name"], inputs)
        return live is not None and live["target_key_id"] == inputs["target_key_id"]

    def _read(self, api, id_, inputs) -> Optional[dict]:
        pages = api.kms.get_paginator("list_aliases").paginate()
        alias = next((a for page in pages for a in page["Aliases"] if a["AliasName"] == id_), None)
        if alias is None or not alias.get("TargetKeyId"):
            return None
        target = alias["TargetKeyId"]
        declared = inputs.get("target_key_id") or ""
        arn = alias["AliasArn"]
        key_arn = arn.split(":alias/")[0] + f":key/{target}"
        return {
            "name": id_,
            "arn": arn,
            "target_key_arn": key_arn,
            # a key ARN and its key id name the same target: keep the declared form, no drift
            "target_key_id": declared if declared in (target, key_arn) else target,
        }

    def _update(self, api, id_, olds, news, changed):
        api.kms.update_alias(AliasName=id_, TargetKeyId=news["target_key_id"])

    def _delete(self, api, id_, inputs):
        api.kms.delete_alias(AliasName=id_)


class Alias(base.Resource, module="keyplane", name="Alias"):
    """A KMS alias. Inputs: name (`alias/...`), target_key_id (key id or ARN), region.
    Outputs: arn, target_key_arn."""

    _provider_class = AliasProvider
    _computed = {"arn": str, "target_key_arn": str, "region": str}
