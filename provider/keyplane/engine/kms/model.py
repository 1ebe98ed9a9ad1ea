"""The rules every KMS operation shares, over the key record (records.py):

- `resolve_key`: KeyId as a key id, key ARN, alias name or alias ARN, exactly where AWS accepts each
  (an `alias/aws/<service>` alias makes its AWS managed key on first use, managed.py).
- `save_key` / `add_material`: store a change; a multi-Region primary then pushes it to its
  replicas once the transaction commits (multi_region_sync.py).
- `require_state`: the key-state table's errors and messages.

The record's names (Key, get_key, material_secret, ...) are re-exported, so an operation module
imports the key model from one place.
"""
from __future__ import annotations

from ..errors import (DisabledException, InvalidArnException, InvalidKeyUsageException,
                      KMSInvalidStateException, KeyUnavailableException, NotFoundException)
from . import messages, multi_region_sync
from .managed import ensure_managed_key
from .records import (  # noqa: F401  (re-exported: the key model in one place)
    ALIAS_ARN_RE, AWS_ALIAS_PREFIX, CRYPTO_STATES, EPOCH, KEY_ARN_RE, KEY_ID_RE, REPLICAS, Key,
    alias_arn, delete_key_everywhere, dt, get_key, insert_key, is_primary, is_replica, key_arn,
    list_materials, lookup_alias, material_aead, material_object, material_public_key,
    material_secret, new_key_id, replica_regions, ts, write_key, write_material)


# ---- changes -------------------------------------------------------------------------------------
def save_key(call, key: Key) -> None:
    write_key(call, key)
    multi_region_sync.push_after_commit(call, key)


def add_material(call, key: Key, secret: bytes | None, **fields) -> str:
    """Store a new version of key material, sealed under the store's root key."""
    material_id = write_material(call, key, secret, **fields)
    multi_region_sync.push_after_commit(call, key)
    return material_id


# ---- KeyId resolution ----------------------------------------------------------------------------
def not_found(arn: str) -> NotFoundException:
    return NotFoundException(messages.KEY_NOT_FOUND.format(arn=arn))


def alias_not_found(arn: str) -> NotFoundException:
    return NotFoundException(messages.ALIAS_NOT_FOUND.format(arn=arn))


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
            raise NotFoundException(messages.ARN_IN_OTHER_REGION.format(region=arn_region))
        key = get_key(call, arn)
        if key is None:
            raise not_found(arn)
        return key
    m = ALIAS_ARN_RE.match(key_id)
    name = None
    if m:
        arn_region, account, name = m.groups()
        if arn_region != call.region:      # the same ARN check as a key ARN's
            raise NotFoundException(messages.ARN_IN_OTHER_REGION.format(region=arn_region))
    elif key_id.startswith("alias/"):
        name = key_id
    if name is not None:
        if not aliases:
            raise InvalidArnException(messages.ALIASES_NOT_SUPPORTED)
        row = lookup_alias(call, account, name)
        if row is None:
            if managed and name.startswith(AWS_ALIAS_PREFIX) and account == call.account:
                return ensure_managed_key(call, name)
            raise alias_not_found(alias_arn(region, account, name))
        key = get_key(call, key_arn(region, account, row.target_key_id))
        if key is None:
            raise alias_not_found(alias_arn(region, account, name))
        call.request_alias = name          # kms:RequestAlias
        return key
    if not KEY_ID_RE.match(key_id):
        raise NotFoundException(messages.INVALID_KEY_ID.format(key_id=key_id))
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
        return DisabledException(messages.DISABLED.format(arn=key.arn))
    if key.state == "Unavailable" and key.custom_key_store_id:
        # its custom key store is disconnected: retry once it is connected again
        return KeyUnavailableException(f"{key.arn} is unavailable: its custom key store "
                                       f"{key.custom_key_store_id} is not connected.")
    return KMSInvalidStateException(f"{key.arn} {_STATE_MESSAGES.get(key.state, 'is ' + key.state + '.')}")


def wrong_usage(key: Key, operation: str) -> InvalidKeyUsageException:
    """AWS's words when an operation does not fit the key's KeyUsage."""
    return InvalidKeyUsageException(
        messages.WRONG_KEY_USAGE.format(arn=key.arn, usage=key.key_usage, operation=operation))


def wrong_algorithm(key: Key, algorithm: str) -> InvalidKeyUsageException:
    """AWS's words when an algorithm does not fit the key's KeySpec."""
    return InvalidKeyUsageException(messages.WRONG_ALGORITHM.format(algorithm=algorithm, key_spec=key.key_spec))


def require_state(key: Key, allowed) -> None:
    if key.state not in allowed:
        raise state_error(key)


def require_not_pending_deletion(key: Key) -> None:
    if key.state in ("PendingDeletion", "PendingReplicaDeletion"):
        raise state_error(key)
