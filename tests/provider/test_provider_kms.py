"""Key, Alias and Grant through the real plugin protocol (`python -m pulumi.dynamic` over gRPC),
against the embedded engine, checked with an ordinary boto3 client from `keyplane.connect()`:
create, update in place, replace, drift seen by refresh and put right, delete."""
from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError
from pulumi.output import Unknown

from harness import Engine, ProviderCallFailed, ProviderProcess, observer
from keyplane.resources.alias import AliasProvider
from keyplane.resources.grant import GrantProvider
from keyplane.resources.key import KeyProvider

ACCOUNT = "111122223333"
READER = f"arn:aws:iam::{ACCOUNT}:role/reader"
KEY, ALIAS, GRANT = (f"pulumi-python:dynamic/keyplane:{t}" for t in ("Key", "Alias", "Grant"))


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"}, *statements]}


@pytest.fixture(scope="module")
def plugin():
    with ProviderProcess() as process:
        yield process


@pytest.fixture
def stack(tmp_path, plugin):
    state = str(tmp_path / "state")
    yield Engine(plugin, config={"keyplane:state": state, "keyplane:region": "us-east-1"}), observer(state)


def test_key_life_cycle_create_update_replace_drift_delete(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    declared = {"description": "v1", "deletion_window_in_days": 7, "tags": {"team": "a"}}
    step = engine.up(KeyProvider(), "k", declared, KEY)
    assert step.op == "create"
    key_id, outs = step.id, step.outputs
    assert outs["key_id"] == key_id and outs["arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    assert outs["key_state"] == "Enabled" and outs["region"] == "us-east-1"
    assert outs["key_spec"] == "SYMMETRIC_DEFAULT" and outs["key_usage"] == "ENCRYPT_DECRYPT"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Description"] == "v1" and meta["Enabled"]
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "a"}]
    assert engine.up(KeyProvider(), "k", declared, KEY).op == "same"

    declared = {**declared, "description": "v2", "is_enabled": False, "tags": {"team": "b", "env": "dev"}}
    step = engine.up(KeyProvider(), "k", declared, KEY)
    assert step.op == "update" and step.id == key_id and step.diff.replaces == []
    assert step.outputs["key_state"] == "Disabled" and step.outputs["description"] == "v2"
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["Description"] == "v2" and not meta["Enabled"]
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags == {"team": "b", "env": "dev"}

    declared = {**declared, "is_enabled": True, "region": "eu-west-1"}
    step = engine.up(KeyProvider(), "k", declared, KEY)
    assert step.op == "replace" and step.diff.replaces == ["region"] and step.order == ["create", "delete"]
    new_id = step.id
    assert step.outputs["arn"].startswith(f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/")
    old = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert old["KeyState"] == "PendingDeletion"
    assert round((old["DeletionDate"] - old["CreationDate"]).total_seconds() / 86400) == 7  # its window

    eu = conn.client("kms", region="eu-west-1")
    eu.disable_key(KeyId=new_id)  # drift made outside Pulumi
    outs = engine.refresh("k", KEY)
    assert outs["is_enabled"] is False and outs["key_state"] == "Disabled"
    step = engine.up(KeyProvider(), "k", declared, KEY)
    assert step.op == "update" and eu.describe_key(KeyId=new_id)["KeyMetadata"]["Enabled"]

    eu.schedule_key_deletion(KeyId=new_id, PendingWindowInDays=30)
    outs = engine.refresh("k", KEY)
    assert outs["key_state"] == "PendingDeletion" and outs["deletion_date"]
    step = engine.up(KeyProvider(), "k", declared, KEY)
    assert step.op == "update" and step.outputs["key_state"] == "Enabled"  # brought back

    last = engine.state[engine.urn(KEY, "k")]
    engine.destroy("k", KEY)
    meta = eu.describe_key(KeyId=new_id)["KeyMetadata"]
    assert meta["KeyState"] == "PendingDeletion"
    engine.process.delete(last.id, engine.urn(KEY, "k"), last.outputs)  # deleting again: a no-op
    assert eu.describe_key(KeyId=new_id)["KeyMetadata"]["DeletionDate"] == meta["DeletionDate"]


def test_key_spec_usage_and_multi_region_changes_replace_the_key(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    first = engine.up(KeyProvider(), "k", {}, KEY).id
    step = engine.up(KeyProvider(), "k", {"key_usage": "SIGN_VERIFY", "key_spec": "ECC_NIST_P256"}, KEY)
    assert step.op == "replace" and set(step.diff.replaces) == {"key_usage", "key_spec"}
    assert kms.describe_key(KeyId=step.id)["KeyMetadata"]["KeySpec"] == "ECC_NIST_P256"
    assert kms.describe_key(KeyId=first)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    step = engine.up(KeyProvider(), "k", {"key_usage": "SIGN_VERIFY", "customer_master_key_spec": "ECC_NIST_P256"}, KEY)
    assert step.op == "same"  # the older name of the same spec
    step = engine.up(KeyProvider(), "k", {"multi_region": True}, KEY)
    assert step.op == "replace" and "multi_region" in step.diff.replaces
    assert step.id.startswith("mrk-") and step.outputs["multi_region"] is True


def test_key_rotation_turns_on_and_off_in_place(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    step = engine.up(KeyProvider(), "k", {"enable_key_rotation": True, "rotation_period_in_days": 180}, KEY)
    key_id = step.id
    rotation = kms.get_key_rotation_status(KeyId=key_id)
    assert rotation["KeyRotationEnabled"] and rotation["RotationPeriodInDays"] == 180
    assert step.outputs["enable_key_rotation"] is True and step.outputs["rotation_period_in_days"] == 180
    step = engine.up(KeyProvider(), "k", {"enable_key_rotation": False}, KEY)
    assert step.op == "update" and step.id == key_id
    assert not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    kms.enable_key_rotation(KeyId=key_id)  # drift: refresh shows it, the next up undoes it
    assert engine.refresh("k", KEY)["enable_key_rotation"] is True
    assert engine.up(KeyProvider(), "k", {"enable_key_rotation": False}, KEY).op == "update"
    assert not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]


def test_key_policy_changes_in_place_and_drift_shows(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    key_id = engine.up(KeyProvider(), "k", {"policy": policy()}, KEY).id
    assert json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]) == policy()
    assert engine.up(KeyProvider(), "k", {"policy": json.dumps(policy())}, KEY).op == "same"

    reader = {"Sid": "reader", "Effect": "Allow", "Principal": {"AWS": READER},
              "Action": "kms:Decrypt", "Resource": "*"}
    step = engine.up(KeyProvider(), "k", {"policy": policy(reader)}, KEY)
    assert step.op == "update" and step.id == key_id
    live = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert [st["Sid"] for st in live["Statement"]] == ["root", "reader"]

    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(policy()))
    assert json.loads(engine.refresh("k", KEY)["policy"]) == policy()  # drift shows
    assert engine.up(KeyProvider(), "k", {"policy": policy(reader)}, KEY).op == "update"  # put right
    live = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert [st["Sid"] for st in live["Statement"]] == ["root", "reader"]


