"""Multi-Region keys through real boto3 clients: replicas in other Regions, each Region on its own
SQLite (or PostgreSQL) store with its own root key, cross-Region decrypt with no cross-Region
call, DescribeKey's MultiRegionConfiguration, UpdatePrimaryRegion, deletion of primaries with
replicas, synchronisation, and a Region whose store is lost."""
from __future__ import annotations

import os
import shutil
from datetime import timedelta

import botocore.exceptions
import pytest

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.kms.tables import keys as keys_table
from keyplane.engine.kms.tables import materials as materials_table
from keyplane.engine.sealing import RootKeyError, material_aad

EAST, WEST, AP = "us-east-1", "eu-west-1", "ap-southeast-2"


def region_files(tmp_path, name):
    return [tmp_path / f"{name}.db", tmp_path / f"{name}.db-wal", tmp_path / f"{name}.db-shm",
            tmp_path / f"{name}.root.key"]


def open_engine(tmp_path, clock, extra: dict | None = None) -> Engine:
    regions = {EAST: f"sqlite:///{tmp_path}/east.db", WEST: f"sqlite:///{tmp_path}/west.db",
               AP: f"sqlite:///{tmp_path}/ap.db"}
    regions.update(extra or {})
    return Engine(str(tmp_path / "default"), regions=regions, clock=clock)


@pytest.fixture
def regional(tmp_path, clock):
    engines = []

    def make(extra=None):
        eng = open_engine(tmp_path, clock, extra)
        engines.append(eng)
        return eng, keyplane.connect(engine=eng)

    yield make
    for eng in engines:
        eng.close()


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def replicate(kms_primary, key_id, region, **kw):
    return kms_primary.replicate_key(KeyId=key_id, ReplicaRegion=region, **kw)["ReplicaKeyMetadata"]


# ---- cryptography across Regions ------------------------------------------------------------------
def test_multi_region_ciphertext_decrypts_with_replica_on_another_store(regional):
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    assert key["KeyId"].startswith("mrk-") and len(key["KeyId"]) == 36
    replicate(east, key["KeyId"], WEST)
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"ledger", EncryptionContext={"t": "1"})["CiphertextBlob"]
    out = west.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})
    assert out["Plaintext"] == b"ledger"
    assert out["KeyId"] == key["Arn"].replace(EAST, WEST)
    # and the other way round
    back = west.encrypt(KeyId=key["KeyId"], Plaintext=b"reply")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=back)["Plaintext"] == b"reply"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "2"})
    assert code(err) == "InvalidCiphertextException"


def test_single_region_key_ciphertext_does_not_decrypt_in_another_region(regional):
    """A ciphertext of a key this Region does not hold is AccessDeniedException "The ciphertext
    refers to a customer master key that does not exist, does not exist in this region, or you are
    not allowed to access." (AWS's answer, quoted with its status 400 in Droplr/aws-env#29 and
    aws/aws-encryption-sdk-javascript#1005)."""
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key()["KeyMetadata"]
    assert "MultiRegionConfiguration" not in key and key["MultiRegion"] is False
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"local")["CiphertextBlob"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.decrypt(CiphertextBlob=blob)
    assert code(err) == "AccessDeniedException"
    assert "does not exist in this region" in err.value.response["Error"]["Message"]


def test_single_region_key_ciphertext_is_refused_in_another_region_of_the_same_store(kp):
    """A ciphertext of a key this Region does not hold is AccessDeniedException "The ciphertext
    refers to a customer master key that does not exist, does not exist in this region, or you are
    not allowed to access." (AWS's answer, quoted with its status 400 in Droplr/aws-env#29 and
    aws/aws-encryption-sdk-javascript#1005)."""
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key()["KeyMetadata"]
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"local")["CiphertextBlob"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.decrypt(CiphertextBlob=blob)
    assert code(err) == "AccessDeniedException"
    assert "does not exist in this region" in err.value.response["Error"]["Message"]


def test_replica_material_is_sealed_under_the_replica_store_root_key(regional, tmp_path):
    eng, kp = regional()
    east = kp.client("kms", region=EAST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    replica_arn = key["Arn"].replace(EAST, WEST)
    west_store, east_store = eng.store_for(WEST), eng.store_for(EAST)
    assert west_store is not east_store
    with west_store.read() as conn:
        rows = list(conn.execute(materials_table.select().where(materials_table.c.key_arn == replica_arn)))
    assert [r.material_id for r in rows] == [key["CurrentKeyMaterialId"]]
    sealed, mid = rows[0].sealed, rows[0].material_id
    secret = eng.root_key_for(west_store).unseal(sealed, material_aad(replica_arn, mid))
    assert len(secret) == 32
    with pytest.raises(RootKeyError):
        eng.root_key_for(east_store).unseal(sealed, material_aad(replica_arn, mid))
    eng.close()
    assert secret not in (tmp_path / "west.db").read_bytes() + (tmp_path / "east.db").read_bytes()
    assert (tmp_path / "west.root.key").read_bytes() != (tmp_path / "east.root.key").read_bytes()


# ---- ReplicateKey -------------------------------------------------------------------------------
def test_replica_starts_creating_then_is_enabled_with_its_own_policy_tags_and_description(regional):
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True, Description="primary",
                          Tags=[{"TagKey": "team", "TagValue": "ledger"}])["KeyMetadata"]
    out = east.replicate_key(KeyId=key["Arn"], ReplicaRegion=WEST, Description="replica",
                             Tags=[{"TagKey": "site", "TagValue": "dublin"}])
    md = out["ReplicaKeyMetadata"]
    assert md["KeyState"] == "Creating" and md["Enabled"] is False
    assert md["KeyId"] == key["KeyId"] and md["Arn"] == key["Arn"].replace(EAST, WEST)
    assert md["Description"] == "replica"
    assert out["ReplicaTags"] == [{"TagKey": "site", "TagValue": "dublin"}]
    assert '"Enable IAM User Permissions"' in out["ReplicaPolicy"]
    now = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert now["KeyState"] == "Enabled" and now["Enabled"] is True
    assert west.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "site", "TagValue": "dublin"}]
    assert east.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "ledger"}]
    # CloudTrail: ReplicateKey in the primary's Region, CreateKey in the replica's
    assert eng.audit.query(eng.store_for(EAST), event_name="ReplicateKey")[0]["awsRegion"] == EAST
    created = eng.audit.query(eng.store_for(WEST), event_name="CreateKey")
    assert [e["resources"][0]["ARN"] for e in created] == [md["Arn"]]


