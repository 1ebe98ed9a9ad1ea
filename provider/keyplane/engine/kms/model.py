"""The KMS key record, and the rules every KMS operation shares.

- `Key`: a key's metadata as a dataclass (its material lives sealed in `kms_key_materials`).
- `resolve_key`: KeyId as a key id, key ARN, alias name or alias ARN, exactly where AWS accepts each.
- `require_state`: the key-state table's errors and messages.
- The key cache: metadata and unsealed material, kept `engine.cache.ttl` seconds, so the hot path
  (Encrypt/Decrypt) touches no database; changes made here invalidate at once.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import (DisabledException, InvalidArnException, InvalidKeyUsageException,
                      KMSInvalidStateException, KeyUnavailableException, NotFoundException)
from ..sealing import material_aad
from . import specs
from .tables import aliases as aliases_table
from .tables import keys as keys_table
from .tables import materials as materials_table

KEY_ID_RE = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
KEY_ARN_RE = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):key/(.+)$")
ALIAS_ARN_RE = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):(alias/.+)$")
AWS_ALIAS_PREFIX = "alias/aws/"

CRYPTO_STATES = ("Enabled", "Updating")

# fn(key, metadata) -> None: features that add KeyMetadata fields computed from the key
# (multi-Region keys: MultiRegionConfiguration)
METADATA_HOOKS: list = []
# fn(call, key) -> None, after a key or its material changes in the call's store (multi-Region
# primaries push shared properties to their replicas)
KEY_CHANGED_HOOKS: list = []


def ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None


def dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None


def key_arn(region: str, account: str, key_id: str) -> str:
    return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def alias_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:kms:{region}:{account}:{name}"


def new_key_id(multi_region: bool = False) -> str:
    return "mrk-" + uuid.uuid4().hex if multi_region else str(uuid.uuid4())


@dataclass
class Key:
    arn: str
    key_id: str
    account: str
    region: str
    key_usage: str = "ENCRYPT_DECRYPT"
    key_spec: str = "SYMMETRIC_DEFAULT"
    origin: str = "AWS_KMS"
    key_manager: str = "CUSTOMER"
    state: str = "Enabled"
    creation_date: float = 0.0
    description: str = ""
    deletion_date: float | None = None
    pending_window_days: int | None = None
    policy: str | None = None
    custom_key_store_id: str | None = None
    multi_region: bool = False
    primary_region: str | None = None
    rotation_enabled: bool = False
    rotation_period_days: int | None = None
    next_rotation_date: float | None = None
    on_demand_rotation_start: float | None = None
    expiration_model: str | None = None
    valid_to: float | None = None
    current_material_id: str | None = None
    attrs: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row) -> "Key":
        data = dict(row._mapping)
        data["attrs"] = json.loads(data.get("attrs") or "{}")
        return cls(**data)

    def to_row(self) -> dict:
        data = asdict(self)
        data["attrs"] = json.dumps(self.attrs, sort_keys=True)
        return data

    @property
    def spec(self) -> specs.KeySpec:
        return specs.SPECS[self.key_spec]

    @property
    def is_symmetric_encryption(self) -> bool:
        return self.key_spec == "SYMMETRIC_DEFAULT" and self.key_usage == "ENCRYPT_DECRYPT"

    @property
    def aws_managed(self) -> bool:
        return self.key_manager == "AWS"

    def metadata(self) -> dict:
        """KeyMetadata, with exactly the fields AWS returns for this kind of key."""
        md = {
            "AWSAccountId": self.account,
            "KeyId": self.key_id,
            "Arn": self.arn,
            "CreationDate": dt(self.creation_date),
            "Enabled": self.state == "Enabled",
            "Description": self.description,
            "KeyUsage": self.key_usage,
            "KeyState": self.state,
            "Origin": self.origin,
            "KeyManager": self.key_manager,
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
            "MultiRegion": self.multi_region,
        }
        md.update(self.spec.metadata_algorithms(self.key_usage))
        if self.deletion_date is not None:
            md["DeletionDate"] = dt(self.deletion_date)
        if self.state == "PendingDeletion" and self.pending_window_days:
            md["PendingDeletionWindowInDays"] = self.pending_window_days
        if self.valid_to is not None:
            md["ValidTo"] = dt(self.valid_to)
        if self.expiration_model:
            md["ExpirationModel"] = self.expiration_model
        if self.custom_key_store_id:
            md["CustomKeyStoreId"] = self.custom_key_store_id
        if self.current_material_id and self.key_spec == "SYMMETRIC_DEFAULT":
            md["CurrentKeyMaterialId"] = self.current_material_id
        for hook in METADATA_HOOKS:
            hook(self, md)
        for name, value in self.attrs.get("metadata", {}).items():   # feature-specific fields
            md[name] = value
        return md


# ---- persistence ---------------------------------------------------------------------------------
def insert_key(call, key: Key) -> None:
    with call.store.write() as conn:
        conn.execute(keys_table.insert().values(**key.to_row()))
    call.invalidate(("kms-key", key.arn))


def save_key(call, key: Key) -> None:
    with call.store.write() as conn:
        row = key.to_row()
        conn.execute(keys_table.update().where(keys_table.c.arn == key.arn).values(**row))
    call.invalidate(("kms-key", key.arn))
    for hook in KEY_CHANGED_HOOKS:
        hook(call, key)


def get_key(call, arn: str) -> Key | None:
    """The key with this ARN in the call's store (cached)."""
    cache_key = ("kms-key", arn)
    hit = call.engine.cache.get(cache_key)
    if hit is not None and not call.store.in_write:
        return hit.key
    with call.store.read() as conn:
        row = conn.execute(keys_table.select().where(keys_table.c.arn == arn)).first()
    if row is None:
        return None
    key = Key.from_row(row)
    if not call.store.in_write:
        # an expired entry whose key reads back unchanged keeps its unsealed material
        previous = call.engine.cache.peek(cache_key)
        if isinstance(previous, _Loaded) and previous.key == key:
            key = previous.key
            call.engine.cache.put(cache_key, previous)
        else:
            call.engine.cache.put(cache_key, _Loaded(key))
    return key