def test_key_create_failing_after_create_key_leaves_no_usable_key(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    with pytest.raises(ProviderCallFailed) as failed:  # asymmetric keys cannot rotate
        engine.up(KeyProvider(), "k", {"key_usage": "SIGN_VERIFY", "key_spec": "ECC_NIST_P256",
                                       "enable_key_rotation": True}, KEY)
    assert failed.value.last_line.startswith("keyplane.resources.base.ProviderError: ")
    left = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"] for k in kms.list_keys()["Keys"]]
    assert all(meta["KeyState"] == "PendingDeletion" for meta in left)
    assert engine.state == {}


def test_key_policy_rejected_by_the_engine_fails_in_one_line_and_leaves_no_key(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    before = kms.list_keys()["Keys"]
    lockout = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": READER}, "Action": "kms:Decrypt", "Resource": "*"}]}
    with pytest.raises(ProviderCallFailed) as failed:
        engine.up(KeyProvider(), "k", {"policy": lockout}, KEY)
    assert failed.value.last_line.startswith("keyplane.resources.base.ProviderError: MalformedPolicyDocumentException: ")
    assert kms.list_keys()["Keys"] == before


def test_alias_create_retarget_rename_and_delete(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    first = engine.up(KeyProvider(), "k1", {}, KEY).id
    second = engine.up(KeyProvider(), "k2", {}, KEY).id

    step = engine.up(AliasProvider(), "a", {"name": "alias/orders", "target_key_id": first}, ALIAS)
    assert step.op == "create" and step.id == "alias/orders"
    assert step.outputs["arn"] == f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/orders"
    assert kms.describe_key(KeyId="alias/orders")["KeyMetadata"]["KeyId"] == first

    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{second}"
    step = engine.up(AliasProvider(), "a", {"name": "alias/orders", "target_key_id": arn}, ALIAS)
    assert step.op == "update" and step.outputs["target_key_arn"] == arn
    assert kms.describe_key(KeyId="alias/orders")["KeyMetadata"]["KeyId"] == second
    assert engine.up(AliasProvider(), "a", {"name": "alias/orders", "target_key_id": arn}, ALIAS).op == "same"

    step = engine.up(AliasProvider(), "a", {"name": "alias/sales", "target_key_id": arn}, ALIAS)
    assert step.op == "replace" and step.order == ["delete", "create"]
    names = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    assert "alias/sales" in names and "alias/orders" not in names

    kms.delete_alias(AliasName="alias/sales")  # deleted outside Pulumi: refresh sees it gone
    assert engine.refresh("a", ALIAS) is None


def test_alias_create_is_idempotent_but_never_takes_over_another_keys_alias(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    first = engine.up(KeyProvider(), "k1", {}, KEY).id
    second = engine.up(KeyProvider(), "k2", {}, KEY).id
    kms.create_alias(AliasName="alias/orders", TargetKeyId=first)  # as an interrupted up left it
    step = engine.up(AliasProvider(), "a", {"name": "alias/orders", "target_key_id": first}, ALIAS)
    assert step.op == "create" and step.id == "alias/orders"
    with pytest.raises(ProviderCallFailed) as failed:
        engine.up(AliasProvider(), "b", {"name": "alias/orders", "target_key_id": second}, ALIAS)
    assert "AlreadyExistsException" in failed.value.last_line
    assert kms.describe_key(KeyId="alias/orders")["KeyMetadata"]["KeyId"] == first


def test_alias_to_a_missing_key_is_one_aws_error_line(stack):
    engine, conn = stack
    with pytest.raises(ProviderCallFailed) as failed:
        engine.up(AliasProvider(), "a", {"name": "alias/x", "target_key_id": "1234abcd-12ab-34cd-56ef-1234567890ab"}, ALIAS)
    assert failed.value.last_line.startswith("keyplane.resources.base.ProviderError: NotFoundException: ")
    assert "\n" not in failed.value.details.strip()  # one line, not a traceback
    assert "alias/x" not in {a["AliasName"] for a in conn.client("kms", region="us-east-1").list_aliases()["Aliases"]}


def test_alias_target_unknown_in_preview_is_an_update_not_a_replacement(stack):
    engine, _ = stack
    key_id = engine.up(KeyProvider(), "k", {}, KEY).id
    engine.up(AliasProvider(), "a", {"name": "alias/orders", "target_key_id": key_id}, ALIAS)
    _, failures, diff = engine.preview(AliasProvider(), "a", {"name": "alias/orders", "target_key_id": Unknown()}, ALIAS)
    assert failures == [] and diff.changes and diff.replaces == []


def grants(kms, key_id):
    return {g["GrantId"]: g for g in kms.list_grants(KeyId=key_id)["Grants"]}


def test_grant_create_keeps_its_token_replaces_on_change_and_revokes_on_delete(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    key_id = engine.up(KeyProvider(), "k", {}, KEY).id
    inputs = {"key_id": key_id, "grantee_principal": READER, "operations": ["Decrypt"],
              "constraints": {"encryption_context_subset": {"app": "orders"}}, "name": "reader"}
    step = engine.up(GrantProvider(), "g", inputs, GRANT)
    grant_id, token = step.outputs["grant_id"], step.outputs["grant_token"]
    assert step.id == f"{key_id}:{grant_id}" and token
    live = grants(kms, key_id)[grant_id]
    assert live["GranteePrincipal"] == READER and live["Operations"] == ["Decrypt"]
    assert live["Constraints"] == {"EncryptionContextSubset": {"app": "orders"}}

    step = engine.up(GrantProvider(), "g", {**inputs, "retire_on_delete": True}, GRANT)
    assert step.op == "update" and step.outputs["grant_token"] == token  # kept from create
    assert engine.refresh("g", GRANT)["grant_token"] == token

    step = engine.up(GrantProvider(), "g", {**inputs, "operations": ["Decrypt", "Encrypt"]}, GRANT)
    assert step.op == "replace" and step.diff.replaces == ["operations"]
    assert set(grants(kms, key_id)) == {step.outputs["grant_id"]}  # the old grant is revoked

    engine.destroy("g", GRANT)
    assert grants(kms, key_id) == {}


def test_grant_revoked_outside_pulumi_reads_as_gone(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    key_id = engine.up(KeyProvider(), "k", {}, KEY).id
    step = engine.up(GrantProvider(), "g", {"key_id": key_id, "grantee_principal": READER,
                                            "operations": ["Decrypt"]}, GRANT)
    kms.revoke_grant(KeyId=key_id, GrantId=step.outputs["grant_id"])
    assert engine.refresh("g", GRANT) is None


def test_resources_honour_their_own_region(stack):
    engine, conn = stack
    step = engine.up(KeyProvider(), "k", {"region": "eu-west-1"}, KEY)
    assert step.outputs["arn"].startswith("arn:aws:kms:eu-west-1:")
    assert conn.client("kms", region="eu-west-1").describe_key(KeyId=step.id)["KeyMetadata"]["Enabled"]
    with pytest.raises(ClientError):
        conn.client("kms", region="us-east-1").describe_key(KeyId=step.id)
    step = engine.up(KeyProvider(), "k", {"region": "us-west-2"}, KEY)
    assert step.op == "replace" and step.diff.replaces == ["region"]


def test_one_stack_spans_accounts_with_the_account_input(stack, tmp_path):
    engine, conn = stack
    other = "444455556666"
    step = engine.up(KeyProvider(), "k", {"account": other, "description": "theirs"}, KEY)
    assert step.outputs["arn"] == f"arn:aws:kms:us-east-1:{other}:key/{step.id}"
    engine.up(AliasProvider(), "a", {"account": other, "name": "alias/theirs", "target_key_id": step.id}, ALIAS)
    theirs = observer(str(tmp_path / "state"), account=other).client("kms", region="us-east-1")
    assert theirs.describe_key(KeyId="alias/theirs")["KeyMetadata"]["Description"] == "theirs"
    with pytest.raises(ClientError):  # not in the configured account
        conn.client("kms", region="us-east-1").describe_key(KeyId=step.id)
    step = engine.up(KeyProvider(), "k", {"description": "theirs"}, KEY)
    assert step.op == "replace" and step.diff.replaces == ["account"]
    assert step.outputs["arn"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")


def test_resources_created_in_parallel_as_pulumi_does(stack):
    from concurrent.futures import ThreadPoolExecutor

    engine, conn = stack
    with ThreadPoolExecutor(max_workers=6) as pool:  # the plugin server serves four at a time
        steps = list(pool.map(lambda i: engine.up(KeyProvider(), f"k{i}", {"description": f"key {i}"}, KEY),
                              range(12)))
    kms = conn.client("kms", region="us-east-1")
    described = {kms.describe_key(KeyId=s.id)["KeyMetadata"]["Description"] for s in steps}
    assert described == {f"key {i}" for i in range(12)}