def test_second_replica_in_a_region_is_already_exists(regional):
    _, kp = regional()
    east = kp.client("kms", region=EAST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    for region in (WEST, EAST):
        with pytest.raises(botocore.exceptions.ClientError) as err:
            replicate(east, key["KeyId"], region)
        assert code(err) == "AlreadyExistsException"
    assert len(east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"]) == 1


def test_a_replica_in_a_region_at_the_key_quota_is_limit_exceeded(regional, monkeypatch):
    """A replica is a customer managed key of its Region and counts against that Region's 100,000
    (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html); ReplicateKey's
    reference lists LimitExceededException. No replica is made and the primary lists none."""
    from keyplane.engine.kms import records
    monkeypatch.setattr(records, "MAX_CUSTOMER_KEYS", 1)
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    west.create_key()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, key["KeyId"], WEST)
    assert code(err) == "LimitExceededException"
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []
    assert len(west.list_keys()["Keys"]) == 1


def test_replicas_and_single_region_keys_cannot_be_replicated(regional):
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(west, key["KeyId"], AP)
    assert code(err) == "UnsupportedOperationException"
    single = east.create_key()["KeyMetadata"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, single["KeyId"], WEST)
    assert code(err) == "UnsupportedOperationException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.describe_key(KeyId=single["KeyId"])
    assert code(err) == "NotFoundException"


def test_disabled_primary_cannot_be_replicated_and_nothing_is_created(regional):
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    east.disable_key(KeyId=key["KeyId"])
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, key["KeyId"], WEST)
    assert code(err) == "DisabledException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.describe_key(KeyId=key["KeyId"])
    assert code(err) == "NotFoundException"


def test_custom_key_store_cannot_hold_a_multi_region_key(kms):
    with pytest.raises(botocore.exceptions.ClientError) as err:
        kms.create_key(MultiRegion=True, CustomKeyStoreId="cks-1234567890abcdef0")
    assert code(err) in ("UnsupportedOperationException", "CustomKeyStoreNotFoundException")
    assert kms.list_keys()["Keys"] == []


