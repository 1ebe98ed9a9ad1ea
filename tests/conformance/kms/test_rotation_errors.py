"""Key rotation refusals on the wire: which keys each rotation operation refuses, with what.

Automatic rotation (EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus) is for symmetric
encryption keys whose material KMS generated; on-demand rotation (RotateKeyOnDemand) also serves
single-Region keys with imported material, but not asymmetric or HMAC keys, keys in a custom key
store, or multi-Region keys with imported material
(https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html, "You cannot perform
on-demand rotation of asymmetric KMS keys, HMAC KMS keys, multi-Region KMS keys with imported key
material, or KMS keys in a custom key store").
"""
import base64
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def _import(wire, key, material, **params):
    """ImportKeyMaterial of `material`, wrapped with RSAES_OAEP_SHA_256 under fresh parameters."""
    got = wire.call("kms", "GetParametersForImport", {"KeyId": key, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                                                      "WrappingKeySpec": "RSA_2048"})
    assert got.status == 200, got.body
    public = serialization.load_der_public_key(base64.b64decode(got.body["PublicKey"]))
    wrapped = public.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                    label=None))
    return wire.call("kms", "ImportKeyMaterial", {
        "KeyId": key, "ImportToken": base64.b64decode(got.body["ImportToken"]), "EncryptedKeyMaterial": wrapped,
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE", **params})


def _origin_refusal(key, origin="EXTERNAL"):
    return {"__type": "UnsupportedOperationException",
            "message": f"{key} origin is {origin} which is not valid for this operation."}


# ---- GetKeyRotationStatus: https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyRotationStatus.html

@pytest.mark.parametrize("imported", [False, True])
def test_rotation_status_of_an_imported_key_is_refused_by_origin(wire, imported):
    """A key of origin EXTERNAL, awaiting its material or holding it: "UnsupportedOperationException:
    arn:aws:kms:...:key/... origin is EXTERNAL which is not valid for this operation.", AWS's answer
    to GetKeyRotationStatus quoted in ansible-collections/community.aws#311 (an Enabled key with
    imported material), duo-labs/cloudmapper#906 and prowler-cloud/prowler#1835."""
    key = _key(wire, Origin="EXTERNAL")
    if imported:
        assert _import(wire, key, os.urandom(32)).status == 200
    r = wire.call("kms", "GetKeyRotationStatus", {"KeyId": key})
    assert (r.status, r.body) == (400, _origin_refusal(key))


@pytest.mark.parametrize("spec,usage", [("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
                                        ("ECC_NIST_P256", "KEY_AGREEMENT")])
def test_rotation_status_of_an_asymmetric_or_hmac_key_is_false(wire, spec, usage):
    """"The key rotation status of these KMS keys is always false" (asymmetric and HMAC keys; the
    GetKeyRotationStatus reference, and `aws kms get-key-rotation-status` on an asymmetric key in
    ansible-collections/community.aws#311)."""
    key = _key(wire, KeySpec=spec, KeyUsage=usage)
    r = wire.call("kms", "GetKeyRotationStatus", {"KeyId": key})
    assert (r.status, r.body) == (200, {"KeyRotationEnabled": False, "KeyId": key})


# ---- EnableKeyRotation / DisableKeyRotation:
# https://docs.aws.amazon.com/kms/latest/APIReference/API_EnableKeyRotation.html

@pytest.mark.parametrize("operation", ["EnableKeyRotation", "DisableKeyRotation"])
def test_automatic_rotation_of_imported_material_is_refused_by_origin(wire, operation):
    key = _key(wire, Origin="EXTERNAL")
    assert _import(wire, key, os.urandom(32)).status == 200
    r = wire.call("kms", operation, {"KeyId": key})
    assert (r.status, r.body) == (400, _origin_refusal(key))


@pytest.mark.parametrize("spec,usage", [("RSA_2048", "ENCRYPT_DECRYPT"), ("HMAC_384", "GENERATE_VERIFY_MAC")])
def test_automatic_rotation_of_an_asymmetric_or_hmac_key_is_unsupported(wire, spec, usage):
    key = _key(wire, KeySpec=spec, KeyUsage=usage)
    for operation in ("EnableKeyRotation", "DisableKeyRotation"):
        r = wire.call("kms", operation, {"KeyId": key})
        assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), (operation, r.body)


def test_enable_rotation_of_a_disabled_key_is_disabled(wire):
    """EnableKeyRotation lists DisabledException: a disabled symmetric key is refused with it."""
    key = _key(wire)
    wire.call("kms", "DisableKey", {"KeyId": key})
    r = wire.call("kms", "EnableKeyRotation", {"KeyId": key})
    assert (r.status, r.body) == (400, {"__type": "DisabledException", "message": f"{key} is disabled."})


# ---- RotateKeyOnDemand: https://docs.aws.amazon.com/kms/latest/APIReference/API_RotateKeyOnDemand.html

@pytest.mark.parametrize("spec,usage", [("RSA_2048", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC"),
                                        ("ECC_NIST_P256", "KEY_AGREEMENT")])
def test_on_demand_rotation_of_an_asymmetric_or_hmac_key_is_unsupported(wire, spec, usage):
    key = _key(wire, KeySpec=spec, KeyUsage=usage)
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), r.body


def test_on_demand_rotation_of_a_multi_region_key_with_imported_material_is_unsupported(wire):
    key = _key(wire, Origin="EXTERNAL", MultiRegion=True)
    assert _import(wire, key, os.urandom(32)).status == 200
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), r.body
    assert len(wire.call("kms", "ListKeyRotations", {"KeyId": key,
                                                     "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}).body["Rotations"]) == 1


def test_on_demand_rotation_of_imported_material_needs_new_material_pending(wire):
    """A single-Region key with imported material rotates on demand to material imported beforehand
    with ImportType NEW_KEY_MATERIAL; without it there is nothing to rotate to (KMSInvalidState)."""
    key = _key(wire, Origin="EXTERNAL")
    assert _import(wire, key, os.urandom(32)).status == 200
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert (r.status, r.error_type) == (400, "KMSInvalidStateException"), r.body
    assert _import(wire, key, os.urandom(32), ImportType="NEW_KEY_MATERIAL").status == 200
    assert wire.call("kms", "RotateKeyOnDemand", {"KeyId": key}).status == 200


def test_on_demand_rotation_of_a_key_pending_deletion_is_invalid_state(wire):
    key = _key(wire)
    wire.call("kms", "ScheduleKeyDeletion", {"KeyId": key, "PendingWindowInDays": 7})
    r = wire.call("kms", "RotateKeyOnDemand", {"KeyId": key})
    assert (r.status, r.body) == (400, {"__type": "KMSInvalidStateException", "message": f"{key} is pending deletion."})
