"""Secrets Manager through real boto3 clients: values and labels, deletion windows on the injected
clock, Region replicas in their own stores, and what is (never) stored in plaintext."""
from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import botocore.exceptions
import pytest

import keyplane
from keyplane.engine.core import Engine


def _code(fn, *args, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        fn(*args, **kwargs)
    return exc.value.response["Error"]["Code"]


def test_put_secret_value_moves_current_and_previous(sm):
    v1 = sm.create_secret(Name="app/one", SecretString="one")["VersionId"]
    v2 = sm.put_secret_value(SecretId="app/one", SecretString="two")["VersionId"]
    v3 = sm.put_secret_value(SecretId="app/one", SecretString="three", VersionStages=["TEST"])["VersionId"]

    stages = sm.describe_secret(SecretId="app/one")["VersionIdsToStages"]
    assert stages == {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"], v3: ["TEST"]}
    assert sm.get_secret_value(SecretId="app/one")["SecretString"] == "two"
    assert sm.get_secret_value(SecretId="app/one", VersionStage="TEST")["SecretString"] == "three"

    sm.update_secret_version_stage(SecretId="app/one", VersionStage="AWSCURRENT", MoveToVersionId=v3,
                                   RemoveFromVersionId=v2)
    stages = sm.describe_secret(SecretId="app/one")["VersionIdsToStages"]
    assert stages == {v2: ["AWSPREVIOUS"], v3: ["TEST", "AWSCURRENT"]}    # v1 is now deprecated
    assert {v["VersionId"] for v in sm.list_secret_version_ids(SecretId="app/one")["Versions"]} == {v2, v3}
    assert len(sm.list_secret_version_ids(SecretId="app/one", IncludeDeprecated=True)["Versions"]) == 3


def test_moving_a_label_held_elsewhere_needs_remove_from_version_id(sm):
    v1 = sm.create_secret(Name="app/two", SecretString="a")["VersionId"]
    v2 = sm.put_secret_value(SecretId="app/two", SecretString="b", VersionStages=["X"])["VersionId"]
    assert _code(sm.update_secret_version_stage, SecretId="app/two", VersionStage="AWSCURRENT",
                 MoveToVersionId=v2) == "InvalidParameterException"
    assert sm.describe_secret(SecretId="app/two")["VersionIdsToStages"][v1] == ["AWSCURRENT"]


def test_same_token_same_value_is_idempotent_and_different_value_conflicts(sm):
    token = "a" * 32
    sm.create_secret(Name="app/three", SecretString="x")
    first = sm.put_secret_value(SecretId="app/three", SecretString="y", ClientRequestToken=token)
    again = sm.put_secret_value(SecretId="app/three", SecretString="y", ClientRequestToken=token)
    assert first["VersionId"] == again["VersionId"] == token
    assert _code(sm.put_secret_value, SecretId="app/three", SecretString="z",
                 ClientRequestToken=token) == "ResourceExistsException"
    assert sm.get_secret_value(SecretId="app/three")["SecretString"] == "y"


def test_secret_is_found_by_name_full_arn_and_partial_arn(sm):
    arn = sm.create_secret(Name="app/four", SecretBinary=b"\x00\x01")["ARN"]
    partial = arn.rsplit("-", 1)[0]
    for secret_id in ("app/four", arn, partial):
        assert sm.get_secret_value(SecretId=secret_id)["SecretBinary"] == b"\x00\x01"
    assert _code(sm.get_secret_value, SecretId="app/nope") == "ResourceNotFoundException"


def test_deleted_secret_is_restorable_within_its_window_and_gone_after(sm, engine, clock):
    arn = sm.create_secret(Name="app/deleted", SecretString="keep me")["ARN"]
    deletion = sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)["DeletionDate"]
    assert deletion == clock.now() + timedelta(days=7)
    assert _code(sm.get_secret_value, SecretId=arn) == "InvalidRequestException"
    assert "DeletedDate" in sm.describe_secret(SecretId=arn)
    assert sm.list_secrets()["SecretList"] == []
    assert len(sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]) == 1
    assert _code(sm.create_secret, Name="app/deleted", SecretString="x") == "InvalidRequestException"

    clock.advance(timedelta(days=6))
    engine.run_due()
    sm.restore_secret(SecretId=arn)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "keep me"

    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    clock.advance(timedelta(days=7, seconds=1))
    assert engine.run_due()["secretsmanager.delete-secrets"] == 1
    assert _code(sm.describe_secret, SecretId=arn) == "ResourceNotFoundException"
    assert _code(sm.restore_secret, SecretId=arn) == "ResourceNotFoundException"
    sm.create_secret(Name="app/deleted", SecretString="new")      # the name is free again


