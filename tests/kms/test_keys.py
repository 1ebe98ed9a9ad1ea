"""KMS keys through a real boto3 client in-process: create, describe, list, describe-shapes,
enable/disable, deletion windows on the injected clock, and the key-state errors."""
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError


def code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def message(exc_info):
    return exc_info.value.response["Error"]["Message"]


def test_create_key_returns_every_field_aws_returns_for_a_symmetric_key(kms):
    md = kms.create_key(Description="orders", Tags=[{"TagKey": "team", "TagValue": "orders"}])["KeyMetadata"]
    assert set(md) == {"AWSAccountId", "KeyId", "Arn", "CreationDate", "Enabled", "Description", "KeyUsage",
                       "KeyState", "Origin", "KeyManager", "CustomerMasterKeySpec", "KeySpec",
                       "EncryptionAlgorithms", "MultiRegion", "CurrentKeyMaterialId"}
    assert md["Arn"] == f"arn:aws:kms:us-east-1:{md['AWSAccountId']}:key/{md['KeyId']}"
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True
    assert md["KeySpec"] == md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT" and md["Origin"] == "AWS_KMS" and md["KeyManager"] == "CUSTOMER"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and md["MultiRegion"] is False
    assert len(md["CurrentKeyMaterialId"]) == 64 and int(md["CurrentKeyMaterialId"], 16) >= 0
    assert kms.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "orders"}]


def test_describe_key_accepts_id_arn_alias_name_and_alias_arn(kms):
    md = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=md["KeyId"])
    alias_arn = md["Arn"].replace(f"key/{md['KeyId']}", "alias/app")
    for ref in (md["KeyId"], md["Arn"], "alias/app", alias_arn):
        assert kms.describe_key(KeyId=ref)["KeyMetadata"]["KeyId"] == md["KeyId"]


def test_describe_missing_key_is_not_found_with_aws_message(kms):
    missing = "11111111-2222-3333-4444-555555555555"
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=missing)
    assert code(e) == "NotFoundException"
    assert message(e) == f"Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId="alias/nope")
    assert code(e) == "NotFoundException"
    assert message(e) == "Alias arn:aws:kms:us-east-1:111122223333:alias/nope is not found."


def test_key_in_another_region_is_not_visible(kp):
    east, west = kp.client("kms", region="us-east-1"), kp.client("kms", region="eu-west-1")
    key = east.create_key()["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        west.describe_key(KeyId=key["KeyId"])
    assert code(e) == "NotFoundException"
    assert key["KeyId"] not in [k["KeyId"] for k in west.list_keys()["Keys"]]


def test_list_keys_paginates_with_marker(kms):
    ids = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    seen, marker, pages = [], None, 0
    while True:
        kwargs = {"Limit": 2, **({"Marker": marker} if marker else {})}
        page = kms.list_keys(**kwargs)
        pages += 1
        seen += [k["KeyId"] for k in page["Keys"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
    assert set(seen) == ids and len(seen) == 5 and pages == 3


def test_list_keys_with_garbage_marker_is_invalid_marker(kms):
    with pytest.raises(ClientError) as e:
        kms.list_keys(Marker="!!!not-a-marker!!!")
    assert code(e) == "InvalidMarkerException"


def test_update_key_description(kms):
    key = kms.create_key(Description="old")["KeyMetadata"]["KeyId"]
    kms.update_key_description(KeyId=key, Description="new")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "new"


def test_management_operations_refuse_alias_names(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/mgmt", TargetKeyId=key)
    with pytest.raises(ClientError) as e:
        kms.disable_key(KeyId="alias/mgmt")
    assert code(e) == "InvalidArnException"
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_disabled_key_refuses_crypto_with_disabled_exception_and_enable_restores(kms):
    md = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=md["KeyId"])
    meta = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and meta["Enabled"] is False
    for call in (lambda: kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x"),
                 lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")):
        with pytest.raises(ClientError) as e:
            call()
        assert code(e) == "DisabledException"
        assert message(e) == f"{md['Arn']} is disabled."
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    kms.enable_key(KeyId=md["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_schedule_deletion_defaults_to_30_days_and_cancel_leaves_key_disabled(kms, clock):
    md = kms.create_key()["KeyMetadata"]
    out = kms.schedule_key_deletion(KeyId=md["KeyId"])
    assert out["KeyId"] == md["Arn"] and out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 30
    assert out["DeletionDate"] == clock.now() + timedelta(days=30)
    meta = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion" and meta["PendingDeletionWindowInDays"] == 30
    assert meta["DeletionDate"] == out["DeletionDate"]
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert code(e) == "KMSInvalidStateException" and message(e) == f"{md['Arn']} is pending deletion."
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    assert code(e) == "KMSInvalidStateException"
    assert kms.cancel_key_deletion(KeyId=md["KeyId"])["KeyId"] == md["Arn"]
    meta = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert meta["KeyState"] == "Disabled" and "DeletionDate" not in meta
    with pytest.raises(ClientError) as e:
        kms.cancel_key_deletion(KeyId=md["KeyId"])
    assert code(e) == "KMSInvalidStateException"


@pytest.mark.parametrize("days", [6, 31])
def test_pending_window_outside_7_to_30_is_validation_error_and_changes_nothing(kms, days):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=days)
    assert code(e) == "ValidationException"
    assert message(e).startswith(f"1 validation error detected: Value '{days}' at 'pendingWindowInDays'")
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Enabled"


def test_key_is_deleted_when_the_clock_passes_its_window(engine, kms, clock):
    md = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/doomed", TargetKeyId=md["KeyId"])
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    clock.advance(days=6, hours=23)
    engine.run_due()
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    clock.advance(hours=2)
    assert engine.run_due()["kms.delete-keys"] == 1
    with pytest.raises(ClientError) as e:
        kms.describe_key(KeyId=md["KeyId"])
    assert code(e) == "NotFoundException"
    assert "alias/doomed" not in [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    events = engine.audit.query(engine.store_for("us-east-1"), event_name="DeleteKey")
    assert events and events[0]["eventType"] == "AwsServiceEvent"
    assert events[0]["resources"][0]["ARN"] == md["Arn"]


def test_cancelled_deletion_is_not_executed(engine, kms, clock):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    kms.cancel_key_deletion(KeyId=key)
    clock.advance(days=8)
    engine.run_due()
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"] == "Disabled"


def test_unsupported_key_spec_is_refused_and_creates_nothing(kms):
    before = len(kms.list_keys()["Keys"])
    with pytest.raises(ClientError) as e:
        kms.create_key(KeySpec="SYMMETRIC_DEFAULT", CustomerMasterKeySpec="RSA_2048")
    assert code(e) == "ValidationException"
    assert len(kms.list_keys()["Keys"]) == before
