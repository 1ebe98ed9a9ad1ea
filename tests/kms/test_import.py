"""Imported key material (Origin EXTERNAL) through real boto3 clients, the material wrapped with the
`openssl` command exactly as AWS's documentation tells users to, never with keyplane's own code."""
import os
import shutil
import subprocess
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keyplane.engine import crypto


@pytest.fixture(autouse=True)
def _openssl_installed(require):
    require(shutil.which("openssl") is not None, "the openssl command is not installed")

def _code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def wrap_with_openssl(workdir, public_key: bytes, material: bytes, algorithm: str) -> bytes:
    """The commands of AWS's "Encrypt key material" guide, run in `workdir`."""
    os.makedirs(workdir, exist_ok=True)
    (workdir / "WrappingPublicKey.bin").write_bytes(public_key)
    (workdir / "PlaintextKeyMaterial.bin").write_bytes(material)
    md = "sha256" if algorithm.endswith("SHA_256") else "sha1"
    oaep = ["-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", f"rsa_oaep_md:{md}", "-pkeyopt", f"rsa_mgf1_md:{md}"]
    if algorithm.startswith("RSAES_OAEP"):
        _openssl("pkeyutl", "-encrypt", "-in", "PlaintextKeyMaterial.bin", "-out", "EncryptedKeyMaterial.bin",
                 "-inkey", "WrappingPublicKey.bin", "-keyform", "DER", "-pubin", *oaep, cwd=workdir)
    else:
        _openssl("rand", "-out", "aes-key.bin", "32", cwd=workdir)
        aes_hex = (workdir / "aes-key.bin").read_bytes().hex()
        _openssl("enc", "-id-aes256-wrap-pad", "-K", aes_hex, "-iv", "A65959A6",
                 "-in", "PlaintextKeyMaterial.bin", "-out", "key-material-wrapped.bin", cwd=workdir)
        _openssl("pkeyutl", "-encrypt", "-in", "aes-key.bin", "-out", "aes-key-wrapped.bin",
                 "-inkey", "WrappingPublicKey.bin", "-keyform", "DER", "-pubin", *oaep, cwd=workdir)
        (workdir / "EncryptedKeyMaterial.bin").write_bytes(
            (workdir / "aes-key-wrapped.bin").read_bytes() + (workdir / "key-material-wrapped.bin").read_bytes())
    return (workdir / "EncryptedKeyMaterial.bin").read_bytes()


def import_material(kms, tmp_path, key_id, material, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048", **extra):
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)
    wrapped = wrap_with_openssl(tmp_path / os.urandom(4).hex(), params["PublicKey"], material, algorithm)
    extra.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                                   EncryptedKeyMaterial=wrapped, **extra)


def external_key(kms) -> str:
    return kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]


def _opens_with(material: bytes, blob: bytes, context=None) -> bytes:
    """Open a ciphertext with the raw imported material: proof the key really uses it."""
    _header, head, nonce, ct = crypto.parse_blob(blob)
    return AESGCM(material).decrypt(nonce, ct, head + crypto.canonical_context(context))


def test_external_key_waits_in_pending_import_and_refuses_use(kms):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (md["KeyState"], md["Origin"], md["Enabled"]) == ("PendingImport", "EXTERNAL", False)
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert _code(e) == "KMSInvalidStateException"


@pytest.mark.parametrize("algorithm,spec", [
    ("RSAES_OAEP_SHA_1", "RSA_2048"),
    ("RSAES_OAEP_SHA_256", "RSA_3072"),
    ("RSA_AES_KEY_WRAP_SHA_1", "RSA_2048"),
    ("RSA_AES_KEY_WRAP_SHA_256", "RSA_4096"),
])
def test_material_wrapped_by_openssl_imports_and_the_key_encrypts_with_it(kms, tmp_path, algorithm, spec):
    key_id = external_key(kms)
    material = os.urandom(32)
    out = import_material(kms, tmp_path, key_id, material, algorithm, spec)
    md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Enabled"
    assert md["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert md["CurrentKeyMaterialId"] == out["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"byok", EncryptionContext={"a": "b"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})["Plaintext"] == b"byok"
    assert _opens_with(material, blob, {"a": "b"}) == b"byok"


