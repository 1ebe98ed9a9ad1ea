"""Custom key stores with AWS_CLOUDHSM semantics, backed by a PKCS#11 token (SoftHSM2, a real HSM):
CreateCustomKeyStore, DescribeCustomKeyStores, ConnectCustomKeyStore, DisconnectCustomKeyStore,
UpdateCustomKeyStore, DeleteCustomKeyStore; CreateKey in a store (Origin AWS_CLOUDHSM); the
cryptographic operations of its keys and GenerateRandom with CustomKeyStoreId, inside the token.

How the CloudHSM members map onto a token (keyplane's convention):

- `CloudHsmClusterId` is the token's label. The API's pattern applies, so label the token like a
  cluster id: `softhsm2-util --init-token --free --label cluster-keyplanedemo ...`.
- `TrustAnchorCertificate` carries, instead of the cluster's certificate, a PKCS#11 URI naming the
  module: `pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so`. It may repeat the token
  (`;token=<CloudHsmClusterId>`) but holds no PIN.
- `KeyStorePassword` is the token's user PIN (AWS: the `kmsuser` crypto-user password). It is
  kept sealed under the root key and checked when the store connects.

Each KMS key in a store is a 256-bit AES key generated inside the token as sensitive and
non-extractable (CKA_ID = its key material id, CKA_LABEL = its key ARN); Encrypt, Decrypt,
ReEncrypt and GenerateDataKey run AES-GCM in the token and produce keyplane's usual ciphertext
format. ConnectCustomKeyStore logs in at once (AWS connects in the background): a failure leaves
the store FAILED with AWS's ConnectionErrorCode. While a store is not connected its keys are
Unavailable and using them fails with KeyUnavailableException; connecting brings back their
earlier Enabled/Disabled state (keys pending deletion stay so). Stores are per account and Region,
at most 10, and a token serves one store in the whole deployment (one PKCS#11 login per token).
External key stores (XKS) are not offered.
"""
from __future__ import annotations

import uuid

import sqlalchemy as sa

from .. import hsm
from ..authz import authorize
from ..errors import (CloudHsmClusterInvalidConfigurationException,
                      CloudHsmClusterNotFoundException, CustomKeyStoreHasCMKsException,
                      CustomKeyStoreInvalidStateException, CustomKeyStoreNameInUseException,
                      CustomKeyStoreNotFoundException, IncorrectTrustAnchorException, KeyUnavailableException,
                      LimitExceededException, UnsupportedOperationException, ValidationException, error_type)
from ..registry import operation
from ..sealing import material_aad
from .paging import page
from .model import Key, add_material, dt, save_key, ts
from .tables import custom_key_stores as stores_table
from .tables import keys as keys_table

CloudHsmClusterInUseException = error_type("CloudHsmClusterInUseException")
CloudHsmClusterNotActiveException = error_type("CloudHsmClusterNotActiveException")
CloudHsmClusterNotRelatedException = error_type("CloudHsmClusterNotRelatedException")

MAX_STORES = 10
_XKS_MEMBERS = ("XksProxyUriEndpoint", "XksProxyUriPath", "XksProxyVpcEndpointServiceName",
                "XksProxyVpcEndpointServiceOwner", "XksProxyAuthenticationCredential", "XksProxyConnectivity")


# ---- the store record ----------------------------------------------------------------------------
def _row(call, store_id: str, *, cached: bool = False):
    """The store with this id in the caller's account and Region (None if there is none)."""
    cache_key = ("kms-cks", store_id)
    if cached and not call.store.in_write:
        hit = call.engine.cache.get(cache_key)
        if hit is not None:
            return hit
    with call.store.read() as conn:
        row = conn.execute(stores_table.select().where(stores_table.c.id == store_id)).first()
    if row is not None and cached and not call.store.in_write:
        call.engine.cache.put(cache_key, row)
    return row


def _require_store(call, store_id: str, *, cached: bool = False):
    row = _row(call, store_id, cached=cached)
    if row is None or row.account != call.account or row.region != call.region:
        raise CustomKeyStoreNotFoundException(f"Custom key store {store_id} does not exist.")
    return row


def _update(call, store_id: str, **values) -> None:
    with call.store.write() as conn:
        conn.execute(stores_table.update().where(stores_table.c.id == store_id).values(**values))
    call.invalidate(("kms-cks", store_id))


def _pin_aad(store_id: str) -> bytes:
    return material_aad(f"custom-key-store:{store_id}", "key-store-password")


