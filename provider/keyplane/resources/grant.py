"""keyplane.Grant: a KMS grant (names as the AWS provider's aws.kms.Grant).

A grant cannot be edited, so any change replaces it (retire_on_delete only changes what delete
does). Its token is returned once, by CreateGrant, and is kept as a secret output. Deleting the
Grant revokes it, or retires it when retire_on_delete is set.
"""
from __future__ import annotations

from typing import Optional

from keyplane.resources import base

CONSTRAINTS = {  # resource input name -> CreateGrant Constraints member
    "encryption_context_equals": "EncryptionContextEquals",
    "encryption_context_subset": "EncryptionContextSubset",
    "source_arn": "SourceArn",
}


class GrantProvider(base.Provider):
    resource = "grant"
    replace_on = frozenset({"*"})
    update_in_place = frozenset({"retire_on_delete"})
    kept_outputs = ("grant_token",)
    gone_codes = frozenset({"NotFoundException", "InvalidGrantIdException"})

    def normalize(self, inputs):
        # pulumi-aws's `constraints` is a list of blocks; CreateGrant has one Constraints
        blocks = inputs.get("constraints")
        if isinstance(blocks, list) and all(isinstance(b, dict) for b in blocks):
            merged: dict = {}
            for block in blocks:
                for member, value in block.items():
                    if member in merged and merged[member] != value:
                        raise base.Refused("constraints", f"{member} is given twice with different values")
                    merged[member] = value
            inputs["constraints"] = merged
        return inputs

    def _create(self, api, inputs):
        params = {
            "KeyId": inputs["key_id"],
            "GranteePrincipal": inputs["grantee_principal"],
            "Operations": inputs["operations"],
        }
        if inputs.get("retiring_principal"):
            params["RetiringPrincipal"] = inputs["retiring_principal"]
        if inputs.get("name"):
            params["Name"] = inputs["name"]
        if inputs.get("grant_creation_tokens"):
            params["GrantTokens"] = inputs["grant_creation_tokens"]
        constraints = {CONSTRAINTS[k]: v for k, v in (inputs.get("constraints") or {}).items()}
        if constraints:
            params["Constraints"] = constraints
        created = api.kms.create_grant(**params)
        grant_id = created["GrantId"]
        api.on_failure(lambda: api.kms.revoke_grant(KeyId=inputs["key_id"], GrantId=grant_id))
        return f"{inputs['key_id']}:{grant_id}", {"grant_token": created["GrantToken"]}

    def _read(self, api, id_, inputs) -> Optional[dict]:
        key_id, grant_id = id_.rsplit(":", 1)
        pages = api.kms.get_paginator("list_grants").paginate(KeyId=key_id, GrantId=grant_id)
        grant = next((g for page in pages for g in page["Grants"] if g["GrantId"] == grant_id), None)
        if grant is None:
            return None
        return {"grant_id": grant_id, "key_arn": grant.get("KeyId")}

    def _update(self, api, id_, olds, news, changed):
        pass  # only retire_on_delete changes in place, and it is the provider's own setting

    def _delete(self, api, id_, inputs):
        key_id, grant_id = id_.rsplit(":", 1)
        if inputs.get("retire_on_delete"):
            api.kms.retire_grant(KeyId=key_id, GrantId=grant_id)
        else:
            api.kms.revoke_grant(KeyId=key_id, GrantId=grant_id)


class Grant(base.Resource, module="keyplane", name="Grant"):
    """A KMS grant. Inputs: key_id, grantee_principal, operations, constraints
    (encryption_context_equals / encryption_context_subset / source_arn), retiring_principal,
    name, grant_creation_tokens, retire_on_delete, region. Outputs: grant_id, grant_token
    (secret), key_arn."""

    _provider_class = GrantProvider
    _computed = {"grant_id": str, "grant_token": str, "key_arn": str, "region": str}
    _secret = ("grant_token",)