# ---- DescribeKey --------------------------------------------------------------------------------
def test_describe_key_multi_region_configuration_of_primary_and_replicas(regional):
    _, kp = regional()
    east = kp.client("kms", region=EAST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    assert key["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": key["Arn"], "Region": EAST},
        "ReplicaKeys": [],
    }
    replicate(east, key["KeyId"], WEST)
    replicate(east, key["KeyId"], AP)
    arn = lambda r: key["Arn"].replace(EAST, r)  # noqa: E731
    replicas = [{"Arn": arn(WEST), "Region": WEST}, {"Arn": arn(AP), "Region": AP}]
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Arn": key["Arn"], "Region": EAST},
        "ReplicaKeys": replicas}
    for region in (WEST, AP):
        md = kp.client("kms", region=region).describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        assert md["MultiRegion"] is True and md["Arn"] == arn(region)
        assert md["MultiRegionConfiguration"] == {
            "MultiRegionKeyType": "REPLICA", "PrimaryKey": {"Arn": key["Arn"], "Region": EAST},
            "ReplicaKeys": replicas}
    # the model's shape, member for member
    import botocore.session
    shape = botocore.session.get_session().get_service_model("kms").shape_for("MultiRegionConfiguration")
    assert set(md["MultiRegionConfiguration"]) == set(shape.members)


# ---- independent per key -------------------------------------------------------------------------
def test_enabled_state_aliases_and_description_are_per_key(regional):
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True, Description="p")["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    east.create_alias(AliasName="alias/ledger", TargetKeyId=key["KeyId"])
    west.create_alias(AliasName="alias/ledger", TargetKeyId=key["KeyId"])
    west.update_key_description(KeyId=key["KeyId"], Description="dublin copy")
    west.disable_key(KeyId=key["KeyId"])
    blob = east.encrypt(KeyId="alias/ledger", Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.decrypt(CiphertextBlob=blob)
    assert code(err) == "DisabledException"
    assert east.describe_key(KeyId="alias/ledger")["KeyMetadata"]["Description"] == "p"
    west.enable_key(KeyId=key["KeyId"])
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    assert [a["AliasArn"] for a in west.list_aliases(KeyId=key["KeyId"])["Aliases"]] == [
        f"arn:aws:kms:{WEST}:{key['AWSAccountId']}:alias/ledger"]


# ---- UpdatePrimaryRegion -------------------------------------------------------------------------
def test_update_primary_region_swaps_primary_and_replica_everywhere(regional):
    eng, kp = regional()
    east, west, ap = (kp.client("kms", region=r) for r in (EAST, WEST, AP))
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    replicate(east, key["KeyId"], AP)
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    arn = lambda r: key["Arn"].replace(EAST, r)  # noqa: E731
    want_replicas = [{"Arn": arn(EAST), "Region": EAST}, {"Arn": arn(AP), "Region": AP}]
    for client, kind in ((east, "REPLICA"), (west, "PRIMARY"), (ap, "REPLICA")):
        md = client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        assert md["KeyState"] == "Enabled"
        assert md["MultiRegionConfiguration"] == {
            "MultiRegionKeyType": kind, "PrimaryKey": {"Arn": arn(WEST), "Region": WEST},
            "ReplicaKeys": want_replicas}
    assert ap.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
    # the new primary replicates; the old one no longer can
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, key["KeyId"], "us-west-2")
    assert code(err) == "UnsupportedOperationException"
    replicate(west, key["KeyId"], "us-west-2")
    assert kp.client("kms", region="us-west-2").decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"


def test_update_primary_region_keys_are_updating_yet_usable_until_it_commits(regional, monkeypatch):
    from keyplane.engine.kms import multi_region
    finished = []
    monkeypatch.setattr(multi_region, "finish_transient", lambda *a: finished.append(a))
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    monkeypatch.undo()
    replicate(east, key["KeyId"], WEST)
    monkeypatch.setattr(multi_region, "finish_transient", lambda *a: finished.append(a))
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    assert {a[1] for a in finished} == {EAST, WEST}
    for client in (east, west):
        assert client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Updating"
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"during")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"during"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.disable_key(KeyId=key["KeyId"])
    assert code(err) == "KMSInvalidStateException"