def _module_path(trust_anchor: str, cluster_id: str) -> str:
    try:
        attrs = hsm.parse_uri(trust_anchor.strip())
    except ValueError:
        raise IncorrectTrustAnchorException(
            "TrustAnchorCertificate must be a PKCS#11 URI naming the token's module, e.g. "
            "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so") from None
    if not attrs.get("module-path"):
        raise IncorrectTrustAnchorException("TrustAnchorCertificate must name the PKCS#11 module: "
                                            "pkcs11:module-path=...")
    if attrs.get("token", cluster_id) != cluster_id:
        raise IncorrectTrustAnchorException(f"TrustAnchorCertificate names token {attrs['token']!r}, not the "
                                            f"cluster {cluster_id}.")
    if "pin-value" in attrs or "pin-source" in attrs:
        raise IncorrectTrustAnchorException("TrustAnchorCertificate must not carry a PIN: the PIN is the "
                                            "KeyStorePassword.")
    return attrs["module-path"]


def _check_token(module_path: str, cluster_id: str) -> None:
    """The token must exist and have a crypto user; the CloudHSM errors say why it does not."""
    try:
        ready = hsm.token_ready(module_path, cluster_id)
    except hsm.TokenError as exc:
        if exc.code == "CLUSTER_NOT_FOUND":
            raise CloudHsmClusterNotFoundException(f"No token labelled {cluster_id} was found in "
                                                   f"{module_path}.") from None
        raise CloudHsmClusterInvalidConfigurationException(str(exc)) from None
    if not ready:
        raise CloudHsmClusterNotActiveException(f"Token {cluster_id} is not initialised or has no user PIN.")


def _token_in_use(conn, module_path: str, cluster_id: str, but: str | None = None) -> bool:
    for row in conn.execute(sa.select(stores_table.c.id, stores_table.c.trust_anchor).where(
            stores_table.c.cluster_id == cluster_id)):
        if row.id != but and _module_path(row.trust_anchor, cluster_id) == module_path:
            return True
    return False


_pins: dict = {}     # (store id, sealed PIN) -> PIN: the hot path unseals it once per process


def _session(call, row) -> hsm.TokenSession:
    pin = _pins.get((row.id, row.sealed_password))
    if pin is None:
        pin = call.root_key.unseal(row.sealed_password, _pin_aad(row.id)).decode()
        if len(_pins) > 1000:
            _pins.clear()
        _pins[(row.id, row.sealed_password)] = pin
    return hsm.session_for(_module_path(row.trust_anchor, row.cluster_id), row.cluster_id, pin)


def _describe(row) -> dict:
    out = {"CustomKeyStoreId": row.id, "CustomKeyStoreName": row.name, "CloudHsmClusterId": row.cluster_id,
           "TrustAnchorCertificate": row.trust_anchor, "ConnectionState": row.connection_state,
           "CreationDate": dt(row.creation_date), "CustomKeyStoreType": row.store_type}
    if row.connection_state == "FAILED" and row.connection_error_code:
        out["ConnectionErrorCode"] = row.connection_error_code
    return out


def _store_keys(conn, store_id: str) -> list:
    return list(conn.execute(keys_table.select().where(keys_table.c.custom_key_store_id == store_id)))


# ---- operations --------------------------------------------------------------------------------
@operation("kms", "CreateCustomKeyStore")
def create_custom_key_store(call, p):
    authorize(call, "kms:CreateCustomKeyStore", resource="*")
    store_type = p.get("CustomKeyStoreType") or "AWS_CLOUDHSM"
    if store_type != "AWS_CLOUDHSM" or any(p.get(m) for m in _XKS_MEMBERS):
        raise UnsupportedOperationException("keyplane offers AWS_CLOUDHSM custom key stores (on PKCS#11 "
                                            "tokens) only; external key stores are not supported.")
    for member in ("CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword"):
        if not p.get(member):
            raise ValidationException(f"{member} is required for a custom key store of type AWS_CLOUDHSM.")
    name, cluster_id = p["CustomKeyStoreName"], p["CloudHsmClusterId"]
    module_path = _module_path(p["TrustAnchorCertificate"], cluster_id)
    with call.store.write() as conn:
        mine = list(conn.execute(sa.select(stores_table.c.name).where(
            stores_table.c.account == call.account, stores_table.c.region == call.region)))
        if any(r.name == name for r in mine):
            raise CustomKeyStoreNameInUseException(f"Custom key store name {name} is already in use.")
        if len(mine) >= MAX_STORES:
            raise LimitExceededException(f"An account can have at most {MAX_STORES} custom key stores per Region.")
        if _token_in_use(conn, module_path, cluster_id):
            raise CloudHsmClusterInUseException(f"Cluster {cluster_id} is already associated with a custom key store.")
        _check_token(module_path, cluster_id)
        store_id = "cks-" + uuid.uuid4().hex[:17]
        conn.execute(stores_table.insert().values(
            id=store_id, account=call.account, region=call.region, name=name, store_type=store_type,
            cluster_id=cluster_id, trust_anchor=p["TrustAnchorCertificate"],
            sealed_password=call.root_key.seal(p["KeyStorePassword"].encode(), _pin_aad(store_id)),
            connection_state="DISCONNECTED", creation_date=ts(call.now), attrs="{}"))
    return {"CustomKeyStoreId": store_id}