def test_delete_secret_rejects_a_window_outside_7_to_30_days_and_changes_nothing(sm):
    sm.create_secret(Name="app/window", SecretString="x")
    assert _code(sm.delete_secret, SecretId="app/window", RecoveryWindowInDays=6) == "InvalidParameterException"
    assert _code(sm.delete_secret, SecretId="app/window", RecoveryWindowInDays=7,
                 ForceDeleteWithoutRecovery=True) == "InvalidParameterException"
    assert sm.get_secret_value(SecretId="app/window")["SecretString"] == "x"
    sm.delete_secret(SecretId="app/window", ForceDeleteWithoutRecovery=True)
    assert _code(sm.describe_secret, SecretId="app/window") == "ResourceNotFoundException"


def test_every_version_is_encrypted_under_a_data_key_with_the_secret_context(sm, kp, engine):
    arn = sm.create_secret(Name="app/enc", SecretString="plaintext-marker-123")["ARN"]
    events = engine.audit.query(engine.store_for("us-east-1"), event_name="GenerateDataKey")
    assert events[0]["requestParameters"]["encryptionContext"]["SecretARN"] == arn
    assert events[0]["userIdentity"]["invokedBy"] == "secretsmanager.amazonaws.com"
    kms = kp.client("kms")
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases["alias/aws/secretsmanager"]                   # created on first use
    engine.audit.flush()
    raw = open(engine.store_for("us-east-1").path, "rb").read()
    assert b"plaintext-marker-123" not in raw


def test_disabled_key_makes_reads_fail_with_decryption_failure(sm, kp):
    kms = kp.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    sm.create_secret(Name="app/cmk", SecretString="v", KmsKeyId=key)
    kms.disable_key(KeyId=key)
    assert _code(sm.get_secret_value, SecretId="app/cmk") == "DecryptionFailure"
    assert _code(sm.put_secret_value, SecretId="app/cmk", SecretString="w") == "EncryptionFailure"


def test_get_random_password_honours_the_character_rules(sm):
    pw = sm.get_random_password(PasswordLength=40, ExcludePunctuation=True, ExcludeCharacters="abc")["RandomPassword"]
    assert len(pw) == 40 and pw.isalnum() and not set("abc") & set(pw)
    assert any(c.isdigit() for c in pw) and any(c.isupper() for c in pw)
    assert len(sm.get_random_password()["RandomPassword"]) == 32
    assert _code(sm.get_random_password, ExcludeNumbers=True, ExcludePunctuation=True, ExcludeUppercase=True,
                 ExcludeLowercase=True) == "InvalidParameterException"


def test_block_public_policy_refuses_a_policy_open_to_everyone(sm):
    sm.create_secret(Name="app/pol", SecretString="v")
    public = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                                 "Action": "secretsmanager:GetSecretValue",
                                                                 "Resource": "*"}]})
    assert _code(sm.put_resource_policy, SecretId="app/pol", ResourcePolicy=public,
                 BlockPublicPolicy=True) == "PublicPolicyException"
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId="app/pol")
    assert _code(sm.put_resource_policy, SecretId="app/pol", ResourcePolicy='{"Statement": 1}') \
        == "MalformedPolicyDocumentException"
    checked = sm.validate_resource_policy(ResourcePolicy=public)
    assert checked["PolicyValidationPassed"] is False
    assert checked["ValidationErrors"][0]["CheckName"] == "BROAD_ACCESS_CHECK"


