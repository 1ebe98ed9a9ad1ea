"""Secret and SecretAttachment through the real plugin protocol (`python -m pulumi.dynamic` over
gRPC), against the embedded engine, checked with an ordinary boto3 client."""
from __future__ import annotations

import json

import pytest

from harness import CheckFailed, Engine, ProviderProcess, observer
from keyplane.resources.secret import SecretProvider
from keyplane.resources.secret_attachment import SecretAttachmentProvider

ACCOUNT = "111122223333"
SECRET, ATTACHMENT = (f"pulumi-python:dynamic/keyplane:{t}" for t in ("Secret", "SecretAttachment"))


@pytest.fixture
def stack(tmp_path):
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        yield Engine(process), observer(state), tmp_path


def _policy(principal=f"arn:aws:iam::{ACCOUNT}:root"):
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "read", "Effect": "Allow", "Principal": {"AWS": principal},
         "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}


def test_secret_life_cycle_create_update_drift_delete(stack):
    engine, conn, tmp_path = stack
    sm = conn.client("secretsmanager", region="us-east-1")
    declared = {"name": "app/db", "description": "v1", "secret_string": "s3cr3t-value-1", "tags": {"team": "a"},
                "policy": _policy(), "recovery_window_in_days": 7}
    step = engine.up(SecretProvider(), "s", declared, SECRET)
    assert step.op == "create"
    arn = step.id
    assert arn.startswith(f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:app/db-")
    assert step.outputs["arn"] == arn and step.outputs["secret_string"] == "s3cr3t-value-1"
    assert sm.get_secret_value(SecretId="app/db")["SecretString"] == "s3cr3t-value-1"
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == _policy()
    assert engine.up(SecretProvider(), "s", {**declared, "policy": json.dumps(_policy())}, SECRET).op == "same"

    declared = {**declared, "description": "v2", "secret_string": "s3cr3t-value-2", "tags": {"team": "b"}}
    step = engine.up(SecretProvider(), "s", declared, SECRET)
    assert step.op == "update" and step.id == arn
    described = sm.describe_secret(SecretId=arn)
    assert described["Description"] == "v2" and described["Tags"] == [{"Key": "team", "Value": "b"}]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "s3cr3t-value-2"
    assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == "s3cr3t-value-1"

    sm.put_secret_value(SecretId=arn, SecretString="changed-outside")        # drift
    assert engine.refresh("s", SECRET)["secret_string"] == "changed-outside"
    assert engine.up(SecretProvider(), "s", declared, SECRET).op == "update"
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "s3cr3t-value-2"

    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)                    # deleted outside Pulumi
    assert engine.refresh("s", SECRET)["deleted_date"]
    assert engine.up(SecretProvider(), "s", declared, SECRET).op == "update"
    assert "DeletedDate" not in sm.describe_secret(SecretId=arn)

    engine.destroy("s", SECRET)
    assert "DeletedDate" in sm.describe_secret(SecretId=arn)                  # with its window
    # the value never reaches the state file's plaintext or the provider's pickled blob
    assert b"s3cr3t-value-2" not in open(tmp_path / "state" / "state.db", "rb").read()


def test_secret_generated_value_is_a_secret_output_built_from_the_template(stack):
    engine, conn, _ = stack
    sm = conn.client("secretsmanager", region="us-east-1")
    declared = {"name": "app/gen", "generate_secret_string": {
        "password_length": 24, "exclude_punctuation": True,
        "secret_string_template": json.dumps({"username": "app"}), "generate_string_key": "password"}}
    step = engine.up(SecretProvider(), "g", declared, SECRET)
    value = json.loads(step.outputs["secret_string"])
    assert value["username"] == "app" and len(value["password"]) == 24 and value["password"].isalnum()
    assert json.loads(sm.get_secret_value(SecretId="app/gen")["SecretString"]) == value
    assert engine.up(SecretProvider(), "g", declared, SECRET).op == "same"     # not regenerated


def test_secret_check_rejects_bad_policy_public_policy_and_bad_rotation(stack):
    engine, _, _ = stack
    with pytest.raises(CheckFailed) as failed:
        engine.up(SecretProvider(), "p", {"name": "x", "policy": {"Statement": "nope"}}, SECRET)
    assert failed.value.failures[0][0] == "policy"
    public = _policy("*")
    with pytest.raises(CheckFailed) as failed:
        engine.up(SecretProvider(), "p", {"name": "x", "policy": public}, SECRET)
    assert "broad access" in failed.value.failures[0][1]
    with pytest.raises(CheckFailed) as failed:
        engine.up(SecretProvider(), "p", {"name": "x", "rotation": {
            "rotator": "keyplane:postgres-single-user", "schedule_expression": "rate(1 hours)"}}, SECRET)
    assert failed.value.failures[0][0] == "rotation"
    with pytest.raises(CheckFailed):
        engine.up(SecretProvider(), "p", {"name": "x", "secret_string": "a",
                                          "generate_secret_string": {}}, SECRET)