@operation("kms", "DescribeCustomKeyStores", readonly=True)
def describe_custom_key_stores(call, p):
    authorize(call, "kms:DescribeCustomKeyStores", resource="*")
    store_id, name = p.get("CustomKeyStoreId"), p.get("CustomKeyStoreName")
    if store_id and name:
        raise ValidationException("Specify either CustomKeyStoreId or CustomKeyStoreName, not both.")
    q = stores_table.select().where(stores_table.c.account == call.account, stores_table.c.region == call.region)
    if store_id:
        q = q.where(stores_table.c.id == store_id)
    if name:
        q = q.where(stores_table.c.name == name)
    with call.store.read() as conn:
        rows = list(conn.execute(q.order_by(stores_table.c.id)))
    if (store_id or name) and not rows:
        raise CustomKeyStoreNotFoundException(f"Custom key store {store_id or name} does not exist.")
    chunk, extra = page(rows, p.get("Limit", 100), p.get("Marker"), lambda r: r.id)
    return {"CustomKeyStores": [_describe(r) for r in chunk], **extra}


@operation("kms", "ConnectCustomKeyStore")
def connect_custom_key_store(call, p):
    row = _require_store(call, p["CustomKeyStoreId"])
    authorize(call, "kms:ConnectCustomKeyStore", resource="*")
    if row.connection_state in ("DISCONNECTING", "FAILED"):
        raise CustomKeyStoreInvalidStateException(
            f"Custom key store {row.id} is {row.connection_state}: disconnect it before connecting again.")
    if row.connection_state == "CONNECTED":
        return {}
    module_path = _module_path(row.trust_anchor, row.cluster_id)
    try:
        _check_token(module_path, row.cluster_id)
    except CloudHsmClusterNotFoundException:
        _update(call, row.id, connection_state="FAILED", connection_error_code="CLUSTER_NOT_FOUND")
        return {}
    session = _session(call, row)
    try:
        session.check()
    except hsm.TokenError as exc:
        hsm.close_session(module_path, row.cluster_id)
        _update(call, row.id, connection_state="FAILED", connection_error_code=exc.code)
        return {}
    _update(call, row.id, connection_state="CONNECTED", connection_error_code=None)
    _set_keys_available(call, row.id, True)
    return {}


@operation("kms", "DisconnectCustomKeyStore")
def disconnect_custom_key_store(call, p):
    row = _require_store(call, p["CustomKeyStoreId"])
    authorize(call, "kms:DisconnectCustomKeyStore", resource="*")
    if row.connection_state in ("DISCONNECTING", "DISCONNECTED"):
        raise CustomKeyStoreInvalidStateException(f"Custom key store {row.id} is {row.connection_state}.")
    _update(call, row.id, connection_state="DISCONNECTED", connection_error_code=None)
    _set_keys_available(call, row.id, False)
    module_path, label = _module_path(row.trust_anchor, row.cluster_id), row.cluster_id
    call.store.after_commit(lambda: hsm.close_session(module_path, label))
    return {}


def _set_keys_available(call, store_id: str, available: bool) -> None:
    """Disconnected: Enabled/Disabled keys become Unavailable (remembering which they were);
    connected: they return to it. Keys pending deletion keep that state either way."""
    with call.store.write() as conn:
        rows = _store_keys(conn, store_id)
    for r in rows:
        key = Key.from_row(r)
        if not available and key.state in ("Enabled", "Disabled"):
            key.attrs["enabled_when_available"] = key.state == "Enabled"
            key.state = "Unavailable"
        elif available and key.state == "Unavailable":
            key.state = "Enabled" if key.attrs.pop("enabled_when_available", True) else "Disabled"
        else:
            continue
        save_key(call, key)


