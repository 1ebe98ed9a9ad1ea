"""The symmetric cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, GenerateRandom.

This is the hot path: a cached key and material mean no database work, and the audit record is
buffered. RSA keys encrypt through key_pairs.py; keys in a custom key store run AES-GCM inside
their store's token (custom_key_stores.py), chosen per key by `_aead`.
"""
from __future__ import annotations

import re

from .. import crypto
from ..authz import authorize
from ..errors import (AccessDeniedException, DryRunOperationException, IncorrectKeyException,
                      InvalidCiphertextException, InvalidKeyUsageException, KMSInternalException,
                      ValidationException, invalid_value)
from ..registry import operation
from . import custom_key_stores, key_pairs, messages
from .model import (CRYPTO_STATES, Key, get_key, key_arn, material_aead, require_state, resolve_key,
                    wrong_algorithm, wrong_usage)
from .records import KEY_ID_RE

DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}


def dry_run(p) -> None:
    if p.get("DryRun"):
        raise DryRunOperationException(messages.DRY_RUN)


def condition_context(call, context: dict | None, algorithm: str | None = None) -> dict:
    keys = {}
    for k, v in (context or {}).items():
        keys[f"kms:EncryptionContext:{k}"] = v
    keys["kms:EncryptionContextKeys"] = list(context or {})
    if algorithm:
        keys["kms:EncryptionAlgorithm"] = algorithm
    if call.request_alias:
        keys["kms:RequestAlias"] = call.request_alias
    return keys


def _require_encrypt_usage(call, key: Key, algorithm: str | None) -> str:
    if key.key_usage != "ENCRYPT_DECRYPT":
        raise wrong_usage(key, call.spec.name)
    algorithms = key.spec.algorithms.get("ENCRYPT_DECRYPT", {}).get("EncryptionAlgorithms", [])
    # AWS defaults the algorithm to SYMMETRIC_DEFAULT for every key, so an RSA key without an
    # algorithm gets the incompatible-algorithm error, not a missing-parameter one
    algorithm = algorithm or "SYMMETRIC_DEFAULT"
    if algorithm not in algorithms:
        raise wrong_algorithm(key, algorithm)
    return algorithm


def require_symmetric(call, key: Key) -> None:
    if not key.is_symmetric_encryption:
        if key.key_usage != "ENCRYPT_DECRYPT":
            raise wrong_usage(key, call.spec.name)
        raise InvalidKeyUsageException(f"The operation is not supported for {key.key_spec} keys: use a "
                                       "symmetric encryption KMS key.")


def _no_context_for_asymmetric(key: Key, context: dict | None) -> None:
    if context and not key.spec.symmetric:
        raise InvalidKeyUsageException("EncryptionContext is not supported with asymmetric KMS keys.")


def encrypt_with(call, key: Key, plaintext: bytes, context: dict | None, algorithm: str) -> tuple[bytes, str]:
    """(ciphertext blob, material id hex) under the key's current material."""
    if not key.spec.symmetric:
        return key_pairs.rsa_encrypt(call, key, plaintext, algorithm)
    material_id = key.current_material_id
    aead = _aead(call, key, material_id)
    if aead is None:
        raise KMSInternalException("The key material of this KMS key is not available.")
    header = _headers.get((key.arn, material_id))
    if header is None:
        header = crypto.BlobHeader(key.account, key.region, key.key_id, bytes.fromhex(material_id),
                                   key.multi_region).encode()
        if len(_headers) > 10_000:
            _headers.clear()
        _headers[(key.arn, material_id)] = header
    return crypto.seal_blob(aead, header, plaintext, context), material_id


_headers: dict = {}   # (key ARN, material id) -> encoded ciphertext header; immutable once made

def _aead(call, key: Key, material_id: str):
    """AES-GCM for one material version (None if the key has no such material): inside the token of
    the key's custom key store, or over the material sealed in the store. Both offer AESGCM's
    encrypt/decrypt(nonce, data, aad)."""
    if key.custom_key_store_id:
        return custom_key_stores.token_aead(call, key, material_id)
    return material_aead(call, key, material_id)


def key_for_ciphertext(call, blob: bytes) -> tuple[Key, tuple]:
    """The key a symmetric ciphertext names, in the caller's Region (multi-Region keys decrypt in
    any Region that holds a related key). A ciphertext that does not parse is InvalidCiphertext; a
    well-formed one whose key is not here -- deleted, another Region's, never held -- is what AWS
    answers with AccessDenied "The ciphertext refers to a customer master key that does not exist,
    does not exist in this region, or you are not allowed to access." (the same words whether the
    key is missing or forbidden, so they tell a caller nothing about which keys exist)."""
    parsed = crypto.parse_blob(blob)
    header = parsed[0]
    if not _well_formed_reference(header):
        raise InvalidCiphertextException("")     # damaged: no key could have written it
    if header.region != call.region and not header.multi_region:
        raise AccessDeniedException(messages.CIPHERTEXT_KEY_UNKNOWN)
    key = get_key(call, key_arn(call.region, header.account, header.key_id))
    if key is None or key.multi_region != header.multi_region:
        raise AccessDeniedException(messages.CIPHERTEXT_KEY_UNKNOWN)
    return key, parsed