class _Loaded:
    """A cached key: its metadata, plus material unsealed on first use."""
    __slots__ = ("key", "secrets", "objects")

    def __init__(self, key: Key):
        self.key = key
        self.secrets: dict[str, bytes] = {}
        self.objects: dict[tuple, object] = {}   # (kind, material id) -> parsed key object


def material_secret(call, key: Key, material_id: str) -> bytes | None:
    """The plaintext material of one version of a key (None if the key has no such material)."""
    cache_key = ("kms-key", key.arn)
    # the entry for this very Key object (identity: get_key just read or revalidated it), any age
    loaded = call.engine.cache.peek(cache_key)
    if loaded is None or loaded.key is not key:
        loaded = _Loaded(key)
        if not call.store.in_write:
            call.engine.cache.put(cache_key, loaded)
    secret = loaded.secrets.get(material_id)
    if secret is None:
        with call.store.read() as conn:
            row = conn.execute(sa.select(materials_table.c.sealed).where(
                materials_table.c.key_arn == key.arn,
                materials_table.c.material_id == material_id)).first()
        if row is None or row.sealed is None:
            return None
        secret = call.root_key.unseal(row.sealed, material_aad(key.arn, material_id))
        loaded.secrets[material_id] = secret
    return secret


def material_aead(call, key: Key, material_id: str) -> AESGCM | None:
    """The AES-GCM object for a symmetric material version (None if the key has no such material)."""
    def build():
        secret = material_secret(call, key, material_id)
        return AESGCM(secret) if secret is not None else None
    return material_object(call, key, "aead", material_id, build)


def material_object(call, key: Key, kind: str, material_id: str, build):
    """An object made from one material version (a parsed private or public key), built by
    `build()` once and cached with the key: parsing an RSA key costs more than using it."""
    loaded = call.engine.cache.peek(("kms-key", key.arn))
    if loaded is not None and loaded.key is key:
        obj = loaded.objects.get((kind, material_id))
        if obj is not None:
            return obj
    obj = build()
    loaded = call.engine.cache.peek(("kms-key", key.arn))
    if obj is not None and loaded is not None and loaded.key is key:
        loaded.objects[(kind, material_id)] = obj
    return obj


def material_public_key(call, key: Key, material_id: str) -> bytes | None:
    """The DER SubjectPublicKeyInfo stored beside an asymmetric material version."""
    with call.store.read() as conn:
        row = conn.execute(sa.select(materials_table.c.public_key).where(
            materials_table.c.key_arn == key.arn,
            materials_table.c.material_id == material_id)).first()
    return row.public_key if row is not None else None


def add_material(call, key: Key, secret: bytes | None, *, material_id: str | None = None,
                 state: str = "CURRENT", public_key: bytes | None = None, **fields) -> str:
    """Store a new version of key material, sealed under the store's root key."""
    material_id = material_id or uuid.uuid4().hex + uuid.uuid4().hex
    sealed = call.root_key.seal(secret, material_aad(key.arn, material_id)) if secret is not None else None
    with call.store.write() as conn:
        conn.execute(materials_table.insert().values(
            key_arn=key.arn, material_id=material_id, sealed=sealed, public_key=public_key,
            created=ts(call.now), state=state, attrs=json.dumps(fields.pop("attrs", {})), **fields))
    call.invalidate(("kms-key", key.arn))
    for hook in KEY_CHANGED_HOOKS:
        hook(call, key)
    return material_id


def list_materials(call, key: Key) -> list:
    with call.store.read() as conn:
        return list(conn.execute(materials_table.select().where(
            materials_table.c.key_arn == key.arn).order_by(materials_table.c.created)))