def test_list_secrets_filters_and_paginates(sm):
    for i in range(5):
        sm.create_secret(Name=f"team/a{i}", SecretString="v", Tags=[{"Key": "env", "Value": "prod" if i % 2 else "dev"}])
    sm.create_secret(Name="other/b", SecretString="v")
    names = [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "name", "Values": ["team/"]}])["SecretList"]]
    assert sorted(names) == [f"team/a{i}" for i in range(5)]
    prod = sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["prod"]}])["SecretList"]
    assert sorted(s["Name"] for s in prod) == ["team/a1", "team/a3"]
    page = sm.list_secrets(MaxResults=4)
    rest = sm.list_secrets(MaxResults=4, NextToken=page["NextToken"])
    assert len(page["SecretList"]) == 4 and len(rest["SecretList"]) == 2 and "NextToken" not in rest
    assert _code(sm.list_secrets, NextToken="garbage") == "InvalidNextTokenException"


def test_replica_follows_the_primary_and_becomes_writable_after_promotion(tmp_path, clock):
    engine = Engine(str(tmp_path / "state"), clock=clock, regions={"eu-west-1": str(tmp_path / "eu")})
    try:
        kp = keyplane.connect(engine=engine)
        primary, replica = kp.client("secretsmanager", "us-east-1"), kp.client("secretsmanager", "eu-west-1")
        eu_key = kp.client("kms", "eu-west-1").create_key()["KeyMetadata"]["Arn"]
        arn = primary.create_secret(Name="shared/db", SecretString="v1",
                                    AddReplicaRegions=[{"Region": "eu-west-1", "KmsKeyId": eu_key}])["ARN"]
        replica_arn = arn.replace("us-east-1", "eu-west-1")
        assert primary.describe_secret(SecretId=arn)["ReplicationStatus"][0]["Status"] == "InSync"
        assert replica.get_secret_value(SecretId="shared/db")["SecretString"] == "v1"
        assert replica.describe_secret(SecretId="shared/db")["PrimaryRegion"] == "us-east-1"
        # re-encrypted in its own Region under its own key, and stored in its own database
        versions = replica.list_secret_version_ids(SecretId=replica_arn)["Versions"]
        assert versions[0]["KmsKeyIds"] == [eu_key]
        eu_db = sqlite3.connect(str(tmp_path / "eu" / "state.db"))
        assert eu_db.execute("SELECT count(*) FROM sm_secrets WHERE arn = ?", (replica_arn,)).fetchone()[0] == 1

        v2 = primary.put_secret_value(SecretId=arn, SecretString="v2")["VersionId"]
        got = replica.get_secret_value(SecretId=replica_arn)
        assert (got["SecretString"], got["VersionId"]) == ("v2", v2)
        assert replica.get_secret_value(SecretId=replica_arn, VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
        assert _code(replica.put_secret_value, SecretId=replica_arn, SecretString="no") == "InvalidRequestException"
        assert _code(replica.rotate_secret, SecretId=replica_arn,
                     RotationLambdaARN="python:sample_rotators:rotate_token") == "InvalidRequestException"
        rotated = primary.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:rotate_token")
        got = replica.get_secret_value(SecretId=replica_arn)                  # rotation reaches the replica
        assert got["VersionId"] == rotated["VersionId"] and got["SecretString"].startswith("token-")
        assert replica.describe_secret(SecretId=replica_arn)["VersionIdsToStages"] == \
            primary.describe_secret(SecretId=arn)["VersionIdsToStages"]
        primary.put_secret_value(SecretId=arn, SecretString="v2")
        assert _code(primary.delete_secret, SecretId=arn) == "InvalidRequestException"

        replica.stop_replication_to_replica(SecretId=replica_arn)

        replica.put_secret_value(SecretId=replica_arn, SecretString="eu-only")
        assert replica.get_secret_value(SecretId=replica_arn)["SecretString"] == "eu-only"
        assert primary.get_secret_value(SecretId=arn)["SecretString"] == "v2"
        assert "ReplicationStatus" not in primary.describe_secret(SecretId=arn)
        assert "PrimaryRegion" not in replica.describe_secret(SecretId=replica_arn)
        primary.put_secret_value(SecretId=arn, SecretString="v3")
        assert replica.get_secret_value(SecretId=replica_arn)["SecretString"] == "eu-only"
    finally:
        engine.close()


def test_remove_regions_from_replication_deletes_the_replica(tmp_path, clock):
    engine = Engine(str(tmp_path / "state"), clock=clock)
    try:
        kp = keyplane.connect(engine=engine)
        primary, replica = kp.client("secretsmanager", "us-east-1"), kp.client("secretsmanager", "us-west-2")
        arn = primary.create_secret(Name="r/x", SecretString="v")["ARN"]
        primary.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": "us-west-2"}])
        assert replica.get_secret_value(SecretId="r/x")["SecretString"] == "v"
        primary.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=["us-west-2"])
        assert _code(replica.describe_secret, SecretId="r/x") == "ResourceNotFoundException"
        primary.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    finally:
        engine.close()