def _well_formed_reference(header) -> bool:
    """Whether a ciphertext's key reference is one a key could have written: a 12-digit account,
    a Region name, a key id of its kind (mrk- for multi-Region)."""
    return (len(header.account) == 12 and header.account.isdigit()
            and _REGION_RE.match(header.region) is not None
            and KEY_ID_RE.match(header.key_id) is not None
            and header.key_id.startswith("mrk-") == header.multi_region)


_REGION_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def decrypt_with(call, key: Key, parsed: tuple, context: dict | None) -> tuple[bytes, str]:
    header, head, nonce, ct = parsed
    material_id = header.material_id.hex()
    aead = _aead(call, key, material_id)
    if aead is None:
        raise InvalidCiphertextException("")
    return crypto.open_blob(aead, head, nonce, ct, context), material_id


def ignores_ciphertext(p) -> bool:
    """A dry run with DryRunModifiers IGNORE_CIPHERTEXT: KMS checks authorization (and what it can
    without a ciphertext) for the key the request names, and leaves CiphertextBlob alone. The
    modifier applies only when DryRun is true."""
    return bool(p.get("DryRun")) and "IGNORE_CIPHERTEXT" in (p.get("DryRunModifiers") or ())


def _named_source(call, p, *, key_member: str, context_member: str, algorithm_member: str, action: str):
    """The source key of a dry run that ignores the ciphertext: named by `key_member` (required then),
    authorised, in a usable state, and able to decrypt with the algorithm asked for."""
    if not p.get(key_member):
        raise ValidationException(f"{key_member} is required when DryRunModifiers includes IGNORE_CIPHERTEXT.")
    key = resolve_key(call, p[key_member])
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    algorithm = p.get(algorithm_member) or "SYMMETRIC_DEFAULT"
    context = p.get(context_member) if key.spec.symmetric else None
    authorize(call, action, key=key, context=condition_context(call, context, algorithm))
    require_state(key, CRYPTO_STATES)
    algorithm = _require_encrypt_usage(call, key, algorithm)
    _no_context_for_asymmetric(key, p.get(context_member))
    return key, None, None, algorithm


def _decrypt_source(call, p, *, blob_member: str, key_member: str, context_member: str,
                    algorithm_member: str, action: str):
    """Shared by Decrypt and ReEncrypt: find the key, check it, decrypt. A dry run that ignores the
    ciphertext checks the named key instead and decrypts nothing (plaintext None)."""
    if ignores_ciphertext(p):
        return _named_source(call, p, key_member=key_member, context_member=context_member,
                             algorithm_member=algorithm_member, action=action)
    blob = p.get(blob_member)
    if blob is None:
        # required "in all cases except when DryRun is true and DryRunModifiers is set to IGNORE_CIPHERTEXT"
        raise invalid_value(None, blob_member[0].lower() + blob_member[1:], "Member must not be null")
    algorithm = p.get(algorithm_member) or "SYMMETRIC_DEFAULT"
    named = resolve_key(call, p[key_member]) if p.get(key_member) else None
    context = p.get(context_member)
    # an RSA/SM2 key decrypts its own ciphertext; any other named key (an HMAC key too) must be
    # the key the symmetric ciphertext names, else IncorrectKeyException
    if named is not None and not named.spec.symmetric and named.key_usage != "GENERATE_VERIFY_MAC":
        key = named
        call.resource(key.arn, "AWS::KMS::Key", key.account)
        authorize(call, action, key=key, context=condition_context(call, None, algorithm))
        require_state(key, CRYPTO_STATES)
        _require_encrypt_usage(call, key, algorithm)
        _no_context_for_asymmetric(key, context)
        dry_run(p)
        plaintext, material_id = key_pairs.rsa_decrypt(call, key, blob, algorithm)
        return key, plaintext, material_id, algorithm
    if algorithm != "SYMMETRIC_DEFAULT":
        raise InvalidCiphertextException("")
    key, parsed = key_for_ciphertext(call, blob)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    if named is not None and named.arn != key.arn:
        raise IncorrectKeyException(messages.INCORRECT_KEY)
    authorize(call, action, key=key, context=condition_context(call, context, algorithm))
    require_state(key, CRYPTO_STATES)
    dry_run(p)
    plaintext, material_id = decrypt_with(call, key, parsed, context)
    return key, plaintext, material_id, algorithm