def test_scheduler_finishes_keys_left_updating(regional, monkeypatch, clock):
    from keyplane.engine.kms import multi_region
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    real = multi_region.finish_transient
    monkeypatch.setattr(multi_region, "finish_transient", lambda *a: None)
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    monkeypatch.setattr(multi_region, "finish_transient", real)
    eng.run_due()
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_update_primary_region_needs_a_replica_in_that_region(regional):
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    with pytest.raises(botocore.exceptions.ClientError) as err:
        east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=AP)
    assert code(err) == "NotFoundException"
    # on a replica, while the primary is alive: refused, as in AWS
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    assert code(err) == "UnsupportedOperationException"
    single = east.create_key()["KeyMetadata"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        east.update_primary_region(KeyId=single["KeyId"], PrimaryRegion=WEST)
    assert code(err) == "UnsupportedOperationException"
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"


# ---- deletion ------------------------------------------------------------------------------------
def test_primary_with_replicas_waits_in_pending_replica_deletion(regional, clock):
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    out = east.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=10)
    assert out["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in out
    md = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingReplicaDeletion" and "DeletionDate" not in md
    assert md["PendingDeletionWindowInDays"] == 10
    with pytest.raises(botocore.exceptions.ClientError) as err:
        east.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert code(err) == "KMSInvalidStateException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, key["KeyId"], AP)
    assert code(err) == "KMSInvalidStateException"
    # the replica still works, and is deleted on its own window
    blob = west.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    west.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    clock.advance(days=7)
    eng.run_due()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.decrypt(CiphertextBlob=blob)
    assert code(err) == "AccessDeniedException"     # the key no longer exists
    md = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion"
    assert md["DeletionDate"] == clock.now()  + timedelta(days=10)
    assert md["MultiRegionConfiguration"]["ReplicaKeys"] == []
    clock.advance(days=10)
    eng.run_due()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        east.describe_key(KeyId=key["KeyId"])
    assert code(err) == "NotFoundException"


def test_cancelled_primary_deletion_leaves_it_disabled_with_its_replicas(regional):
    _, kp = regional()
    east = kp.client("kms", region=EAST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    east.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    east.cancel_key_deletion(KeyId=key["KeyId"])
    md = east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "Disabled"
    assert [r["Region"] for r in md["MultiRegionConfiguration"]["ReplicaKeys"]] == [WEST]


# ---- synchronisation -----------------------------------------------------------------------------
def _rotate_primary(eng, region, key_id):
    """New material on the primary the way a rotation makes it (lifecycle owns the operation)."""
    from keyplane.engine.core import Call
    from keyplane.engine.kms import specs
    from keyplane.engine.kms.model import add_material, get_key, key_arn, save_key
    from keyplane.engine.registry import OperationSpec
    store = eng.store_for(region)
    call = Call(eng, eng.context(region=region), OperationSpec("kms", "RotateKeyOnDemand", None, False), store, {})
    with store.write() as conn:
        key = get_key(call, key_arn(region, "111122223333", key_id))
        conn.execute(materials_table.update().where(materials_table.c.key_arn == key.arn)
                     .values(state="NON_CURRENT"))
        key.current_material_id = add_material(call, key, specs.SPECS["SYMMETRIC_DEFAULT"].generate(),
                                               rotation_type="ON_DEMAND")
        key.rotation_enabled, key.rotation_period_days = True, 180
        save_key(call, key)
    return key.current_material_id


def test_new_primary_material_and_rotation_settings_reach_every_replica(regional):
    eng, kp = regional()
    east, west, ap = (kp.client("kms", region=r) for r in (EAST, WEST, AP))
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    replicate(east, key["KeyId"], AP)
    old = east.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    new_id = _rotate_primary(eng, EAST, key["KeyId"])
    new = east.encrypt(KeyId=key["KeyId"], Plaintext=b"new")
    assert east.decrypt(CiphertextBlob=new["CiphertextBlob"])["KeyMaterialId"] == new_id
    for client, region in ((west, WEST), (ap, AP)):
        assert client.decrypt(CiphertextBlob=new["CiphertextBlob"])["Plaintext"] == b"new"
        assert client.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
        mine = client.encrypt(KeyId=key["KeyId"], Plaintext=b"r")["CiphertextBlob"]
        assert east.decrypt(CiphertextBlob=mine)["KeyMaterialId"] == new_id
        with eng.store_for(region).read() as conn:
            row = conn.execute(keys_table.select().where(keys_table.c.key_id == key["KeyId"],
                                                          keys_table.c.region == region)).first()
        assert (row.rotation_enabled, row.rotation_period_days) == (True, 180)
        events = eng.audit.query(eng.store_for(region), event_name="SynchronizeMultiRegionKey")
        assert events and events[0]["eventType"] == "AwsServiceEvent"
        assert "key_material" in events[0]["serviceEventDetails"]["synchronized"]


def test_scheduler_brings_a_replica_that_missed_a_change_up_to_date(regional, monkeypatch, clock):
    from keyplane.engine.kms import multi_region_sync
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    monkeypatch.setattr(multi_region_sync, "synchronize", lambda *a: 0)   # the push is lost
    _rotate_primary(eng, EAST, key["KeyId"])
    monkeypatch.undo()
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"late")["CiphertextBlob"]
    with pytest.raises(botocore.exceptions.ClientError):
        west.decrypt(CiphertextBlob=blob)
    assert eng.run_due()["kms.multi-region"] >= 1
    eng.cache.clear()
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"late"
    # in step: a sweep writes nothing; sweeps run once an hour of the engine's clock
    events = len(eng.audit.query(eng.store_for(WEST), event_name="SynchronizeMultiRegionKey"))
    clock.advance(seconds=3601)
    assert eng.run_due()["kms.multi-region"] == 0
    assert len(eng.audit.query(eng.store_for(WEST), event_name="SynchronizeMultiRegionKey")) == events
    monkeypatch.setattr(multi_region_sync, "synchronize", lambda *a: 0)
    _rotate_primary(eng, EAST, key["KeyId"])
    monkeypatch.undo()
    clock.advance(seconds=61)
    assert eng.run_due()["kms.multi-region"] == 0        # nothing known to have failed: no retry
    clock.advance(seconds=3600)
    assert eng.run_due()["kms.multi-region"] == 1        # the hourly sweep finds it


def test_a_push_that_failed_is_retried_within_a_minute(regional, monkeypatch, clock):
    from keyplane.engine.kms import multi_region_sync
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    eng.run_due()                                          # the first sweep
    real = multi_region_sync._sync_replica

    def down(*a):
        raise OSError("the replica Region's store is unreachable")
    monkeypatch.setattr(multi_region_sync, "_sync_replica", down)
    _rotate_primary(eng, EAST, key["KeyId"])
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"retry")["CiphertextBlob"]
    clock.advance(seconds=61)
    assert eng.run_due()["kms.multi-region"] == 0          # still down: kept for the next retry
    monkeypatch.setattr(multi_region_sync, "_sync_replica", real)
    assert eng.run_due()["kms.multi-region"] == 0          # too soon
    clock.advance(seconds=61)
    assert eng.run_due()["kms.multi-region"] == 1
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"retry"


