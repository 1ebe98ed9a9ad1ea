"""Key rotation through real boto3 clients: automatic (scheduler on the manual clock), on-demand,
AWS managed keys, and AWS's refusals."""
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError


def _code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def _events(engine, name):
    store = engine.store_for("us-east-1")
    engine.audit.flush(store)
    return engine.audit.query(store, event_name=name, limit=100)


def test_ciphertexts_from_every_generation_decrypt_after_two_automatic_rotations(kms, engine, clock):
    engine.audit_retention = 365 * 86400   # both rotations' records (90 days apart) stay in the store
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    first = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    blobs = [kms.encrypt(KeyId=key_id, Plaintext=b"gen0")["CiphertextBlob"]]
    material_ids = [first]
    for gen in (1, 2):
        clock.advance(days=90, minutes=1)
        assert engine.run_due()["kms.rotate-keys"] == 1
        current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
        assert current not in material_ids
        material_ids.append(current)
        blobs.append(kms.encrypt(KeyId=key_id, Plaintext=f"gen{gen}".encode())["CiphertextBlob"])
    for gen, blob in enumerate(blobs):
        out = kms.decrypt(CiphertextBlob=blob)
        assert out["Plaintext"] == f"gen{gen}".encode()
        assert out["KeyMaterialId"] == material_ids[gen]
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["KeyMaterialId"] for r in rotations] == material_ids[1:]
    assert {r["RotationType"] for r in rotations} == {"AUTOMATIC"}
    assert len(_events(engine, "RotateKey")) == 2


def test_nothing_rotates_before_the_period_ends(kms, engine, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    clock.advance(days=364)
    assert engine.run_due()["kms.rotate-keys"] == 0
    assert kms.list_key_rotations(KeyId=key_id)["Rotations"] == []


def test_rotation_status_reports_period_and_next_rotation_date(kms, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    kms.enable_key_rotation(KeyId=key_id)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True
    assert status["RotationPeriodInDays"] == 365
    assert status["NextRotationDate"] == clock.now() + timedelta(days=365)
    assert "OnDemandRotationStartDate" not in status
    kms.disable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_changing_the_period_counts_from_the_enable_date(kms, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    enabled_at = clock.now()
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=365)
    clock.advance(days=10)
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=180)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["RotationPeriodInDays"] == 180
    assert status["NextRotationDate"] == enabled_at + timedelta(days=180)


@pytest.mark.parametrize("days", [89, 2561])
def test_rotation_period_outside_90_to_2560_is_a_validation_error(kp, kms, days):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    unchecked = kp.client("kms", parameter_validation=False)   # let the server do the checking
    with pytest.raises(ClientError) as e:
        unchecked.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=days)
    assert _code(e) == "ValidationException"
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_disabled_key_does_not_rotate_until_enabled_again(kms, engine, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    kms.disable_key(KeyId=key_id)
    clock.advance(days=100)
    assert engine.run_due()["kms.rotate-keys"] == 0
    kms.enable_key(KeyId=key_id)
    assert engine.run_due()["kms.rotate-keys"] == 1
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key_id)
    assert _code(e) == "DisabledException"


def test_pending_deletion_reports_rotation_off_and_cancel_restores_it(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId=key_id)
    assert _code(e) == "KMSInvalidStateException"
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_on_demand_rotation_changes_current_material_and_keeps_the_schedule(kms, engine):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id)
    before = kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"]
    old_material = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key_id, Plaintext=b"old")["CiphertextBlob"]
    assert kms.rotate_key_on_demand(KeyId=key_id)["KeyId"].endswith(key_id)
    new_material = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert new_material != old_material
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"old"
    assert kms.get_key_rotation_status(KeyId=key_id)["NextRotationDate"] == before
    everything = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in everything] == [
        (old_material, "NON_CURRENT"), (new_material, "CURRENT")]
    assert everything[1]["RotationType"] == "ON_DEMAND"
    assert _events(engine, "RotateKey")[0]["serviceEventDetails"]["rotationType"] == "ON_DEMAND"


def test_on_demand_rotation_stops_at_25(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key_id)
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert _code(e) == "LimitExceededException"
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 25


def test_on_demand_rotation_close_to_an_automatic_one_is_a_conflict(kms, clock):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    clock.advance(days=90, minutes=-10)
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert _code(e) == "ConflictException"


def test_list_key_rotations_pages_with_a_marker(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(3):
        kms.rotate_key_on_demand(KeyId=key_id)
    first = kms.list_key_rotations(KeyId=key_id, Limit=2)
    assert first["Truncated"] is True and len(first["Rotations"]) == 2
    rest = kms.list_key_rotations(KeyId=key_id, Limit=2, Marker=first["NextMarker"])
    assert rest["Truncated"] is False and len(rest["Rotations"]) == 1
    ids = [r["KeyMaterialId"] for r in first["Rotations"] + rest["Rotations"]]
    assert len(set(ids)) == 3


def test_aws_managed_key_rotates_yearly_on_its_own(kp, engine, clock):
    kms = kp.client("kms", region="us-east-1")
    key = kms.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is True
    assert status["NextRotationDate"] == key["CreationDate"] + timedelta(days=365)
    with pytest.raises(ClientError):
        kms.disable_key_rotation(KeyId=key["KeyId"])
    with pytest.raises(ClientError):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    clock.advance(days=365, seconds=1)
    assert engine.run_due()["kms.rotate-keys"] == 1
    after = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert after["CurrentKeyMaterialId"] != key["CurrentKeyMaterialId"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["NextRotationDate"] == key["CreationDate"] + timedelta(days=730)


def test_rotation_of_a_disabled_key_on_demand_is_disabled_exception(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=key_id)
    with pytest.raises(ClientError) as e:
        kms.rotate_key_on_demand(KeyId=key_id)
    assert _code(e) == "DisabledException"


def test_rotation_needs_a_key_id_not_an_alias(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/rot", TargetKeyId=key_id)
    with pytest.raises(ClientError) as e:
        kms.enable_key_rotation(KeyId="alias/rot")
    assert _code(e) == "InvalidArnException"


def test_rotation_and_imported_material_work_the_same_on_postgresql(postgres_url, clock, tmp_path):
    import os

    import keyplane
    from keyplane.engine.core import Engine
    from keyplane.engine.sealing import RootKey

    engine = Engine(postgres_url, clock=clock, root_key=RootKey(os.urandom(32), "test"))
    try:
        kms = keyplane.connect(engine=engine).client("kms", region="us-east-1")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"gen0")["CiphertextBlob"]
        clock.advance(days=91)
        assert engine.run_due()["kms.rotate-keys"] == 1
        kms.rotate_key_on_demand(KeyId=key_id)
        assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 2
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"gen0"
        external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        params = kms.get_parameters_for_import(KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        wrapped = serialization.load_der_public_key(params["PublicKey"]).encrypt(
            os.urandom(32), padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))
        kms.import_key_material(KeyId=external, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                                ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=clock.now() + timedelta(days=1))
        assert kms.describe_key(KeyId=external)["KeyMetadata"]["KeyState"] == "Enabled"
        clock.advance(days=1, seconds=1)
        assert engine.run_due()["kms.expire-key-material"] == 1
        assert kms.describe_key(KeyId=external)["KeyMetadata"]["KeyState"] == "PendingImport"
    finally:
        engine.close()