@operation("kms", "Encrypt", readonly=True, tracks_use=True)
def encrypt(call, p):
    key = resolve_key(call, p["KeyId"])
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    context = p.get("EncryptionContext")
    algorithm = p.get("EncryptionAlgorithm")
    authorize(call, "kms:Encrypt", key=key,
              context=condition_context(call, context, algorithm or "SYMMETRIC_DEFAULT"))
    require_state(key, CRYPTO_STATES)
    algorithm = _require_encrypt_usage(call, key, algorithm)
    _no_context_for_asymmetric(key, context)
    dry_run(p)
    blob, _ = encrypt_with(call, key, p["Plaintext"], context, algorithm)
    return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}


@operation("kms", "Decrypt", readonly=True, tracks_use=True)
def decrypt(call, p):
    key, plaintext, material_id, algorithm = _decrypt_source(
        call, p, blob_member="CiphertextBlob", key_member="KeyId", context_member="EncryptionContext",
        algorithm_member="EncryptionAlgorithm", action="kms:Decrypt")
    call.audit_params["keyId"] = key.arn
    dry_run(p)      # reached by a dry run only when it ignored the ciphertext (others stop before decrypting)
    out = {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
    if key.spec.symmetric:
        out["KeyMaterialId"] = material_id
    return out


@operation("kms", "ReEncrypt", readonly=True, tracks_use=True)
def re_encrypt(call, p):
    source, plaintext, source_material, source_alg = _decrypt_source(
        call, p, blob_member="CiphertextBlob", key_member="SourceKeyId",
        context_member="SourceEncryptionContext", algorithm_member="SourceEncryptionAlgorithm",
        action="kms:ReEncryptFrom")
    call.request_alias = None
    dest = resolve_key(call, p["DestinationKeyId"])
    call.resource(dest.arn, "AWS::KMS::Key", dest.account)
    context = p.get("DestinationEncryptionContext")
    dest_alg = p.get("DestinationEncryptionAlgorithm")
    ctx = condition_context(call, context, dest_alg or "SYMMETRIC_DEFAULT")
    ctx["kms:ReEncryptOnSameKey"] = dest.arn == source.arn
    authorize(call, "kms:ReEncryptTo", key=dest, context=ctx)
    require_state(dest, CRYPTO_STATES)
    dest_alg = _require_encrypt_usage(call, dest, dest_alg)
    _no_context_for_asymmetric(dest, context)
    dry_run(p)
    blob, dest_material = encrypt_with(call, dest, plaintext, context, dest_alg)
    out = {"CiphertextBlob": blob, "SourceKeyId": source.arn, "KeyId": dest.arn,
           "SourceEncryptionAlgorithm": source_alg, "DestinationEncryptionAlgorithm": dest_alg}
    if source.spec.symmetric:
        out["SourceKeyMaterialId"] = source_material
    if dest.spec.symmetric:
        out["DestinationKeyMaterialId"] = dest_material
    return out


def _data_key(call, p, action: str) -> tuple[Key, bytes, bytes, str]:
    # exactly one of KeySpec and NumberOfBytes: a check of the request alone, made before the key
    # is looked up (validation, then the key)
    spec, n = p.get("KeySpec"), p.get("NumberOfBytes")
    if (spec is None) == (n is None):
        raise ValidationException(messages.DATA_SIZE_REQUIRED)
    key = resolve_key(call, p["KeyId"])
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    context = p.get("EncryptionContext")
    authorize(call, action, key=key, context=condition_context(call, context))
    require_state(key, CRYPTO_STATES)
    require_symmetric(call, key)
    dry_run(p)
    plaintext = crypto.random_bytes(DATA_KEY_BYTES[spec] if spec else n)
    blob, material_id = encrypt_with(call, key, plaintext, context, "SYMMETRIC_DEFAULT")
    return key, plaintext, blob, material_id


@operation("kms", "GenerateDataKey", readonly=True, tracks_use=True)
def generate_data_key(call, p):
    key, plaintext, blob, material_id = _data_key(call, p, "kms:GenerateDataKey")
    return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn, "KeyMaterialId": material_id}


@operation("kms", "GenerateDataKeyWithoutPlaintext", readonly=True, tracks_use=True)
def generate_data_key_without_plaintext(call, p):
    key, _, blob, material_id = _data_key(call, p, "kms:GenerateDataKeyWithoutPlaintext")
    return {"CiphertextBlob": blob, "KeyId": key.arn, "KeyMaterialId": material_id}


@operation("kms", "GenerateRandom", readonly=True)
def generate_random(call, p):
    n = p.get("NumberOfBytes")
    if n is None:
        raise ValidationException(messages.DATA_SIZE_REQUIRED)
    authorize(call, "kms:GenerateRandom", resource="*")
    store_id = p.get("CustomKeyStoreId")
    if store_id:
        return {"Plaintext": custom_key_stores.random_bytes(call, store_id, n)}
    return {"Plaintext": crypto.random_bytes(n)}