@operation("kms", "UpdateCustomKeyStore")
def update_custom_key_store(call, p):
    row = _require_store(call, p["CustomKeyStoreId"])
    authorize(call, "kms:UpdateCustomKeyStore", resource="*")
    if any(p.get(m) for m in _XKS_MEMBERS):
        raise ValidationException("The XksProxy* parameters apply to external key stores only.")
    new_name, password, cluster_id = p.get("NewCustomKeyStoreName"), p.get("KeyStorePassword"), p.get("CloudHsmClusterId")
    if (password or cluster_id) and row.connection_state != "DISCONNECTED":
        raise CustomKeyStoreInvalidStateException(
            f"Custom key store {row.id} must be disconnected to change its password or cluster.")
    if new_name and row.connection_state not in ("DISCONNECTED", "CONNECTED"):
        raise CustomKeyStoreInvalidStateException(f"Custom key store {row.id} is {row.connection_state}.")
    values: dict = {}
    with call.store.write() as conn:
        if new_name and new_name != row.name:
            if conn.execute(sa.select(stores_table.c.id).where(
                    stores_table.c.account == call.account, stores_table.c.region == call.region,
                    stores_table.c.name == new_name)).first():
                raise CustomKeyStoreNameInUseException(f"Custom key store name {new_name} is already in use.")
            values["name"] = new_name
        if password:
            values["sealed_password"] = call.root_key.seal(password.encode(), _pin_aad(row.id))
        if cluster_id and cluster_id != row.cluster_id:
            module_path = _module_path(row.trust_anchor, row.cluster_id)
            _check_token(module_path, cluster_id)
            if _token_in_use(conn, module_path, cluster_id, but=row.id):
                raise CloudHsmClusterInUseException(f"Cluster {cluster_id} is already associated with a custom key store.")
            _require_related(call, conn, row, module_path, cluster_id, password)
            anchor = hsm.parse_uri(row.trust_anchor.strip())
            anchor["token"] = cluster_id if "token" in anchor else None
            values["cluster_id"] = cluster_id
            values["trust_anchor"] = "pkcs11:" + ";".join(f"{k}={v}" for k, v in anchor.items() if v)
            for r in _store_keys(conn, row.id):
                key = Key.from_row(r)
                key.attrs.setdefault("metadata", {})["CloudHsmClusterId"] = cluster_id
                save_key(call, key)
        if values:
            conn.execute(stores_table.update().where(stores_table.c.id == row.id).values(**values))
    call.invalidate(("kms-cks", row.id))
    return {}


def _require_related(call, conn, row, module_path: str, cluster_id: str, password: str | None) -> None:
    """AWS lets a store move only to a cluster that shares its backups; for tokens: the new token
    must hold every key of the store (a restored copy of the old token)."""
    key_ids = [bytes.fromhex(r.current_material_id) for r in _store_keys(conn, row.id) if r.current_material_id]
    if not key_ids:
        return
    pin = password or call.root_key.unseal(row.sealed_password, _pin_aad(row.id)).decode()
    probe = hsm.TokenSession(module_path, cluster_id, pin)
    try:
        related = all(probe.has_key(k) for k in key_ids)
    except hsm.TokenError:
        related = False
    finally:
        probe.close()
    if not related:
        raise CloudHsmClusterNotRelatedException(f"Cluster {cluster_id} does not hold the keys of custom key "
                                                 f"store {row.id}.")


@operation("kms", "DeleteCustomKeyStore")
def delete_custom_key_store(call, p):
    row = _require_store(call, p["CustomKeyStoreId"])
    authorize(call, "kms:DeleteCustomKeyStore", resource="*")
    if row.connection_state != "DISCONNECTED":
        raise CustomKeyStoreInvalidStateException(f"Custom key store {row.id} must be disconnected before "
                                                  "it is deleted.")
    with call.store.write() as conn:
        if _store_keys(conn, row.id):
            raise CustomKeyStoreHasCMKsException(f"Custom key store {row.id} still holds KMS keys: schedule "
                                                 "their deletion and wait for it first.")
        conn.execute(stores_table.delete().where(stores_table.c.id == row.id))
    call.invalidate(("kms-cks", row.id))
    return {}


