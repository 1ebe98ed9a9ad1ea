"""keyplane.Parameter through the real plugin protocol (`python -m pulumi.dynamic` over gRPC), against
the embedded engine, checked with an ordinary boto3 client: create, new versions in place, replace
on a new type or name, drift put right, delete; a SecureString value secret and never in plaintext."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pulumi
import pytest
from botocore.exceptions import ClientError
from pulumi.runtime.mocks import MockMonitor

from harness import CheckFailed, Engine, ForwardingMocks, ProviderProcess, observer
from keyplane.resources.parameter import ParameterProvider

ACCOUNT = "111122223333"
PARAMETER = "pulumi-python:dynamic/keyplane:Parameter"


@pytest.fixture
def stack(tmp_path):
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        yield Engine(process), observer(state), tmp_path


def test_parameter_life_cycle_create_update_drift_replace_delete(stack):
    engine, conn, _ = stack
    ssm = conn.client("ssm", region="us-east-1")
    declared = {"name": "/app/dev/url", "type": "String", "value": "https://a", "description": "v1",
                "tags": {"team": "a"}}
    step = engine.up(ParameterProvider(), "p", declared, PARAMETER)
    assert step.op == "create" and step.id == "/app/dev/url"
    assert step.outputs["arn"] == f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/app/dev/url"
    assert step.outputs["version"] == 1
    assert ssm.get_parameter(Name="/app/dev/url")["Parameter"]["Value"] == "https://a"
    assert engine.up(ParameterProvider(), "p", declared, PARAMETER).op == "same"

    declared = {**declared, "value": "https://b", "tags": {"team": "b", "env": "dev"}}
    step = engine.up(ParameterProvider(), "p", declared, PARAMETER)
    assert step.op == "update" and step.outputs["version"] == 2
    assert ssm.get_parameter(Name="/app/dev/url")["Parameter"]["Value"] == "https://b"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/app/dev/url")["TagList"]
    assert tags == [{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "b"}]

    ssm.put_parameter(Name="/app/dev/url", Value="changed-outside", Overwrite=True)       # drift
    assert engine.refresh("p", PARAMETER)["value"] == "changed-outside"
    assert engine.up(ParameterProvider(), "p", declared, PARAMETER).op == "update"
    assert ssm.get_parameter(Name="/app/dev/url")["Parameter"]["Value"] == "https://b"

    step = engine.up(ParameterProvider(), "p", {**declared, "type": "StringList", "value": "a,b"}, PARAMETER)
    assert step.op == "replace" and step.order == ["delete", "create"]
    assert ssm.get_parameter(Name="/app/dev/url")["Parameter"]["Type"] == "StringList"

    engine.destroy("p", PARAMETER)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/app/dev/url")
    assert e.value.response["Error"]["Code"] == "ParameterNotFound"


def test_securestring_value_is_encrypted_at_rest_and_read_back(stack):
    engine, conn, tmp_path = stack
    kms = conn.client("kms", region="us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    declared = {"name": "/app/db/password", "type": "SecureString", "value": "pw-never-plain-1", "key_id": key}
    step = engine.up(ParameterProvider(), "s", declared, PARAMETER)
    assert step.outputs["value"] == "pw-never-plain-1" and step.outputs["key_id"] == key
    ssm = conn.client("ssm", region="us-east-1")
    assert ssm.get_parameter(Name="/app/db/password", WithDecryption=True)["Parameter"]["Value"] == "pw-never-plain-1"
    assert b"pw-never-plain-1" not in open(tmp_path / "state" / "state.db", "rb").read()
    assert engine.up(ParameterProvider(), "s", declared, PARAMETER).op == "same"


def test_advanced_with_policies_and_downgrade_replaces(stack):
    engine, conn, _ = stack
    ssm = conn.client("ssm", region="us-east-1")
    at = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    policies = [{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": at}}]
    declared = {"name": "/adv", "type": "String", "value": "x", "tier": "Advanced", "policies": policies}
    engine.up(ParameterProvider(), "a", declared, PARAMETER)
    meta = ssm.describe_parameters()["Parameters"][0]
    assert meta["Tier"] == "Advanced" and meta["Policies"][0]["PolicyType"] == "Expiration"
    assert engine.up(ParameterProvider(), "a", {**declared, "policies": json.dumps(policies)}, PARAMETER).op == "same"
    step = engine.up(ParameterProvider(), "a", {"name": "/adv", "type": "String", "value": "x", "tier": "Standard"},
                     PARAMETER)
    assert step.op == "replace"
    assert ssm.describe_parameters()["Parameters"][0]["Tier"] == "Standard"


def test_intelligent_tiering_choice_is_not_drift(stack):
    engine, _, _ = stack
    declared = {"name": "/big", "type": "String", "value": "x" * 5000, "tier": "Intelligent-Tiering"}
    assert engine.up(ParameterProvider(), "b", declared, PARAMETER).outputs["tier"] == "Advanced"
    assert engine.up(ParameterProvider(), "b", declared, PARAMETER).op == "same"


@pytest.mark.parametrize("inputs,path", [
    ({"name": "/aws/x", "type": "String", "value": "v"}, "name"),
    ({"name": "/a", "type": "Text", "value": "v"}, "type"),
    ({"name": "/a", "type": "String", "value": "v", "key_id": "alias/x"}, "type"),
    ({"name": "/a", "type": "String", "value": "v", "tier": "Advanced",
      "policies": [{"Type": "Expiration", "Version": "1.0", "Attributes": {}}]}, "policies[0].Attributes.Timestamp"),
])
def test_check_reports_bad_inputs_with_their_path(stack, inputs, path):
    engine, _, _ = stack
    with pytest.raises(CheckFailed) as e:
        engine.up(ParameterProvider(), "bad", inputs, PARAMETER)
    assert any(path in reason for _, reason in e.value.failures), e.value.failures


def test_create_of_an_existing_name_fails_in_one_line_unless_overwrite(stack):
    engine, conn, _ = stack
    ssm = conn.client("ssm", region="us-east-1")
    ssm.put_parameter(Name="/taken", Value="old", Type="String")
    with pytest.raises(Exception) as e:
        engine.up(ParameterProvider(), "t", {"name": "/taken", "type": "String", "value": "new"}, PARAMETER)
    assert "ParameterAlreadyExists" in str(e.value)
    step = engine.up(ParameterProvider(), "t", {"name": "/taken", "type": "String", "value": "new",
                                                "overwrite": True, "tags": {"k": "v"}}, PARAMETER)
    assert step.op == "create" and step.outputs["version"] == 2
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/taken")["TagList"] == [
        {"Key": "k", "Value": "v"}]


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.secret_outputs = {}
        self.secret_inputs = {}

    def RegisterResource(self, request):
        from pulumi.runtime import rpc
        self.secret_outputs[request.name] = sorted(request.additionalSecretOutputs)
        value = request.object.fields.get("value")
        self.secret_inputs[request.name] = value is not None and value.HasField("struct_value") and \
            value.struct_value.fields.get(rpc._special_sig_key) is not None and \
            value.struct_value.fields[rpc._special_sig_key].string_value == rpc._special_secret_sig
        return super().RegisterResource(request)


def test_program_marks_a_securestring_value_secret_and_a_string_not(tmp_path):
    import keyplane
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        mocks = ForwardingMocks(Engine(process, stack="dev"))
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project="keyplane", stack="dev", preview=False, monitor=monitor)

        def program():
            keyplane.Parameter("secret", name="/p/secret", type="SecureString", value="sv-1")
            keyplane.Parameter("plain", name="/p/plain", type="String", value="pv-1")

        pulumi.runtime.test(lambda: program() and None)()
    assert monitor.secret_outputs["secret"] == ["value"] and monitor.secret_inputs["secret"]
    assert monitor.secret_outputs["plain"] == [] and not monitor.secret_inputs["plain"]
    ssm = observer(state).client("ssm", region="us-east-1")
    assert ssm.get_parameter(Name="/p/secret", WithDecryption=True)["Parameter"]["Value"] == "sv-1"
    assert ssm.get_parameter(Name="/p/plain")["Parameter"]["Value"] == "pv-1"