# ---- Regions as failure domains ------------------------------------------------------------------
def test_destroyed_primary_region_every_ciphertext_decrypts_in_replica_and_replica_becomes_primary(
        regional, tmp_path):
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    made = []
    for i in range(5):
        ctx = {"order": str(i)}
        made.append((east.encrypt(KeyId=key["KeyId"], Plaintext=b"p%d" % i, EncryptionContext=ctx)["CiphertextBlob"],
                     ctx, b"p%d" % i))
    dk = east.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    made.append((dk["CiphertextBlob"], None, dk["Plaintext"]))
    eng.close()
    for path in region_files(tmp_path, "east"):
        if path.exists():
            path.unlink()
    assert not (tmp_path / "east.db").exists() and not (tmp_path / "east.root.key").exists()

    eng2, kp2 = regional()
    east, west = kp2.client("kms", region=EAST), kp2.client("kms", region=WEST)
    for blob, ctx, plaintext in made:
        kwargs = {"EncryptionContext": ctx} if ctx else {}
        assert west.decrypt(CiphertextBlob=blob, **kwargs)["Plaintext"] == plaintext
    # the primary's Region knows nothing of the key any more
    with pytest.raises(botocore.exceptions.ClientError) as err:
        east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    assert code(err) == "NotFoundException"
    # fail-over: in the replica's Region, naming itself
    west.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    md = west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "Enabled"
    assert md["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY", "PrimaryKey": {"Arn": md["Arn"], "Region": WEST}, "ReplicaKeys": []}
    # and the lost Region can be given a replica again, which decrypts the old ciphertexts
    replicate(west, key["KeyId"], EAST)
    for blob, ctx, plaintext in made:
        kwargs = {"EncryptionContext": ctx} if ctx else {}
        assert east.decrypt(CiphertextBlob=blob, **kwargs)["Plaintext"] == plaintext
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"] == "REPLICA"


def test_unreachable_replica_store_does_not_stop_the_other_regions(regional, tmp_path):
    eng, kp = regional()
    east = kp.client("kms", region=EAST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    replicate(east, key["KeyId"], AP)
    eng.close()
    for path in region_files(tmp_path, "ap"):
        if path.exists():
            path.unlink()
    (tmp_path / "ap.db").mkdir()            # the Region's store cannot be opened at all

    eng2, kp2 = regional()
    east, west = kp2.client("kms", region=EAST), kp2.client("kms", region=WEST)
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"still")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"still"
    east.update_key_description(KeyId=key["KeyId"], Description="changed while ap is down")
    replicate(east, key["KeyId"], "us-west-2")
    assert kp2.client("kms", region="us-west-2").decrypt(CiphertextBlob=blob)["Plaintext"] == b"still"
    eng2.run_due()                          # no exception: the other stores' work is done
    regions = [r["Region"] for r in east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
               ["MultiRegionConfiguration"]["ReplicaKeys"]]
    assert regions == [WEST, AP, "us-west-2"]     # ap may come back: it stays in the set
    assert [r["Region"] for r in west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
            ["MultiRegionConfiguration"]["ReplicaKeys"]] == regions
    with pytest.raises(botocore.exceptions.ClientError) as err:
        kp2.client("kms", region=AP).decrypt(CiphertextBlob=blob)
    assert code(err) == "KMSInternalException"
    shutil.rmtree(tmp_path / "ap.db")


