"""keyplane.MultiRegionReplica through the real plugin protocol, and examples/multi_region run as a
Pulumi program (under `set_mocks`, every resource forwarded to the real provider process) with
each Region on its own store via the state folder's regions.yaml."""
from __future__ import annotations

import runpy

import pulumi
import pytest
from botocore.exceptions import ClientError

from harness import TREE, Engine, ForwardingMocks, ProviderCallFailed, ProviderProcess, observer
from keyplane.resources.multi_region_replica import MultiRegionReplicaProvider

ACCOUNT = "111122223333"
REPLICA = "pulumi-python:dynamic/keyplane:MultiRegionReplica"
PROGRAM = TREE / "examples" / "multi_region" / "__main__.py"
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]


@pytest.fixture
def stack(tmp_path):
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        yield Engine(process), observer(state)


def test_replica_life_cycle_create_update_drift_replace_delete(stack):
    engine, conn = stack
    east, west = conn.client("kms", region="us-east-1"), conn.client("kms", region="eu-west-1")
    primary = east.create_key(MultiRegion=True, Description="primary")["KeyMetadata"]
    declared = {"primary_key_arn": primary["Arn"], "region": "eu-west-1", "description": "dublin",
                "deletion_window_in_days": 7, "tags": {"site": "dub"}}
    step = engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA)
    assert step.op == "create" and step.id == primary["KeyId"]
    outs = step.outputs
    assert outs["key_id"] == primary["KeyId"]
    assert outs["arn"] == f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/{primary['KeyId']}"
    assert outs["key_state"] == "Enabled" and outs["enabled"] is True
    assert outs["multi_region_key_type"] == "REPLICA" and outs["primary_key_arn"] == primary["Arn"]
    meta = west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]
    assert meta["Description"] == "dublin"
    assert west.list_resource_tags(KeyId=primary["KeyId"])["Tags"] == [{"TagKey": "site", "TagValue": "dub"}]
    blob = east.encrypt(KeyId=primary["KeyId"], Plaintext=b"pay")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"pay"
    assert engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA).op == "same"

    # promoted outside Pulumi: still the same key of the same set, no replacement
    east.update_primary_region(KeyId=primary["KeyId"], PrimaryRegion="eu-west-1")
    outs = engine.refresh("r", REPLICA)
    assert outs["multi_region_key_type"] == "PRIMARY" and outs["primary_key_arn"] == primary["Arn"]
    west.update_primary_region(KeyId=primary["KeyId"], PrimaryRegion="us-east-1")
    assert engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA).op == "same"

    declared = {**declared, "description": "dublin v2", "enabled": False, "tags": {"site": "dub", "tier": "1"}}
    step = engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA)
    assert step.op == "update" and step.outputs["key_state"] == "Disabled"
    assert west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["Description"] == "dublin v2"
    assert east.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"  # per key

    west.enable_key(KeyId=primary["KeyId"])      # drift made outside Pulumi
    assert engine.refresh("r", REPLICA)["enabled"] is True
    step = engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA)
    assert step.op == "update" and step.outputs["enabled"] is False

    west.schedule_key_deletion(KeyId=primary["KeyId"], PendingWindowInDays=30)   # outside Pulumi
    assert engine.refresh("r", REPLICA)["key_state"] == "PendingDeletion"
    step = engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA)
    assert step.op == "update" and step.outputs["key_state"] == "Disabled"       # back, as declared

    moved = {**declared, "region": "ap-southeast-2"}
    step = engine.up(MultiRegionReplicaProvider(), "r", moved, REPLICA)
    assert step.op == "replace" and step.diff.replaces == ["region"]
    ap = conn.client("kms", region="ap-southeast-2")
    assert ap.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"  # as declared
    old = west.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]
    assert old["KeyState"] == "PendingDeletion"
    assert round((old["DeletionDate"] - old["CreationDate"]).total_seconds() / 86400) == 7

    engine.destroy("r", REPLICA)
    assert ap.describe_key(KeyId=primary["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_replica_in_the_primary_region_fails_check_and_creates_nothing(stack):
    engine, conn = stack
    east = conn.client("kms", region="us-east-1")
    primary = east.create_key(MultiRegion=True)["KeyMetadata"]
    _, failures, _ = engine.preview(MultiRegionReplicaProvider(), "r",
                                    {"primary_key_arn": primary["Arn"], "region": "us-east-1"}, REPLICA)
    assert [p for p, _ in failures] == ["region"]
    _, failures, _ = engine.preview(MultiRegionReplicaProvider(), "r",
                                    {"primary_key_arn": "arn:aws:kms:us-east-1:111122223333:key/1234",
                                     "region": "eu-west-1"}, REPLICA)
    assert [p for p, _ in failures] == ["primary_key_arn"]
    single = east.create_key()["KeyMetadata"]
    with pytest.raises(ProviderCallFailed) as err:
        engine.up(MultiRegionReplicaProvider(), "r",
                  {"primary_key_arn": single["Arn"].replace(single["KeyId"], "mrk-" + "0" * 32),
                   "region": "eu-west-1"}, REPLICA)
    assert "NotFoundException" in err.value.last_line
    with pytest.raises(ClientError):
        conn.client("kms", region="eu-west-1").describe_key(KeyId="mrk-" + "0" * 32)


# ---- examples/multi_region ---------------------------------------------------------------------
@pytest.fixture
def regional_stack(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # every Region but the primary's on a store (and root key) of its own
    (state / "regions.yaml").write_text("us-west-2: us-west-2\neu-west-1: eu-west-1\n"
                                        "ap-southeast-2: ap-southeast-2\n")
    config = {"keyplane:state": str(state), "keyplane:region": "us-east-1"}
    saved = pulumi.runtime.config.CONFIG.get()      # the program reads the stack config too
    pulumi.runtime.set_all_config(config)
    try:
        with ProviderProcess(config) as process:
            yield Engine(process, stack="dev"), state
    finally:
        pulumi.runtime.config.CONFIG.set(saved)


def run_program(engine, preview):
    mocks = ForwardingMocks(engine, preview=preview)
    pulumi.runtime.set_mocks(mocks, project="keyplane", stack="dev", preview=preview)
    results = []

    def program():
        outputs = runpy.run_path(str(PROGRAM))
        return outputs["cross_region_check"].apply(results.append)

    pulumi.runtime.test(program)()
    return mocks, results


def test_multi_region_example_preview_creates_nothing(regional_stack):
    engine, state = regional_stack
    mocks, _ = run_program(engine, preview=True)
    assert mocks.failures == {} and mocks.created == {}
    assert observer(str(state)).client("kms", region="us-east-1").list_keys()["Keys"] == []


def test_multi_region_example_up_replicates_to_three_regions_each_on_its_own_store(regional_stack):
    engine, state = regional_stack
    mocks, results = run_program(engine, preview=False)
    assert mocks.failures == {}
    assert set(mocks.created) == {"Key/payments"} | {f"MultiRegionReplica/payments-{r}" for r in REGIONS[1:]} | {
        f"Alias/payments-{r}" for r in REGIONS}
    assert results == ["12 cross-Region decryptions succeeded"]

    conn = observer(str(state))
    key_id = mocks.created["Key/payments"]["key_id"]
    primary_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    for region in REGIONS:
        kms = conn.client("kms", region=region)
        meta = kms.describe_key(KeyId="alias/payments")["KeyMetadata"]
        assert meta["KeyId"] == key_id and meta["KeyState"] == "Enabled"
        config = meta["MultiRegionConfiguration"]
        assert config["MultiRegionKeyType"] == ("PRIMARY" if region == "us-east-1" else "REPLICA")
        assert config["PrimaryKey"] == {"Arn": primary_arn, "Region": "us-east-1"}
        # replicas are created in parallel, so in no fixed order
        assert sorted(r["Region"] for r in config["ReplicaKeys"]) == sorted(REGIONS[1:])
    # each replica Region has its own store and root key in the state folder
    for region in REGIONS[1:]:
        assert (state / region / "state.db").exists() and (state / region / "state.root.key").exists()
    blob = conn.client("kms", region="ap-southeast-2").encrypt(
        KeyId="alias/payments", Plaintext=b"refund", EncryptionContext={"app": "payments"})["CiphertextBlob"]
    assert conn.client("kms", region="us-west-2").decrypt(
        CiphertextBlob=blob, EncryptionContext={"app": "payments"})["Plaintext"] == b"refund"


def test_replica_policy_is_its_own_updated_in_place_and_drift_is_put_right(stack):
    import json
    engine, conn = stack
    east, west = conn.client("kms", region="us-east-1"), conn.client("kms", region="eu-west-1")
    primary = east.create_key(MultiRegion=True)["KeyMetadata"]

    def policy(sid):
        return {"Version": "2012-10-17", "Statement": [{
            "Sid": sid, "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*", "Resource": "*"}]}
    declared = {"primary_key_arn": primary["Arn"], "region": "eu-west-1", "policy": policy("v1")}
    engine.up(MultiRegionReplicaProvider(), "r", declared, REPLICA)
    live = lambda c: json.loads(c.get_key_policy(KeyId=primary["KeyId"], PolicyName="default")["Policy"])  # noqa: E731
    assert live(west) == policy("v1") and live(east) != policy("v1")       # not the primary's
    step = engine.up(MultiRegionReplicaProvider(), "r", {**declared, "policy": policy("v2")}, REPLICA)
    assert step.op == "update" and step.id == primary["KeyId"] and live(west) == policy("v2")
    west.put_key_policy(KeyId=primary["KeyId"], PolicyName="default", Policy=json.dumps(policy("drift")))
    assert json.loads(engine.refresh("r", REPLICA)["policy"]) == policy("drift")
    step = engine.up(MultiRegionReplicaProvider(), "r", {**declared, "policy": policy("v2")}, REPLICA)
    assert step.op == "update" and live(west) == policy("v2")
