"""Imported key material (Origin EXTERNAL, "bring your own key"): GetParametersForImport,
ImportKeyMaterial, DeleteImportedKeyMaterial, and the expiry of material at its ValidTo.

- CreateKey with Origin EXTERNAL makes a key with no material, in PendingImport.
- GetParametersForImport makes an RSA wrapping key pair (RSA_2048/3072/4096) for one of AWS's four
  wrapping algorithms; its private half is kept sealed under the root key in `kms_import_parameters`
  and the pair and its import token are good for 24 hours.
- ImportKeyMaterial unwraps the material (RSAES_OAEP_SHA_1/256 directly, RSA_AES_KEY_WRAP_SHA_1/256
  as an RSA-OAEP-wrapped AES key followed by RFC 5649 AES key wrap with padding), seals it and
  enables the key. As AWS does, the key material id is derived from the key id and the material,
  so re-importing the same material finds its place and different material is refused.
  ImportType NEW_KEY_MATERIAL on a key that already has material adds it as PENDING_ROTATION for
  RotateKeyOnDemand (rotation.py) to make current.
- Material with ExpirationModel KEY_MATERIAL_EXPIRES is deleted at ValidTo by `kms.expire-key-material`
  (a `DeleteExpiredKeyMaterial` service event) and the key goes back to PendingImport.
"""
from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from ..authz import authorize
from ..errors import (ExpiredImportTokenException, IncorrectKeyMaterialException, InvalidCiphertextException,
                      InvalidImportTokenException, KMSInvalidStateException, UnsupportedOperationException,
                      ValidationException)
from ..registry import operation
from ..sealing import material_aad
from . import messages, specs
from .model import Key, add_material, get_key, require_state, resolve_key, save_key, ts
from .rotation import ServiceCall, material_seq, ordered_materials
from .tables import import_parameters
from .tables import materials as materials_table

PARAMETERS_VALID_FOR = timedelta(hours=24)
MAX_VALID_TO = timedelta(days=365)
WRAPPING_KEY_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_HASHES = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256}
WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")
# HMAC material: AWS accepts these lengths in bytes
_HMAC_LENGTHS = {"HMAC_224": (28, 64), "HMAC_256": (32, 64), "HMAC_384": (48, 128), "HMAC_512": (64, 128)}


def pending_import(call, p, key: Key, spec) -> None:
    """Origin EXTERNAL: no material until ImportKeyMaterial."""
    key.state = "PendingImport"
    key.current_material_id = None


def _require_external(key: Key) -> None:
    if key.origin != "EXTERNAL":
        raise UnsupportedOperationException(messages.ORIGIN_NOT_VALID.format(arn=key.arn, origin=key.origin))