def test_postgresql_store_as_a_replica_region(postgres_url, regional):
    eng, kp = regional({WEST: {"state": postgres_url, "root_key": _key_file(postgres_url)}})
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    assert eng.store_for(WEST).dialect == "postgresql"
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"pg")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"pg"
    east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"] == "PRIMARY"


def _key_file(url: str) -> str:
    """A root key file of its own for the PostgreSQL Region (0600, as `keyplane init` makes)."""
    import tempfile
    from keyplane.engine.sealing import create_key_file
    path = os.path.join(tempfile.mkdtemp(), "pg.root.key")
    create_key_file(path)
    return path


def test_regions_yaml_in_the_state_folder_puts_each_region_on_its_own_store(tmp_path, clock):
    state = tmp_path / "state"
    state.mkdir()
    (state / "regions.yaml").write_text(f"{WEST}: west\n{AP}:\n  state: sqlite:///{tmp_path}/ap.db\n")
    eng = Engine(str(state), clock=clock)
    try:
        kp = keyplane.connect(engine=eng)
        east = kp.client("kms", region=EAST)
        key = east.create_key(MultiRegion=True)["KeyMetadata"]
        replicate(east, key["KeyId"], WEST)
        replicate(east, key["KeyId"], AP)
        assert eng.store_for(WEST).path == str(state / "west" / "state.db")
        assert eng.store_for(AP).path == f"{tmp_path}/ap.db"
        assert eng.store_for("us-west-2") is eng.store_for(EAST)        # not named: the default store
        assert (state / "west" / "state.root.key").exists() and (tmp_path / "ap.root.key").exists()
        blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"yaml")["CiphertextBlob"]
        assert kp.client("kms", region=AP).decrypt(CiphertextBlob=blob)["Plaintext"] == b"yaml"
    finally:
        eng.close()


def test_replica_policy_is_checked_like_create_key_and_a_refused_one_creates_nothing(regional):
    import json
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    locked_out = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/reader"},
        "Action": "kms:Decrypt", "Resource": "*"}]})
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, key["KeyId"], WEST, Policy=locked_out)
    assert code(err) == "MalformedPolicyDocumentException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.describe_key(KeyId=key["KeyId"])
    assert code(err) == "NotFoundException"
    assert east.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []
    out = east.replicate_key(KeyId=key["KeyId"], ReplicaRegion=WEST, Policy=locked_out,
                             BypassPolicyLockoutSafetyCheck=True)
    assert json.loads(out["ReplicaPolicy"]) == json.loads(locked_out)
    assert "Enable IAM User Permissions" in east.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]


