"""The KMS key record: a key's metadata as a dataclass, its rows, and the key cache.

- `Key`: a key's metadata (its material lives sealed in `kms_key_materials`); `Key.metadata()` is
  DescribeKey's KeyMetadata, every part named in one place.
- The key cache: metadata and unsealed material, kept `engine.cache.ttl` seconds, so the hot path
  (Encrypt/Decrypt) touches no database; changes made here invalidate at once.
- Raw writes (`insert_key`, `write_key`, `write_material`): the rules that go with a change (a
  multi-Region primary telling its replicas) are model.py's `save_key` / `add_material`.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import LimitExceededException
from ..sealing import material_aad
from ..store.tables import tags
from . import specs
from .tables import aliases as aliases_table
from .tables import grants as grants_table
from .tables import keys as keys_table
from .tables import materials as materials_table

KEY_ID_RE = re.compile(r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$")
KEY_ARN_RE = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):key/(.+)$")
ALIAS_ARN_RE = re.compile(r"^arn:aws:kms:([a-z0-9-]+):(\d{12}):(alias/.+)$")
AWS_ALIAS_PREFIX = "alias/aws/"

CRYPTO_STATES = ("Enabled", "Updating")

# Multi-Region bookkeeping every member of a set keeps in its attrs (see multi_region.py)
REPLICAS = "replica_regions"
EPOCH = "primary_epoch"


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
        if self.multi_region:
            md["MultiRegionConfiguration"] = multi_region_configuration(self)
            if self.state == "PendingReplicaDeletion" and self.pending_window_days:
                md["PendingDeletionWindowInDays"] = self.pending_window_days
        for name, value in self.attrs.get("metadata", {}).items():   # feature-specific fields
            md[name] = value
        return md


def is_primary(key: Key) -> bool:
    return key.multi_region and (key.primary_region or key.region) == key.region


def is_replica(key: Key) -> bool:
    return key.multi_region and not is_primary(key)


def replica_regions(key: Key) -> list[str]:
    return list(key.attrs.get(REPLICAS, []))


def multi_region_configuration(key: Key) -> dict:
    """DescribeKey's MultiRegionConfiguration, from the set's bookkeeping this member keeps."""
    primary = key.primary_region or key.region
    return {
        "MultiRegionKeyType": "PRIMARY" if primary == key.region else "REPLICA",
        "PrimaryKey": {"Arn": key_arn(primary, key.account, key.key_id), "Region": primary},
        "ReplicaKeys": [{"Arn": key_arn(r, key.account, key.key_id), "Region": r}
                        for r in replica_regions(key)],
    }


# ---- persistence ---------------------------------------------------------------------------------
# "You can have up to 100,000 customer managed keys in each Region of your AWS account. This quota
# applies to all customer managed keys ... regardless of their key spec or key state"; AWS managed
# keys do not count. https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html
MAX_CUSTOMER_KEYS = 100_000


def require_room_for_a_key(conn, account: str, region: str) -> None:
    """LimitExceededException when the account already holds MAX_CUSTOMER_KEYS customer managed
    keys in the Region (checked in the transaction that adds one)."""
    held = conn.execute(sa.select(sa.func.count()).select_from(keys_table).where(
        keys_table.c.account == account, keys_table.c.region == region,
        keys_table.c.key_manager == "CUSTOMER")).scalar()
    if held >= MAX_CUSTOMER_KEYS:
        raise LimitExceededException(
            f"The request would exceed the quota of {MAX_CUSTOMER_KEYS} customer managed KMS keys in "
            f"{region} for account {account}.")


def insert_key(call, key: Key) -> None:
    with call.store.write() as conn:
        if not key.aws_managed:
            require_room_for_a_key(conn, key.account, key.region)
        conn.execute(keys_table.insert().values(**key.to_row()))
    call.invalidate(("kms-key", key.arn))


def write_key(call, key: Key) -> None:
    """Store the key's record as it is now (model.save_key also tells a multi-Region set)."""
    with call.store.write() as conn:
        row = key.to_row()
        conn.execute(keys_table.update().where(keys_table.c.arn == key.arn).values(**row))
    call.invalidate(("kms-key", key.arn))


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


def write_material(call, key: Key, secret: bytes | None, *, material_id: str | None = None,
                   state: str = "CURRENT", public_key: bytes | None = None, **fields) -> str:
    """Store a new version of key material, sealed under the store's root key (model.add_material
    also tells a multi-Region set)."""
    material_id = material_id or uuid.uuid4().hex + uuid.uuid4().hex
    sealed = call.root_key.seal(secret, material_aad(key.arn, material_id)) if secret is not None else None
    with call.store.write() as conn:
        conn.execute(materials_table.insert().values(
            key_arn=key.arn, material_id=material_id, sealed=sealed, public_key=public_key,
            created=ts(call.now), state=state, attrs=json.dumps(fields.pop("attrs", {})), **fields))
    call.invalidate(("kms-key", key.arn))
    return material_id


def list_materials(call, key: Key) -> list:
    with call.store.read() as conn:
        return list(conn.execute(materials_table.select().where(
            materials_table.c.key_arn == key.arn).order_by(materials_table.c.created)))


def delete_key_everywhere(conn, arn: str, account: str, region: str, key_id: str) -> None:
    conn.execute(materials_table.delete().where(materials_table.c.key_arn == arn))
    conn.execute(aliases_table.delete().where(aliases_table.c.account == account,
                                              aliases_table.c.region == region,
                                              aliases_table.c.target_key_id == key_id))
    conn.execute(tags.delete().where(tags.c.resource_arn == arn))
    conn.execute(grants_table.delete().where(grants_table.c.key_arn == arn))
    conn.execute(keys_table.delete().where(keys_table.c.arn == arn))


# ---- aliases -------------------------------------------------------------------------------------
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