def _token_hash(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()


def _token_aad(token_hash: str) -> bytes:
    return material_aad(f"import-parameters:{token_hash}", "wrapping-key")


@operation("kms", "GetParametersForImport")
def get_parameters_for_import(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    algorithm, key_spec = p["WrappingAlgorithm"], p["WrappingKeySpec"]
    authorize(call, "kms:GetParametersForImport", key=key,
              context={"kms:WrappingAlgorithm": algorithm, "kms:WrappingKeySpec": key_spec})
    _require_external(key)
    require_state(key, ("Enabled", "Disabled", "PendingImport"))
    if algorithm not in WRAPPING_ALGORITHMS:
        raise UnsupportedOperationException(f"WrappingAlgorithm {algorithm} is not supported"
                                            + (" since 2023-10-10." if algorithm == "RSAES_PKCS1_V1_5" else
                                               " in this Region."))
    if key_spec not in WRAPPING_KEY_BITS:
        raise UnsupportedOperationException(f"WrappingKeySpec {key_spec} is not supported in this Region.")
    if key.key_spec.startswith("RSA_") and algorithm.startswith("RSAES_OAEP"):
        raise ValidationException(f"WrappingAlgorithm {algorithm} cannot wrap RSA private key material: "
                                  "use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256.")
    if key.key_spec == "ECC_NIST_P521" and key_spec == "RSA_2048" and algorithm.startswith("RSAES_OAEP"):
        raise ValidationException("ECC_NIST_P521 key material is too large for RSAES_OAEP with an RSA_2048 "
                                  "wrapping key: use RSA_3072 or larger, or an RSA_AES_KEY_WRAP algorithm.")
    private = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_BITS[key_spec])
    der_private = private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    token = os.urandom(64)
    token_hash = _token_hash(token)
    valid_to = call.now + PARAMETERS_VALID_FOR
    with call.store.write() as conn:
        conn.execute(import_parameters.insert().values(
            token_hash=token_hash, key_arn=key.arn, wrapping_algorithm=algorithm, wrapping_key_spec=key_spec,
            sealed_private_key=call.root_key.seal(der_private, _token_aad(token_hash)),
            created=ts(call.now), valid_to=ts(valid_to)))
    call.resource(key.arn, "AWS::KMS::Key")
    return {"KeyId": key.arn, "ImportToken": token, "PublicKey": public, "ParametersValidTo": valid_to}


def _unwrap(call, row, token_hash: str, wrapped: bytes) -> bytes:
    private = serialization.load_der_private_key(
        call.root_key.unseal(row.sealed_private_key, _token_aad(token_hash)), password=None)
    algorithm = row.wrapping_algorithm
    digest = _HASHES["SHA_256" if algorithm.endswith("SHA_256") else "SHA_1"]
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=digest()), algorithm=digest(), label=None)
    try:
        if algorithm.startswith("RSAES_OAEP"):
            return private.decrypt(wrapped, oaep)
        size = private.key_size // 8
        aes_key = private.decrypt(wrapped[:size], oaep)
        if len(aes_key) not in (16, 24, 32):
            raise ValueError("wrapping AES key length")
        return aes_key_unwrap_with_padding(aes_key, wrapped[size:])
    except (ValueError, InvalidUnwrap):
        raise InvalidCiphertextException("The EncryptedKeyMaterial could not be unwrapped with the wrapping "
                                         "key of this import token.") from None


def check_material(key: Key, material: bytes) -> bytes | None:
    """Refuse material that cannot be this key's; returns the public key for asymmetric keys."""
    if key.key_spec == "SYMMETRIC_DEFAULT":
        if len(material) != 32:
            raise IncorrectKeyMaterialException("Symmetric key material must be 256 bits (32 bytes).")
        return None
    if key.key_spec in _HMAC_LENGTHS:
        low, high = _HMAC_LENGTHS[key.key_spec]
        if not low <= len(material) <= high:
            raise IncorrectKeyMaterialException(f"{key.key_spec} key material must be {low} to {high} bytes.")
        return None
    public_of = getattr(specs.SPECS.get(key.key_spec), "public_key", None)
    if public_of is None:
        return None
    try:
        return public_of(material)
    except Exception:
        raise IncorrectKeyMaterialException(f"The key material is not a DER-encoded PKCS#8 {key.key_spec} "
                                            "private key.") from None


def material_id_for(key: Key, material: bytes) -> str:
    """AWS derives imported material's id from the key id and the material: same material, same id."""
    return hashlib.sha256(b"keyplane:imported-key-material:" + key.key_id.encode() + b":" + material).hexdigest()