# ---- keys in a store ---------------------------------------------------------------------------
def check_create_key(call, p, key: Key) -> None:
    store_id = p.get("CustomKeyStoreId")
    if key.origin == "AWS_CLOUDHSM" and not store_id:
        raise ValidationException("CustomKeyStoreId is required when Origin is AWS_CLOUDHSM.")
    if not store_id:
        return
    row = _require_store(call, store_id)
    if key.multi_region:
        raise UnsupportedOperationException("Multi-Region keys are not supported in a custom key store.")
    if key.origin != "AWS_CLOUDHSM":
        raise ValidationException("Origin must be AWS_CLOUDHSM to create a KMS key in an AWS CloudHSM key store.")
    if not key.is_symmetric_encryption:
        raise UnsupportedOperationException(f"KeySpec {key.key_spec} is not supported in a custom key store: "
                                            "only symmetric encryption keys are.")
    if row.connection_state != "CONNECTED":
        raise CustomKeyStoreInvalidStateException(f"Custom key store {row.id} is {row.connection_state}: "
                                                  "connect it to create keys in it.")
    key.custom_key_store_id = row.id
    key.attrs.setdefault("metadata", {})["CloudHsmClusterId"] = row.cluster_id


def material_in_token(call, p, key: Key, spec) -> None:
    """Origin AWS_CLOUDHSM: the token generates the key; the store keeps only its id."""
    row = _require_store(call, key.custom_key_store_id)
    material_id = uuid.uuid4().hex + uuid.uuid4().hex
    try:
        _session(call, row).generate_aes_key(bytes.fromhex(material_id), key.arn)
    except hsm.TokenError as exc:
        raise KeyUnavailableException(f"The token of custom key store {row.id} could not create the key: "
                                      f"{exc}") from None
    key.current_material_id = add_material(call, key, None, material_id=material_id,
                                           attrs={"in_token": True})


def token_aead(call, key: Key, material_id: str):
    row = _require_store(call, key.custom_key_store_id, cached=True)
    if row.connection_state != "CONNECTED":
        raise KeyUnavailableException(f"{key.arn} is unavailable: its custom key store {row.id} is not connected.")
    return _TokenAead(_session(call, row), bytes.fromhex(material_id), key.arn)


class _TokenAead(hsm.TokenAead):
    """Token trouble in the middle of an operation is KeyUnavailable (retryable), never a traceback."""

    def __init__(self, session, key_id: bytes, arn: str):
        super().__init__(session, key_id)
        self.arn = arn

    def encrypt(self, nonce, data, aad):
        try:
            return super().encrypt(nonce, data, aad)
        except hsm.TokenError as exc:
            raise KeyUnavailableException(f"{self.arn} is unavailable: {exc}") from None

    def decrypt(self, nonce, data, aad):
        try:
            return super().decrypt(nonce, data, aad)
        except hsm.TokenError as exc:
            raise KeyUnavailableException(f"{self.arn} is unavailable: {exc}") from None


def random_bytes(call, store_id: str, n: int) -> bytes:
    row = _require_store(call, store_id, cached=True)
    if row.connection_state != "CONNECTED":
        raise CustomKeyStoreInvalidStateException(f"Custom key store {store_id} is {row.connection_state}.")
    try:
        return _session(call, row).random(n)
    except hsm.TokenError as exc:
        raise CustomKeyStoreInvalidStateException(f"Custom key store {store_id} cannot be reached: {exc}") from None


def destroy_in_token(engine, store, row) -> None:
    """A deleted key's backing key goes from the token too, when its store is connected here (AWS
    likewise leaves it orphaned in a disconnected cluster)."""
    with store.read() as conn:
        stores = list(conn.execute(stores_table.select().where(
            stores_table.c.account == row.account, stores_table.c.region == row.region,
            stores_table.c.connection_state == "CONNECTED")))
    root_key = engine.root_key_for(store)
    for s in stores:
        try:
            pin = root_key.unseal(s.sealed_password, _pin_aad(s.id)).decode()
            session = hsm.session_for(_module_path(s.trust_anchor, s.cluster_id), s.cluster_id, pin)
            session.destroy_labelled(row.arn)
        except Exception:
            continue


def cancelled_while_disconnected(call, key: Key) -> None:
    """A key whose deletion is cancelled while its store is disconnected is Unavailable until the
    store connects (then Disabled, as any cancelled key)."""
    if not key.custom_key_store_id:
        return
    row = _row(call, key.custom_key_store_id)
    if row is not None and row.connection_state != "CONNECTED":
        key.attrs["enabled_when_available"] = False
        key.state = "Unavailable"