def test_asymmetric_and_hmac_multi_region_keys_work_across_regions(regional):
    _, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    signing = east.create_key(MultiRegion=True, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    md = replicate(east, signing["KeyId"], WEST)
    assert (md["KeySpec"], md["KeyUsage"]) == ("ECC_NIST_P256", "SIGN_VERIFY")
    assert md["SigningAlgorithms"] == signing["SigningAlgorithms"]
    sig = east.sign(KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert west.verify(KeyId=signing["KeyId"], Message=b"m", Signature=sig,
                       SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    assert west.get_public_key(KeyId=signing["KeyId"])["PublicKey"] == \
        east.get_public_key(KeyId=signing["KeyId"])["PublicKey"]
    mac_key = east.create_key(MultiRegion=True, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    replicate(east, mac_key["KeyId"], WEST)
    mac = west.generate_mac(KeyId=mac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert east.verify_mac(KeyId=mac_key["KeyId"], Message=b"m", Mac=mac,
                           MacAlgorithm="HMAC_SHA_256")["MacValid"] is True


def _offers(*operations):
    from keyplane.engine import services
    missing = [op for op in operations if services.lookup("kms", op) is None]
    return pytest.mark.skipif(bool(missing), reason=f"the engine does not offer {', '.join(missing)} yet")


@_offers("EnableKeyRotation", "GetKeyRotationStatus", "RotateKeyOnDemand")
def test_rotation_is_set_on_the_primary_and_its_material_reaches_replicas(regional, clock):
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    east.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    primary_status = east.get_key_rotation_status(KeyId=key["KeyId"])
    status = west.get_key_rotation_status(KeyId=key["KeyId"])       # the shared setting, synchronised
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 180
    assert status["NextRotationDate"] == primary_status["NextRotationDate"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.enable_key_rotation(KeyId=key["KeyId"])
    assert code(err) == "UnsupportedOperationException"
    old = east.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    east.rotate_key_on_demand(KeyId=key["KeyId"])
    new = east.encrypt(KeyId=key["KeyId"], Plaintext=b"new")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=new)["Plaintext"] == b"new"
    assert west.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert east.decrypt(CiphertextBlob=new)["KeyMaterialId"] != east.decrypt(CiphertextBlob=old)["KeyMaterialId"]
    # automatic rotation: the primary rotates, the replica follows and never rotates on its own
    clock.advance(days=181)
    eng.run_due()
    later = east.encrypt(KeyId=key["KeyId"], Plaintext=b"later")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=later)["Plaintext"] == b"later"
    rotations = [r["KeyMaterialId"] for r in east.list_key_rotations(KeyId=key["KeyId"])["Rotations"]]
    assert len(rotations) == 2
    with eng.store_for(WEST).read() as conn:
        replica_materials = {r.material_id for r in conn.execute(materials_table.select().where(
            materials_table.c.key_arn == key["Arn"].replace(EAST, WEST)))}
    assert replica_materials == {key["CurrentKeyMaterialId"], *rotations}


@pytest.mark.parametrize("state", ["file", "memory"])
def test_regions_sharing_one_store_replicate_swap_and_delete(tmp_path, clock, state):
    eng = Engine(str(tmp_path / "state") if state == "file" else "memory", clock=clock)
    try:
        kp = keyplane.connect(engine=eng)
        east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
        assert eng.store_for(EAST) is eng.store_for(WEST)
        key = east.create_key(MultiRegion=True)["KeyMetadata"]
        replicate(east, key["KeyId"], WEST)
        blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"shared")["CiphertextBlob"]
        assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
        east.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)
        assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"][
            "MultiRegionKeyType"] == "PRIMARY"
        assert west.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)["KeyState"] == \
            "PendingReplicaDeletion"
        east.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
        clock.advance(days=7)
        eng.run_due()
        assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
        clock.advance(days=7)
        eng.run_due()
        assert east.list_keys()["Keys"] == [] and west.list_keys()["Keys"] == []
    finally:
        eng.close()


def _import(kms, key_id, material):
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    public = serialization.load_der_public_key(params["PublicKey"])
    wrapped = public.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()),
                                                    algorithm=hashes.SHA256(), label=None))
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")