@operation("kms", "ImportKeyMaterial")
def import_key_material(call, p):
    # ExpirationModel and ValidTo: checks of the request alone, made before the key is looked up
    model = p.get("ExpirationModel") or "KEY_MATERIAL_EXPIRES"
    valid_to = p.get("ValidTo")
    if model == "KEY_MATERIAL_EXPIRES" and valid_to is None:
        raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    if model == "KEY_MATERIAL_DOES_NOT_EXPIRE" and valid_to is not None:
        raise ValidationException("A validTo date must not be set if the ExpirationModel is "
                                  "KEY_MATERIAL_DOES_NOT_EXPIRE")
    if valid_to is not None:
        if valid_to <= call.now:
            raise ValidationException("The validTo date must be in the future.")
        if valid_to > call.now + MAX_VALID_TO:
            raise ValidationException("The validTo date must be at most 365 days from now.")
    key = resolve_key(call, p["KeyId"], aliases=False)
    context = {"kms:ExpirationModel": model}
    if valid_to is not None:
        context["kms:ValidTo"] = int(valid_to.timestamp())
    authorize(call, "kms:ImportKeyMaterial", key=key, context=context)
    _require_external(key)
    require_state(key, ("Enabled", "Disabled", "PendingImport", "Updating"))
    symmetric = key.key_spec == "SYMMETRIC_DEFAULT"
    if not symmetric and any(p.get(m) for m in ("ImportType", "KeyMaterialId", "KeyMaterialDescription")):
        raise ValidationException("ImportType, KeyMaterialId and KeyMaterialDescription are only valid for "
                                  "symmetric encryption KMS keys.")

    token = p["ImportToken"]
    token_hash = _token_hash(token)
    with call.store.read() as conn:
        row = conn.execute(import_parameters.select().where(import_parameters.c.token_hash == token_hash)).first()
    if row is None or row.key_arn != key.arn:
        raise InvalidImportTokenException("Import token is invalid or was issued for another KMS key.")
    if row.valid_to <= ts(call.now):
        raise ExpiredImportTokenException("The import token has expired. Call GetParametersForImport for a new one.")
    material = _unwrap(call, row, token_hash, p["EncryptedKeyMaterial"])
    public_key = check_material(key, material)
    material_id = material_id_for(key, material)

    existing = {m.material_id: m for m in ordered_materials(call, key)}
    import_type = p.get("ImportType") or ("EXISTING_KEY_MATERIAL" if existing else "NEW_KEY_MATERIAL")
    wanted = p.get("KeyMaterialId")
    if wanted and import_type == "NEW_KEY_MATERIAL":
        raise ValidationException("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
    valid_to_ts = ts(valid_to) if valid_to is not None else None
    description = p.get("KeyMaterialDescription")
    if import_type == "EXISTING_KEY_MATERIAL":
        if (wanted and wanted != material_id) or material_id not in existing:
            raise IncorrectKeyMaterialException("The key material is not the key material previously "
                                                "imported into this KMS key.")
        values = dict(sealed=call.root_key.seal(material, material_aad(key.arn, material_id)),
                      import_state="IMPORTED", expiration_model=model, valid_to=valid_to_ts)
        if description is not None:
            values["description"] = description
        with call.store.write() as conn:
            conn.execute(materials_table.update().where(
                materials_table.c.key_arn == key.arn, materials_table.c.material_id == material_id).values(**values))
        call.invalidate(("kms-key", key.arn))
    elif not existing:
        key.current_material_id = add_material(
            call, key, material, material_id=material_id, public_key=public_key, import_state="IMPORTED",
            expiration_model=model, valid_to=valid_to_ts, description=description, attrs=material_seq(call, key))
    else:
        if material_id in existing or not symmetric:
            raise IncorrectKeyMaterialException("NEW_KEY_MATERIAL must differ from every key material already "
                                                "associated with this KMS key." if symmetric else
                                                "The key material is not the key material previously imported "
                                                "into this KMS key.")
        if any(m.state == "PENDING_ROTATION" for m in existing.values()):
            raise KMSInvalidStateException(f"{key.arn} already has key material pending rotation: rotate the key "
                                           "(RotateKeyOnDemand) or delete that material first.")
        add_material(call, key, material, material_id=material_id, state="PENDING_ROTATION",
                     import_state="IMPORTED", expiration_model=model, valid_to=valid_to_ts,
                     description=description, attrs=material_seq(call, key))
    _settle_state(call, key)
    call.resource(key.arn, "AWS::KMS::Key")
    out = {"KeyId": key.arn}
    if symmetric:
        out["KeyMaterialId"] = material_id
    return out


def _settle_state(call, key: Key) -> None:
    """A key is usable once every material it has is imported; it waits (PendingImport) otherwise.
    A key pending deletion stays so."""
    materials = ordered_materials(call, key)
    current = next((m for m in materials if m.material_id == key.current_material_id), None)
    if current is not None:
        key.expiration_model, key.valid_to = current.expiration_model, current.valid_to
    complete = bool(materials) and all(m.import_state == "IMPORTED" for m in materials)
    if key.state in ("PendingDeletion", "PendingReplicaDeletion"):
        if not complete:
            key.attrs["state_before_deletion"] = "PendingImport"
        elif key.attrs.get("state_before_deletion") == "PendingImport":
            key.attrs["state_before_deletion"] = "Enabled"
    elif complete and key.state == "PendingImport":
        key.state = "Enabled"
    elif not complete:
        key.state = "PendingImport"
    save_key(call, key)


def _forget_material(call, key: Key, material) -> None:
    """Delete one imported material: gone for good if it never became current, else PENDING_IMPORT
    until the same material is imported again."""
    with call.store.write() as conn:
        where = sa.and_(materials_table.c.key_arn == key.arn, materials_table.c.material_id == material.material_id)
        if material.state == "PENDING_ROTATION":
            conn.execute(materials_table.delete().where(where))
        else:
            conn.execute(materials_table.update().where(where).values(
                sealed=None, import_state="PENDING_IMPORT", expiration_model=None, valid_to=None))
    call.invalidate(("kms-key", key.arn))


@operation("kms", "DeleteImportedKeyMaterial")
def delete_imported_key_material(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    authorize(call, "kms:DeleteImportedKeyMaterial", key=key)
    _require_external(key)
    require_state(key, ("Enabled", "Disabled", "PendingDeletion", "PendingReplicaDeletion", "PendingImport"))
    call.resource(key.arn, "AWS::KMS::Key")
    wanted = p.get("KeyMaterialId") or key.current_material_id
    materials = {m.material_id: m for m in ordered_materials(call, key)}
    if wanted is None and not materials:
        return {"KeyId": key.arn}                          # nothing was ever imported: no effect
    material = materials.get(wanted)
    if material is None:
        raise ValidationException(f"Key material {wanted} is not associated with {key.arn}.")
    if material.import_state == "IMPORTED":
        _forget_material(call, key, material)
    _settle_state(call, key)
    return {"KeyId": key.arn, "KeyMaterialId": material.material_id}


def expire_key_material(engine, store, now) -> int:
    t = now.timestamp()
    with store.read() as conn:
        due = list(conn.execute(sa.select(materials_table.c.key_arn, materials_table.c.material_id).where(
            materials_table.c.import_state == "IMPORTED",
            materials_table.c.expiration_model == "KEY_MATERIAL_EXPIRES", materials_table.c.valid_to <= t)))
    done = 0
    for arn, material_id in due:
        call = ServiceCall(engine, store, now)
        with store.write():
            key = get_key(call, arn)
            material = next((m for m in ordered_materials(call, key) if m.material_id == material_id), None) if key else None
            if material is None or material.import_state != "IMPORTED" or material.valid_to is None or material.valid_to > t:
                continue
            _forget_material(call, key, material)
            _settle_state(call, key)
            engine.service_event(store, "kms", "DeleteExpiredKeyMaterial", key.region, key.account,
                                 [("AWS::KMS::Key", key.arn)], {"keyId": key.key_id, "keyMaterialId": material_id})
            done += 1
    return done


# an expired token keeps its row this long, so a late import is told "expired", not "invalid"
EXPIRED_PARAMETERS_KEPT = timedelta(days=7)


def expire_import_parameters(engine, store, now) -> int:
    """Wrapping private keys are useless once their 24 hours are over: do not keep them long."""
    cutoff = (now - EXPIRED_PARAMETERS_KEPT).timestamp()
    with store.write() as conn:
        return conn.execute(import_parameters.delete().where(import_parameters.c.valid_to <= cutoff)).rowcount