def test_parameter_store_reference_returns_the_secret(sm, kp):
    arn = sm.create_secret(Name="db/creds", SecretString='{"password": "p1"}')["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString='{"password": "p2"}')
    ssm = kp.client("ssm")
    p = ssm.get_parameter(Name="/aws/reference/secretsmanager/db/creds", WithDecryption=True)["Parameter"]
    assert p["Value"] == '{"password": "p2"}' and p["Type"] == "SecureString" and p["ARN"] == arn
    assert json.loads(p["SourceResult"])["VersionStages"] == ["AWSCURRENT"]
    previous = ssm.get_parameter(Name="/aws/reference/secretsmanager/db/creds:AWSPREVIOUS", WithDecryption=True)
    assert previous["Parameter"]["Value"] == '{"password": "p1"}'
    assert _code(ssm.get_parameter, Name="/aws/reference/secretsmanager/db/creds") == "ValidationException"
    assert _code(ssm.get_parameter, Name="/aws/reference/secretsmanager/db/none",
                 WithDecryption=True) == "ParameterNotFound"


def test_batch_get_secret_value_returns_values_and_per_secret_errors(sm):
    a = sm.create_secret(Name="batch/a", SecretString="A")["ARN"]
    sm.create_secret(Name="batch/b", SecretString="B")
    out = sm.batch_get_secret_value(SecretIdList=[a, "batch/b", "batch/missing"])
    assert sorted(v["SecretString"] for v in out["SecretValues"]) == ["A", "B"]
    assert [(e["SecretId"], e["ErrorCode"]) for e in out["Errors"]] == [("batch/missing", "ResourceNotFoundException")]
    by_filter = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": ["batch/"]}])
    assert sorted(v["Name"] for v in by_filter["SecretValues"]) == ["batch/a", "batch/b"]
    assert _code(sm.batch_get_secret_value, SecretIdList=[a], Filters=[{"Key": "name", "Values": ["x"]}]) \
        == "InvalidParameterException"


def test_changing_the_key_encrypts_new_versions_under_it_and_old_ones_stay_readable(sm, kp):
    """UpdateSecret with a new KmsKeyId and a new value: the version that was AWSCURRENT (now
    AWSPREVIOUS) is re-encrypted under the new key too and keeps the old one
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_update-encryption-key.html)."""
    kms = kp.client("kms")
    first_key = kms.create_key()["KeyMetadata"]["Arn"]
    second_key = kms.create_key()["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name="app/rekey", SecretString="under-first", KmsKeyId=first_key)["ARN"]
    sm.update_secret(SecretId=arn, KmsKeyId=second_key, SecretString="under-second")
    versions = {v["VersionStages"][0]: v["KmsKeyIds"] for v in sm.list_secret_version_ids(SecretId=arn)["Versions"]}
    assert versions == {"AWSCURRENT": [second_key], "AWSPREVIOUS": [second_key, first_key]}
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] == second_key
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "under-first"
    kms.disable_key(KeyId=first_key)
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "under-second"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "under-first"


def test_a_key_change_reencrypts_the_labelled_versions_and_leaves_the_others(sm, kp):
    """"When you change the encryption key, Secrets Manager re-encrypts AWSCURRENT, AWSPENDING, and
    AWSPREVIOUS versions with the new key. To avoid locking you out of the secret, Secrets Manager
    keeps all existing versions encrypted with the previous key. That means you can decrypt
    AWSCURRENT, AWSPENDING, and AWSPREVIOUS versions with the previous key or the new key."
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_update-encryption-key.html
    A version with no label is not re-encrypted: only the old key opens it."""
    kms = kp.client("kms")
    old_key = kms.create_key()["KeyMetadata"]["Arn"]
    new_key = kms.create_key()["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name="app/rekey-labels", SecretString="v1", KmsKeyId=old_key)["ARN"]
    first = sm.list_secret_version_ids(SecretId=arn)["Versions"][0]["VersionId"]
    sm.put_secret_value(SecretId=arn, SecretString="v2")
    sm.put_secret_value(SecretId=arn, SecretString="v3")          # v1 keeps no label now
    sm.update_secret(SecretId=arn, KmsKeyId=new_key)
    keys = {v["VersionId"]: (v.get("VersionStages", []), v["KmsKeyIds"])
            for v in sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]}
    assert sorted(keys.values()) == sorted([([], [old_key]), (["AWSPREVIOUS"], [new_key, old_key]),
                                            (["AWSCURRENT"], [new_key, old_key])])
    kms.disable_key(KeyId=old_key)                                  # the new key opens the labelled ones
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "v3"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "v2"
    assert _code(sm.get_secret_value, SecretId=arn, VersionId=first) == "DecryptionFailure"
    kms.enable_key(KeyId=old_key)
    kms.disable_key(KeyId=new_key)                                  # and so does the previous key
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "v3"
    assert sm.get_secret_value(SecretId=arn, VersionId=first)["SecretString"] == "v1"


def test_without_kms_encrypt_on_the_new_key_existing_versions_are_not_reencrypted(sm, kp):
    """UpdateSecret, KmsKeyId: "If you don't have kms:Encrypt permission to the new key, Secrets
    Manager does not re-encrypt existing secret versions with the new key."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html
    The update itself succeeds and new versions go under the new key."""
    kms = kp.client("kms")
    old_key = kms.create_key()["KeyMetadata"]["Arn"]
    account = old_key.split(":")[4]
    no_encrypt = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "NotAction": "kms:Encrypt",
        "Resource": "*"}]})
    new_key = kms.create_key(Policy=no_encrypt)["KeyMetadata"]["Arn"]
    arn = sm.create_secret(Name="app/rekey-denied", SecretString="v1", KmsKeyId=old_key)["ARN"]
    sm.update_secret(SecretId=arn, KmsKeyId=new_key)
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] == new_key
    (only,) = sm.list_secret_version_ids(SecretId=arn)["Versions"]
    assert only["KmsKeyIds"] == [old_key]
    sm.put_secret_value(SecretId=arn, SecretString="v2")
    current = next(v for v in sm.list_secret_version_ids(SecretId=arn)["Versions"] if "AWSCURRENT" in v["VersionStages"])
    assert current["KmsKeyIds"] == [new_key]


def test_create_secret_retried_with_its_token_succeeds_and_a_new_token_conflicts(sm):
    token = "c" * 32
    first = sm.create_secret(Name="app/retry", SecretString="v", ClientRequestToken=token)
    again = sm.create_secret(Name="app/retry", SecretString="v", ClientRequestToken=token)
    assert again["ARN"] == first["ARN"] and again["VersionId"] == token
    assert _code(sm.create_secret, Name="app/retry", SecretString="v") == "ResourceExistsException"


def test_version_id_and_stage_must_name_the_same_version(sm):
    """Disagreeing VersionId and VersionStage is InvalidRequestException on AWS
    (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html)."""
    v1 = sm.create_secret(Name="app/pair", SecretString="a")["VersionId"]
    sm.put_secret_value(SecretId="app/pair", SecretString="b")
    assert sm.get_secret_value(SecretId="app/pair", VersionId=v1, VersionStage="AWSPREVIOUS")["SecretString"] == "a"
    assert _code(sm.get_secret_value, SecretId="app/pair", VersionId=v1,
                 VersionStage="AWSCURRENT") == "InvalidRequestException"
    assert _code(sm.get_secret_value, SecretId="app/pair", VersionId="f" * 32) == "ResourceNotFoundException"