def delete_key_everywhere(conn, arn: str, account: str, region: str, key_id: str) -> None:
    from ..store.tables import tags
    conn.execute(materials_table.delete().where(materials_table.c.key_arn == arn))
    conn.execute(aliases_table.delete().where(aliases_table.c.account == account,
                                              aliases_table.c.region == region,
                                              aliases_table.c.target_key_id == key_id))
    conn.execute(tags.delete().where(tags.c.resource_arn == arn))
    from .tables import grants as grants_table
    conn.execute(grants_table.delete().where(grants_table.c.key_arn == arn))
    conn.execute(keys_table.delete().where(keys_table.c.arn == arn))


# ---- KeyId resolution ----------------------------------------------------------------------------
def not_found(arn: str) -> NotFoundException:
    return NotFoundException(f"Key '{arn}' does not exist")


def alias_not_found(arn: str) -> NotFoundException:
    return NotFoundException(f"Alias {arn} is not found.")


def lookup_alias(call, account: str, name: str):
    cache_key = ("kms-alias", account, call.region, name)
    hit = call.engine.cache.get(cache_key)
    if hit is not None and not call.store.in_write:
        return hit
    with call.store.read() as conn:
        row = conn.execute(aliases_table.select().where(
            aliases_table.c.account == account, aliases_table.c.region == call.region,
            aliases_table.c.name == name)).first()
    if row is not None and not call.store.in_write:
        call.engine.cache.put(cache_key, row)
    return row


def resolve_key(call, key_id: str, *, aliases: bool = True, managed: bool = True) -> Key:
    """The key that `key_id` names in the caller's Region.

    aliases: whether this operation accepts alias names and alias ARNs (only the cryptographic
    operations, DescribeKey and GetPublicKey do). managed: an `alias/aws/<service>` alias creates the
    AWS managed key on first use, as AWS does."""
    region, account = call.region, call.account
    m = KEY_ARN_RE.match(key_id)
    if m:
        arn_region, account, kid = m.groups()
        arn = key_arn(call.region, account, kid)
        if arn_region != call.region:
            raise not_found(key_id)
        key = get_key(call, arn)
        if key is None:
            raise not_found(arn)
        return key
    m = ALIAS_ARN_RE.match(key_id)
    name = None
    if m:
        arn_region, account, name = m.groups()
        if arn_region != call.region:
            raise alias_not_found(key_id)
    elif key_id.startswith("alias/"):
        name = key_id
    if name is not None:
        if not aliases:
            raise InvalidArnException("Key Aliases are not supported for this operation.")
        row = lookup_alias(call, account, name)
        if row is None:
            if managed and name.startswith(AWS_ALIAS_PREFIX) and account == call.account:
                from .managed import ensure_managed_key
                return ensure_managed_key(call, name)
            raise alias_not_found(alias_arn(region, account, name))
        key = get_key(call, key_arn(region, account, row.target_key_id))
        if key is None:
            raise alias_not_found(alias_arn(region, account, name))
        call.request_alias = name          # kms:RequestAlias
        return key
    if not KEY_ID_RE.match(key_id):
        raise NotFoundException(f"Invalid keyId '{key_id}'")
    arn = key_arn(region, account, key_id)
    key = get_key(call, arn)
    if key is None:
        raise not_found(arn)
    return key


# ---- key states ------------------------------------------------------------------------------------
_STATE_MESSAGES = {
    "PendingDeletion": "is pending deletion.",
    "PendingReplicaDeletion": "is pending replica deletion.",
    "PendingImport": "is pending import.",
    "Unavailable": "is unavailable.",
    "Creating": "is creating.",
    "Updating": "is updating.",
}


def state_error(key: Key):
    if key.state == "Disabled":
        return DisabledException(f"{key.arn} is disabled.")
    if key.state == "Unavailable" and key.custom_key_store_id:
        # its custom key store is disconnected: retry once it is connected again
        return KeyUnavailableException(f"{key.arn} is unavailable: its custom key store "
                                       f"{key.custom_key_store_id} is not connected.")
    return KMSInvalidStateException(f"{key.arn} {_STATE_MESSAGES.get(key.state, 'is ' + key.state + '.')}")


def wrong_usage(key: Key, operation: str) -> InvalidKeyUsageException:
    """AWS's words when an operation does not fit the key's KeyUsage."""
    return InvalidKeyUsageException(
        f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.")


def wrong_algorithm(key: Key, algorithm: str) -> InvalidKeyUsageException:
    """AWS's words when an algorithm does not fit the key's KeySpec."""
    return InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")


def require_state(key: Key, allowed) -> None:
    if key.state not in allowed:
        raise state_error(key)


def require_not_pending_deletion(key: Key) -> None:
    if key.state in ("PendingDeletion", "PendingReplicaDeletion"):
        raise state_error(key)