def test_public_key_is_an_rsa_key_of_the_requested_size_valid_for_24_hours(kms, clock):
    from cryptography.hazmat.primitives.serialization import load_der_public_key
    key_id = external_key(kms)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_3072")
    assert load_der_public_key(params["PublicKey"]).key_size == 3072
    assert params["ParametersValidTo"] == clock.now() + timedelta(hours=24)


def test_expired_import_token_is_refused(kms, tmp_path, clock):
    key_id = external_key(kms)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapped = wrap_with_openssl(tmp_path, params["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_256")
    clock.advance(hours=24, seconds=1)
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert _code(e) == "ExpiredImportTokenException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_import_token_of_another_key_is_invalid(kms, tmp_path):
    key_a, key_b = external_key(kms), external_key(kms)
    params = kms.get_parameters_for_import(KeyId=key_a, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapped = wrap_with_openssl(tmp_path, params["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_256")
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key_b, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert _code(e) == "InvalidImportTokenException"


def test_material_that_does_not_unwrap_is_invalid_ciphertext(kms):
    key_id = external_key(kms)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=b"\x01" * 256,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert _code(e) == "InvalidCiphertextException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_material_expires_at_valid_to_and_the_same_material_brings_the_key_back(kms, engine, tmp_path, clock):
    key_id = external_key(kms)
    material = os.urandom(32)
    valid_to = clock.now() + timedelta(days=2)
    import_material(kms, tmp_path, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (md["ExpirationModel"], md["ValidTo"]) == ("KEY_MATERIAL_EXPIRES", valid_to)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before expiry")["CiphertextBlob"]
    clock.advance(days=1)
    assert engine.run_due()["kms.expire-key-material"] == 0
    clock.advance(days=1, seconds=1)
    assert engine.run_due()["kms.expire-key-material"] == 1
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert _code(e) == "KMSInvalidStateException"
    store = engine.store_for("us-east-1")
    engine.audit.flush(store)
    [event] = engine.audit.query(store, event_name="DeleteExpiredKeyMaterial")
    assert event["eventType"] == "AwsServiceEvent"
    # a different material is refused; the same one restores the key and its ciphertexts
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, key_id, os.urandom(32))
    assert _code(e) == "IncorrectKeyMaterialException"
    import_material(kms, tmp_path, key_id, material)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before expiry"


def test_delete_imported_key_material_makes_the_key_pending_import(kms, tmp_path):
    key_id = external_key(kms)
    material = os.urandom(32)
    material_id = import_material(kms, tmp_path, key_id, material)["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    out = kms.delete_imported_key_material(KeyId=key_id)
    assert out["KeyMaterialId"] == material_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    [entry] = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert (entry["KeyMaterialId"], entry["ImportState"]) == (material_id, "PENDING_IMPORT")
    import_material(kms, tmp_path, key_id, material, KeyMaterialId=material_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_delete_imported_material_of_a_key_pending_deletion_keeps_it_pending_deletion(kms, tmp_path):
    key_id = external_key(kms)
    import_material(kms, tmp_path, key_id, os.urandom(32))
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.delete_imported_key_material(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_automatic_rotation_is_refused_for_imported_material(kms, tmp_path):
    key_id = external_key(kms)
    import_material(kms, tmp_path, key_id, os.urandom(32))
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key_id)
    assert _code(e) == "UnsupportedOperationException"
    # GetKeyRotationStatus refuses a key of origin EXTERNAL outright (AWS's answer quoted in
    # ansible-collections/community.aws#311); it does not report false as for an asymmetric key
    with pytest.raises(ClientError) as e:
        kms.get_key_rotation_status(KeyId=key_id)
    assert _code(e) == "UnsupportedOperationException"


def test_new_key_material_rotates_on_demand_and_old_ciphertext_still_decrypts(kms, tmp_path):
    key_id = external_key(kms)
    first, second = os.urandom(32), os.urandom(32)
    first_id = import_material(kms, tmp_path, key_id, first)["KeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key_id)             # nothing imported to rotate to
    assert _code(e) == "KMSInvalidStateException"
    second_id = import_material(kms, tmp_path, key_id, second, ImportType="NEW_KEY_MATERIAL",
                                KeyMaterialDescription="second generation")["KeyMaterialId"]
    states = {r["KeyMaterialId"]: r["KeyMaterialState"] for r in
              kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]}
    assert states == {first_id: "CURRENT", second_id: "PENDING_ROTATION"}
    kms.rotate_key_on_demand(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"] == second_id
    new_blob = kms.encrypt(KeyId=key_id, Plaintext=b"new")["CiphertextBlob"]
    assert _opens_with(second, new_blob) == b"new"
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"old"
    [rotation] = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert (rotation["KeyMaterialId"], rotation["RotationType"]) == (second_id, "ON_DEMAND")
    assert rotation["KeyMaterialDescription"] == "second generation"


def test_manual_rotation_by_pointing_an_alias_at_a_new_imported_key(kms, tmp_path):
    old_key, new_key = external_key(kms), external_key(kms)
    import_material(kms, tmp_path, old_key, os.urandom(32))
    import_material(kms, tmp_path, new_key, os.urandom(32))
    kms.create_alias(AliasName="alias/byok", TargetKeyId=old_key)
    old_blob = kms.encrypt(KeyId="alias/byok", Plaintext=b"one")["CiphertextBlob"]
    kms.update_alias(AliasName="alias/byok", TargetKeyId=new_key)
    new_blob = kms.encrypt(KeyId="alias/byok", Plaintext=b"two")
    assert new_blob["KeyId"].endswith(new_key)
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"one"
    assert kms.decrypt(CiphertextBlob=new_blob["CiphertextBlob"])["Plaintext"] == b"two"


def test_valid_to_is_required_by_default_and_at_most_365_days_away(kms, tmp_path, clock):
    key_id = external_key(kms)
    material = os.urandom(32)
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES")
    assert _code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        import_material(kms, tmp_path, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES",
                        ValidTo=clock.now() + timedelta(days=366))
    assert _code(e) == "ValidationException"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_import_operations_refuse_keys_with_generated_material(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    assert _code(e) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        kms.delete_imported_key_material(KeyId=key_id)
    assert _code(e) == "UnsupportedOperationException"


def test_pkcs1_v1_5_wrapping_is_no_longer_supported(kms):
    with pytest.raises(ClientError) as e:
        kms.get_parameters_for_import(KeyId=external_key(kms), WrappingAlgorithm="RSAES_PKCS1_V1_5",
                                      WrappingKeySpec="RSA_2048")
    assert _code(e) == "UnsupportedOperationException"


def test_imported_material_and_wrapping_keys_never_reach_the_disk_in_plaintext(kms, engine, tmp_path):
    key_id = external_key(kms)
    material = os.urandom(32)
    import_material(kms, tmp_path / "wrap", key_id, material)
    engine.audit.flush(engine.store_for("us-east-1"))
    state = tmp_path / "state"
    for path in state.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert material not in data and material.hex().encode() not in data, path


def test_a_late_import_is_told_the_token_expired_even_after_the_scheduler_ran(kms, engine, tmp_path, clock):
    key_id = external_key(kms)
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapped = wrap_with_openssl(tmp_path, params["PublicKey"], os.urandom(32), "RSAES_OAEP_SHA_256")
    clock.advance(days=2)
    engine.run_due()
    with pytest.raises(ClientError) as e:
        kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert _code(e) == "ExpiredImportTokenException"
    clock.advance(days=7)
    assert engine.run_due()["kms.expire-import-parameters"] == 1
