"""keyplane.CustomKeyStore: a custom key store on a PKCS#11 token (names as the AWS provider's
aws.kms.CustomKeyStore, AWS_CLOUDHSM type; see engine/kms/custom_key_stores.py for the mapping).

The store is connected after create and kept as `connected` declares. A new name is an in-place
rename; a new PIN or token is applied the way KMS requires, disconnected (the provider disconnects,
updates and connects again). A connection that fails (wrong PIN, token gone) fails the step with
the store's ConnectionErrorCode. Deleting disconnects and deletes the store, which KMS refuses
while keys remain in it (even keys waiting out their deletion window).
"""
from __future__ import annotations

from typing import Optional

import pulumi

from keyplane.resources import base


class CustomKeyStoreProvider(base.Provider):
    resource = "custom-key-store"
    replace_on = frozenset({"custom_key_store_type", "region", "account"})
    gone_codes = frozenset({"CustomKeyStoreNotFoundException"})

    def _create(self, api, inputs):
        store_id = api.kms.create_custom_key_store(
            CustomKeyStoreName=inputs["custom_key_store_name"], CustomKeyStoreType=inputs["custom_key_store_type"],
            CloudHsmClusterId=inputs["cloud_hsm_cluster_id"], TrustAnchorCertificate=inputs["trust_anchor_certificate"],
            KeyStorePassword=inputs["key_store_password"])["CustomKeyStoreId"]
        api.on_failure(lambda: _delete_store(api, store_id))
        if inputs["connected"]:
            _connect(api, store_id)
        return store_id

    def _read(self, api, id_, inputs) -> Optional[dict]:
        [store] = api.kms.describe_custom_key_stores(CustomKeyStoreId=id_)["CustomKeyStores"]
        return {
            "custom_key_store_id": id_,
            "custom_key_store_name": store["CustomKeyStoreName"],
            "custom_key_store_type": store.get("CustomKeyStoreType", "AWS_CLOUDHSM"),
            "cloud_hsm_cluster_id": store["CloudHsmClusterId"],
            "trust_anchor_certificate": store["TrustAnchorCertificate"],
            "connection_state": store["ConnectionState"],
            "connected": store["ConnectionState"] == "CONNECTED",
        }

    def _update(self, api, id_, olds, news, changed):
        kms = api.kms
        state = kms.describe_custom_key_stores(CustomKeyStoreId=id_)["CustomKeyStores"][0]["ConnectionState"]
        params = {}
        if "key_store_password" in changed:
            params["KeyStorePassword"] = news["key_store_password"]
        if "cloud_hsm_cluster_id" in changed:
            params["CloudHsmClusterId"] = news["cloud_hsm_cluster_id"]
        if (params or not news["connected"]) and state != "DISCONNECTED":
            kms.disconnect_custom_key_store(CustomKeyStoreId=id_)
            state = "DISCONNECTED"
        if "custom_key_store_name" in changed:
            params["NewCustomKeyStoreName"] = news["custom_key_store_name"]
        if params:
            kms.update_custom_key_store(CustomKeyStoreId=id_, **params)
        if news["connected"] and state != "CONNECTED":
            if state == "FAILED":
                kms.disconnect_custom_key_store(CustomKeyStoreId=id_)
            _connect(api, id_)

    def _delete(self, api, id_, inputs):
        _delete_store(api, id_)


def _delete_store(api, store_id) -> None:
    state = api.kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]["ConnectionState"]
    if state != "DISCONNECTED":
        api.kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    api.kms.delete_custom_key_store(CustomKeyStoreId=store_id)


def _connect(api, store_id) -> None:
    """Connect and say why not: KMS reports a failed connection only in the store's state."""
    api.kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    store = api.kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]
    if store["ConnectionState"] != "CONNECTED":
        raise base.ProviderError(f"custom key store {store_id} did not connect: {store['ConnectionState']} "
                                 f"({store.get('ConnectionErrorCode', 'no error code')})")


class CustomKeyStore(base.Resource, module="keyplane", name="CustomKeyStore"):
    """A custom key store on a PKCS#11 token. Inputs: custom_key_store_name, cloud_hsm_cluster_id
    (the token label), trust_anchor_certificate (`pkcs11:module-path=...`), key_store_password (the
    user PIN, secret), connected (default true), region. Outputs: custom_key_store_id,
    connection_state. Keys go in it with keyplane.Key(origin="AWS_CLOUDHSM", custom_key_store_id=...)."""

    _provider_class = CustomKeyStoreProvider
    _computed = {"custom_key_store_id": str, "connection_state": str, "region": str}
    _secret = ("key_store_password",)

    def __init__(self, resource_name: str, opts: Optional[pulumi.ResourceOptions] = None, **inputs):
        if inputs.get("key_store_password") is not None:
            inputs["key_store_password"] = pulumi.Output.secret(inputs["key_store_password"])
        super().__init__(resource_name, opts, **inputs)
