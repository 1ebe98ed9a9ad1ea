"""The resources pulumi-aws users reach for to manage one part of a key or secret on its own —
KeyPolicy, SecretPolicy, SecretRotation, SecretVersion — through the real plugin protocol, and the
refusal of a program that declares the same part on the Key / Secret too."""
from __future__ import annotations

import base64
import json

import pulumi
import pytest

from harness import Engine, ForwardingMocks, ProviderProcess, observer
from keyplane.resources.key import KeyProvider
from keyplane.resources.key_policy import KeyPolicyProvider
from keyplane.resources.secret import SecretProvider
from keyplane.resources.secret_policy import SecretPolicyProvider
from keyplane.resources.secret_rotation import SecretRotationProvider
from keyplane.resources.secret_version import SecretVersionProvider

ACCOUNT = "111122223333"
READER = f"arn:aws:iam::{ACCOUNT}:role/reader"
KEY, KEY_POLICY, SECRET = "keyplane:Key", "keyplane:KeyPolicy", "keyplane:Secret"
SECRET_POLICY, ROTATION, VERSION = "keyplane:SecretPolicy", "keyplane:SecretRotation", "keyplane:SecretVersion"


@pytest.fixture(scope="module")
def process(tmp_path_factory):
    state = str(tmp_path_factory.mktemp("parts") / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as proc:
        proc.state = state
        yield proc


@pytest.fixture
def engine(process):
    return Engine(process, config={"keyplane:state": process.state, "keyplane:region": "us-east-1"})


@pytest.fixture
def conn(process):
    return observer(process.state)


def key_policy(*extra):
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"}, *extra]}


def test_key_policy_sets_updates_and_on_delete_puts_back_the_default(engine, conn):
    """aws.kms.KeyPolicy (https://www.pulumi.com/registry/packages/aws/api-docs/kms/keypolicy/);
    the default key policy it goes back to is KMS's for keys created by the API
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    kms = conn.client("kms", region="us-east-1")
    key = engine.up(KeyProvider(), "k", {}, KEY).id
    default = json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
    reader = {"Sid": "reader", "Effect": "Allow", "Principal": {"AWS": READER}, "Action": "kms:Decrypt",
              "Resource": "*"}
    step = engine.up(KeyPolicyProvider(), "p", {"key_id": key, "policy": key_policy(reader)}, KEY_POLICY)
    assert step.id == key
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == key_policy(reader)
    assert engine.up(KeyPolicyProvider(), "p", {"key_id": key, "policy": key_policy(reader)}, KEY_POLICY).op == "same"
    assert engine.up(KeyPolicyProvider(), "p", {"key_id": key, "policy": key_policy()}, KEY_POLICY).op == "update"
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == key_policy()
    engine.destroy("p", KEY_POLICY)
    assert json.loads(kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"]) == default
    # the Key, declaring no policy, shows no change for what the KeyPolicy did
    assert engine.up(KeyProvider(), "k", {}, KEY).op == "same"


def test_secret_policy_puts_and_deletes_the_resource_policy(engine, conn):
    """aws.secretsmanager.SecretPolicy
    (https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secretpolicy/)."""
    sm = conn.client("secretsmanager", region="us-east-1")
    arn = engine.up(SecretProvider(), "s", {"name": "parts/policy", "secret_string": "v",
                                            "recovery_window_in_days": 0}, SECRET).id
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": READER},
                                                      "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}
    step = engine.up(SecretPolicyProvider(), "sp", {"secret_arn": arn, "policy": policy}, SECRET_POLICY)
    assert step.id == arn
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == policy
    assert engine.up(SecretProvider(), "s", {"name": "parts/policy", "secret_string": "v",
                                             "recovery_window_in_days": 0}, SECRET).op == "same"
    _, found, _ = engine.preview(SecretPolicyProvider(), "open", {"secret_arn": arn, "policy": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                                "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}},
        SECRET_POLICY)
    assert found == [("policy", "policy: grants broad access to the secret (set block_public_policy=False to allow)")]
    engine.destroy("sp", SECRET_POLICY)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    engine.destroy("s", SECRET)


def test_secret_rotation_turns_rotation_on_changes_it_and_off(engine, conn):
    """aws.secretsmanager.SecretRotation with rotation_lambda_arn (keyplane's rotator) and
    rotation_rules (https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secretrotation/)."""
    sm = conn.client("secretsmanager", region="us-east-1")
    arn = engine.up(SecretProvider(), "s", {"name": "parts/rotation", "secret_string": "v",
                                            "recovery_window_in_days": 0}, SECRET).id
    rotator = "https://rotator.example/hook"   # never called: rotate_immediately=False
    declared = {"secret_id": arn, "rotation_lambda_arn": rotator,
                "rotation_rules": {"automatically_after_days": 30}, "rotate_immediately": False}
    step = engine.up(SecretRotationProvider(), "r", declared, ROTATION)
    assert step.outputs["rotator"] == step.outputs["rotation_lambda_arn"] == rotator
    assert step.outputs["rotation_enabled"] is True
    d = sm.describe_secret(SecretId=arn)
    assert d["RotationEnabled"] and d["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert engine.up(SecretRotationProvider(), "r", declared, ROTATION).op == "same"
    changed = {**declared, "rotation_rules": {"schedule_expression": "rate(10 days)"}}
    assert engine.up(SecretRotationProvider(), "r", changed, ROTATION).op == "update"
    assert sm.describe_secret(SecretId=arn)["RotationRules"]["ScheduleExpression"] == "rate(10 days)"
    _, found, _ = engine.preview(SecretRotationProvider(), "bad", {**declared, "rotation_rules": {}}, ROTATION)
    assert found and found[0][0] == "rotation_rules"
    engine.destroy("r", ROTATION)
    assert not sm.describe_secret(SecretId=arn).get("RotationEnabled")
    engine.destroy("s", SECRET)


def test_secret_rotation_of_a_managed_external_secret(engine, conn):
    """aws.secretsmanager.SecretRotation's external_secret_rotation_metadatas [{key, value}] and
    external_secret_rotation_role_arn, in the place of rotation_lambda_arn, for a secret with a
    partner `type`; read back as declared; a rotator and a role at once is refused.
    https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secretrotation/
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"""
    sm = conn.client("secretsmanager", region="us-east-1")
    arn = engine.up(SecretProvider(), "s", {"name": "parts/mes", "type": "SalesforceClientSecret",
                                            "secret_string": "{}", "recovery_window_in_days": 0}, SECRET).id
    role = f"arn:aws:iam::{ACCOUNT}:role/mes-rotation"
    metadata = [{"key": "apiVersion", "value": "v65.0"}]
    declared = {"secret_id": arn, "external_secret_rotation_role_arn": role,
                "external_secret_rotation_metadatas": metadata,
                "rotation_rules": {"automatically_after_days": 30}, "rotate_immediately": False}
    step = engine.up(SecretRotationProvider(), "r", declared, ROTATION)
    assert step.outputs["external_secret_rotation_metadatas"] == metadata
    assert step.outputs["external_secret_rotation_role_arn"] == role
    d = sm.describe_secret(SecretId=arn)
    assert d["ExternalSecretRotationMetadata"] == [{"Key": "apiVersion", "Value": "v65.0"}]
    assert d["ExternalSecretRotationRoleArn"] == role and d["RotationEnabled"]
    assert engine.up(SecretRotationProvider(), "r", declared, ROTATION).op == "same"
    changed = {**declared, "external_secret_rotation_metadatas": [{"key": "apiVersion", "value": "v66.0"}]}
    assert engine.up(SecretRotationProvider(), "r", changed, ROTATION).op == "update"
    assert sm.describe_secret(SecretId=arn)["ExternalSecretRotationMetadata"][0]["Value"] == "v66.0"
    _, found, _ = engine.preview(SecretRotationProvider(), "bad", {**declared, "rotator": "https://x.example/h"},
                                 ROTATION)
    assert found
    engine.destroy("r", ROTATION)
    engine.destroy("s", SECRET)


def test_secret_version_string_binary_stages_and_delete(engine, conn):
    """aws.secretsmanager.SecretVersion: secret_string / secret_binary (base64), version_stages;
    id `arn|versionId`; on delete AWSCURRENT stays where it is
    (https://www.pulumi.com/registry/packages/aws/api-docs/secretsmanager/secretversion/)."""
    sm = conn.client("secretsmanager", region="us-east-1")
    arn = engine.up(SecretProvider(), "s", {"name": "parts/version", "recovery_window_in_days": 0}, SECRET).id
    v1 = engine.up(SecretVersionProvider(), "v1", {"secret_id": arn, "secret_string": "one"}, VERSION)
    assert v1.id == f"{arn}|{v1.outputs['version_id']}" and v1.outputs["version_stages"] == ["AWSCURRENT"]
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "one"
    blob = base64.b64encode(b"\x00\x01two").decode()
    v2 = engine.up(SecretVersionProvider(), "v2", {"secret_id": arn, "secret_binary": blob,
                                                    "version_stages": ["blue"]}, VERSION)
    assert v2.outputs["secret_binary"] == blob
    assert sm.get_secret_value(SecretId=arn, VersionStage="blue")["SecretBinary"] == b"\x00\x01two"
    # moving AWSCURRENT to v2 in place takes it from v1 (AWSPREVIOUS goes to v1, as AWS does)
    step = engine.up(SecretVersionProvider(), "v2", {"secret_id": arn, "secret_binary": blob,
                                                      "version_stages": ["blue", "AWSCURRENT"]}, VERSION)
    assert step.op == "update"
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert sorted(stages[v2.outputs["version_id"]]) == ["AWSCURRENT", "blue"]
    assert engine.refresh("v1", VERSION)["version_stages"] == ["AWSPREVIOUS"]
    # a new value is a new version: replace
    assert engine.up(SecretVersionProvider(), "v1", {"secret_id": arn, "secret_string": "uno"}, VERSION).op == "replace"
    engine.destroy("v2", VERSION)
    stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
    assert "blue" not in sum(stages.values(), [])
    _, found, _ = engine.preview(SecretVersionProvider(), "v3", {"secret_id": arn}, VERSION)
    assert found == [("secret_string", "secret_string: 'secret_string' is a required property")]
    engine.destroy("s", SECRET)


# ---- both at once ------------------------------------------------------------------------------
def run(engine, program):
    mocks = ForwardingMocks(engine)
    pulumi.runtime.set_mocks(mocks, project="parts", stack="dev", preview=False)
    pulumi.runtime.test(program)()
    return mocks


def test_a_key_policy_on_a_key_that_declares_its_policy_fails_the_program(engine):
    import keyplane

    def program():
        key = keyplane.Key("both", policy=key_policy())
        keyplane.KeyPolicy("both", key_id=key.key_id, policy=key_policy())

    with pytest.raises(Exception) as failed:
        run(engine, program)
    assert (  # Pulumi prefixes the resource and input being processed
        "keyplane.KeyPolicy 'both' sets the policy of keyplane.Key 'both', which declares `policy` itself: "
        "declare it in one place, either `policy=` on the Key or a KeyPolicy (and no `policy` on it)"
    ) in str(failed.value)


def test_a_secret_version_on_a_secret_that_declares_its_value_fails_the_program(engine):
    import keyplane

    def program():
        secret = keyplane.Secret("both", name="parts/both", secret_string="a", recovery_window_in_days=0)
        keyplane.SecretVersion("both", secret_id=secret.arn, secret_string="b")

    with pytest.raises(Exception) as failed:
        run(engine, program)
    assert "keyplane.SecretVersion 'both' sets the secret_string of keyplane.Secret 'both'" in str(failed.value)


ROTATOR = "https://rotator.example/hook"   # never called: rotate_immediately is False


@pytest.mark.parametrize("part", ["policy", "rotation"])
def test_a_secret_policy_or_rotation_beside_the_secrets_own_fails_the_program(engine, part):
    """A secret has one resource policy (PutResourcePolicy replaces it,
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html) and
    one rotation configuration (RotateSecret sets it,
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html): declared
    on the Secret and as a SecretPolicy / SecretRotation, each `up` would undo the other; the
    program fails naming both, and the separate resource is never created."""
    import keyplane

    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": READER},
                                                      "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}

    def program():
        if part == "policy":
            secret = keyplane.Secret("twice", name="parts/twice-policy", secret_string="v", policy=policy,
                                     recovery_window_in_days=0)
            keyplane.SecretPolicy("twice", secret_arn=secret.arn, policy=policy)
        else:
            secret = keyplane.Secret("twice", name="parts/twice-rotation", secret_string="v", recovery_window_in_days=0,
                                     rotation={"rotator": ROTATOR, "automatically_after_days": 30,
                                               "rotate_immediately": False})
            keyplane.SecretRotation("twice", secret_id=secret.arn, rotation_lambda_arn=ROTATOR,
                                    rotation_rules={"automatically_after_days": 30}, rotate_immediately=False)

    with pytest.raises(Exception) as failed:
        run(engine, program)
    separate = {"policy": "SecretPolicy", "rotation": "SecretRotation"}[part]
    assert (f"keyplane.{separate} 'twice' sets the {part} of keyplane.Secret 'twice', which declares `{part}` "
            "itself: declare it in one place") in str(failed.value)


def test_separate_parts_on_a_secret_without_them_work_in_a_program(engine, conn):
    import keyplane

    def program():
        secret = keyplane.Secret("parts", name="parts/program", recovery_window_in_days=0)
        keyplane.SecretVersion("parts", secret_id=secret.arn, secret_string="from a version")
        keyplane.SecretPolicy("parts", secret_arn=secret.arn, policy={
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": READER},
                                                    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})

    mocks = run(engine, program)
    assert set(mocks.created) == {"Secret/parts", "SecretVersion/parts", "SecretPolicy/parts"}
    sm = conn.client("secretsmanager", region="us-east-1")
    assert sm.get_secret_value(SecretId="parts/program")["SecretString"] == "from a version"
    assert json.loads(sm.get_resource_policy(SecretId="parts/program")["ResourcePolicy"])["Statement"][0][
        "Principal"] == {"AWS": READER}