def test_secret_replicas_are_added_and_removed_in_place(stack):
    engine, conn, _ = stack
    declared = {"name": "app/rep", "secret_string": "v", "replicas": [{"region": "eu-west-1"}],
                "recovery_window_in_days": 0}
    arn = engine.up(SecretProvider(), "r", declared, SECRET).id
    eu = conn.client("secretsmanager", region="eu-west-1")
    assert eu.get_secret_value(SecretId="app/rep")["SecretString"] == "v"
    step = engine.up(SecretProvider(), "r", {**declared, "replicas": [{"region": "us-west-2"}]}, SECRET)
    assert step.op == "update" and step.id == arn
    assert conn.client("secretsmanager", region="us-west-2").get_secret_value(SecretId="app/rep")["SecretString"] == "v"
    with pytest.raises(Exception):
        eu.describe_secret(SecretId="app/rep")
    engine.destroy("r", SECRET)                                      # replicas go first, then the secret
    with pytest.raises(Exception):
        conn.client("secretsmanager", region="us-east-1").describe_secret(SecretId=arn)


def test_secret_attachment_merges_and_removes_the_connection_fields(stack):
    engine, conn, _ = stack
    sm = conn.client("secretsmanager", region="us-east-1")
    arn = engine.up(SecretProvider(), "s", {"name": "app/att", "secret_string": json.dumps(
        {"username": "app", "password": "pw", "extra": 1})}, SECRET).id
    target = {"identifier": "orders-db", "host": "db.internal", "port": 5433, "dbname": "orders"}
    step = engine.up(SecretAttachmentProvider(), "a", {"secret_id": arn, "target_type": "AWS::RDS::DBInstance",
                                                       "target": target}, ATTACHMENT)
    assert step.id == arn and step.outputs["secret_arn"] == arn
    value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert value == {"username": "app", "password": "pw", "extra": 1, "engine": "postgres", "host": "db.internal",
                     "port": 5433, "dbname": "orders", "dbInstanceIdentifier": "orders-db"}
    assert engine.up(SecretAttachmentProvider(), "a", {"secret_id": arn, "target_type": "AWS::RDS::DBInstance",
                                                       "target": target}, ATTACHMENT).op == "same"

    with pytest.raises(Exception) as failed:     # one attachment per secret
        engine.up(SecretAttachmentProvider(), "b", {"secret_id": arn, "target_type": "AWS::RDS::DBCluster",
                                                    "target": {"identifier": "other", "host": "h"}}, ATTACHMENT)
    assert "already attached" in str(failed.value)

    engine.up(SecretAttachmentProvider(), "a", {"secret_id": arn, "target_type": "AWS::RDS::DBInstance",
                                                "target": {**target, "host": "db2.internal"}}, ATTACHMENT)
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])["host"] == "db2.internal"
    engine.destroy("a", ATTACHMENT)
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == {"username": "app", "password": "pw", "extra": 1}


def test_secret_string_given_as_plain_text_is_registered_as_a_secret_input():
    import pulumi
    from pulumi.runtime import rpc
    from pulumi.runtime.mocks import MockMonitor

    import keyplane

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            return f"{args.name}-id", args.inputs

        def call(self, args):
            return {}

    class Monitor(MockMonitor):
        registered = {}

        def RegisterResource(self, request):
            Monitor.registered[request.name] = request
            return super().RegisterResource(request)

    mocks = Mocks()
    pulumi.runtime.set_mocks(mocks, project="p", stack="s", preview=False, monitor=Monitor(mocks))
    pulumi.runtime.test(lambda: keyplane.Secret("plain", name="app/plain", secret_string="clear-text-value") and None)()
    value = Monitor.registered["plain"].object.fields["secret_string"]
    assert value.struct_value.fields[rpc._special_sig_key].string_value == rpc._special_secret_sig
    assert sorted(Monitor.registered["plain"].additionalSecretOutputs) == ["secret_string"]


def test_secret_attachment_to_a_mysql_or_mariadb_target(stack):
    """AWS::SecretsManager::SecretTargetAttachment adds the database's connection fields to the
    secret and removes them when the attachment goes
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-secretsmanager-secrettargetattachment.html),
    in AWS's structure for RDS MySQL / MariaDB: engine mysql or mariadb, port 3306 when not given
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html).
    The defaults read back equal to what was declared, so a second `up` changes nothing."""
    engine, conn, _ = stack
    sm = conn.client("secretsmanager", region="us-east-1")
    arn = engine.up(SecretProvider(), "m", {"name": "app/maria", "secret_string": json.dumps(
        {"username": "app", "password": "pw"})}, SECRET).id
    inputs = {"secret_id": arn, "target_type": "mariadb", "target": {"identifier": "orders-maria", "host": "db.internal"}}
    engine.up(SecretAttachmentProvider(), "ma", inputs, ATTACHMENT)
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == {
        "username": "app", "password": "pw", "engine": "mariadb", "host": "db.internal", "port": 3306,
        "dbInstanceIdentifier": "orders-maria"}
    assert engine.up(SecretAttachmentProvider(), "ma", inputs, ATTACHMENT).op == "same"
    engine.destroy("ma", ATTACHMENT)
    assert json.loads(sm.get_secret_value(SecretId=arn)["SecretString"]) == {"username": "app", "password": "pw"}

    # an RDS instance target naming the mysql engine: the MySQL port, the database kept
    inputs = {"secret_id": arn, "target_type": "AWS::RDS::DBInstance",
              "target": {"identifier": "orders-my", "host": "my.internal", "engine": "mysql", "dbname": "orders"}}
    engine.up(SecretAttachmentProvider(), "my", inputs, ATTACHMENT)
    value = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
    assert (value["engine"], value["port"], value["dbname"]) == ("mysql", 3306, "orders")
    assert engine.up(SecretAttachmentProvider(), "my", inputs, ATTACHMENT).op == "same"