@_offers("GetParametersForImport", "ImportKeyMaterial")
def test_imported_material_replica_accepts_only_the_same_material_then_decrypts(regional):
    eng, kp = regional()
    east, west = kp.client("kms", region=EAST), kp.client("kms", region=WEST)
    key = east.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]
    material = os.urandom(32)
    _import(east, key["KeyId"], material)
    md = replicate(east, key["KeyId"], WEST)
    assert md["Origin"] == "EXTERNAL" and md["KeyState"] == "Creating"
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"imported")["CiphertextBlob"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        west.decrypt(CiphertextBlob=blob)
    assert code(err) in ("KMSInvalidStateException", "InvalidCiphertextException")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        _import(west, key["KeyId"], os.urandom(32))                  # not the primary's material
    assert code(err) == "IncorrectKeyMaterialException"
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    _import(west, key["KeyId"], material)
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"
    eng.run_due()                       # synchronising leaves the replica's own import alone
    eng.cache.clear()
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"
    assert eng.audit.query(eng.store_for(WEST), event_name="SynchronizeMultiRegionKey") == []


def test_key_policy_can_limit_replica_regions_with_kms_replica_region(regional):
    import json
    _, kp = regional()
    east = kp.client("kms", region=EAST)
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "only Europe", "Effect": "Deny", "Principal": "*", "Action": "kms:ReplicateKey",
         "Resource": "*", "Condition": {"StringNotEquals": {"kms:ReplicaRegion": WEST}}}]}
    key = east.create_key(MultiRegion=True, Policy=json.dumps(policy))["KeyMetadata"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(east, key["KeyId"], AP)
    assert code(err) == "AccessDeniedException"
    assert replicate(east, key["KeyId"], WEST)["KeyId"] == key["KeyId"]
    with pytest.raises(botocore.exceptions.ClientError) as err:
        kp.client("kms", region=AP).describe_key(KeyId=key["KeyId"])
    assert code(err) == "NotFoundException"


def test_a_primary_back_after_a_fail_over_rejoins_as_a_replica_of_the_new_primary(regional, tmp_path, clock):
    eng, kp = regional()
    ap = kp.client("kms", region=AP)
    key = ap.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(ap, key["KeyId"], WEST)
    before = ap.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]
    eng.close()
    aside = tmp_path / "ap-aside"
    aside.mkdir()
    for path in region_files(tmp_path, "ap"):
        if path.exists():
            path.rename(aside / path.name)
    (tmp_path / "ap.db").mkdir()          # the store is unreachable, not lost

    eng2, kp2 = regional()
    west = kp2.client("kms", region=WEST)
    with pytest.raises(botocore.exceptions.ClientError):
        kp2.client("kms", region=AP).describe_key(KeyId=key["KeyId"])
    west.update_primary_region(KeyId=key["KeyId"], PrimaryRegion=WEST)       # fail-over
    _rotate_primary(eng2, WEST, key["KeyId"])                                # the set moves on
    after = west.encrypt(KeyId=key["KeyId"], Plaintext=b"after")["CiphertextBlob"]
    eng2.close()
    (tmp_path / "ap.db").rmdir()
    for path in aside.iterdir():
        path.rename(tmp_path / path.name)

    eng3, kp3 = regional()
    ap, west = kp3.client("kms", region=AP), kp3.client("kms", region=WEST)
    eng3.run_due()
    eng3.cache.clear()
    arn = lambda r: key["Arn"].replace(AP, r)  # noqa: E731
    assert ap.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "REPLICA", "PrimaryKey": {"Arn": arn(WEST), "Region": WEST},
        "ReplicaKeys": [{"Arn": arn(AP), "Region": AP}]}
    assert west.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"][
        "ReplicaKeys"] == [{"Arn": arn(AP), "Region": AP}]
    assert ap.decrypt(CiphertextBlob=after)["Plaintext"] == b"after"       # the new material reached it
    assert west.decrypt(CiphertextBlob=before)["Plaintext"] == b"before"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        replicate(ap, key["KeyId"], EAST)
    assert code(err) == "UnsupportedOperationException"


def test_engine_starts_and_serves_other_regions_when_us_east_1_store_cannot_be_opened(regional, tmp_path):
    _, kp = regional()
    east = kp.client("kms", region=EAST)
    key = east.create_key(MultiRegion=True)["KeyMetadata"]
    replicate(east, key["KeyId"], WEST)
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"east down")["CiphertextBlob"]
    kp.engine.close()
    for path in region_files(tmp_path, "east"):
        if path.exists():
            path.unlink()
    (tmp_path / "east.db").mkdir()
    eng2, kp2 = regional()
    assert kp2.client("kms", region=WEST).decrypt(CiphertextBlob=blob)["Plaintext"] == b"east down"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        kp2.client("kms", region=EAST).list_keys()
    assert code(err) == "KMSInternalException"
    eng2.run_due()


def test_replicate_key_needs_create_key_in_the_replica_region_too(clock):
    from keyplane.engine.identity import Identities

    def user(name, *actions):
        return {"name": name, "policies": [{"name": "kms", "document": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": list(actions), "Resource": "*"}]}}]}
    identities = Identities({"version": 1, "accounts": [{"id": "111122223333", "users": [
        user("replicator", "kms:ReplicateKey", "kms:DescribeKey"),
        user("builder", "kms:ReplicateKey", "kms:DescribeKey", "kms:CreateKey")]}]})
    eng = Engine("memory", identities=identities, clock=clock)
    try:
        owner = keyplane.connect(engine=eng).client("kms", region=EAST)
        key = owner.create_key(MultiRegion=True)["KeyMetadata"]

        def client(name):
            return keyplane.connect(engine=eng, principal=f"arn:aws:iam::111122223333:user/{name}").client(
                "kms", region=EAST)
        with pytest.raises(botocore.exceptions.ClientError) as err:
            replicate(client("replicator"), key["KeyId"], WEST)
        assert code(err) == "AccessDeniedException" and "kms:CreateKey" in str(err.value)
        assert owner.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []
        assert replicate(client("builder"), key["KeyId"], WEST)["Arn"] == key["Arn"].replace(EAST, WEST)
    finally:
        eng.close()
