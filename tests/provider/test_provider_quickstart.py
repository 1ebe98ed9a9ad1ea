"""examples/quickstart run as a Pulumi program under `pulumi.runtime.set_mocks`, every resource
forwarded through the plugin protocol to the real provider: a preview creates nothing and
tolerates values still unknown; `up` leaves a key, alias and grant in keyplane that work for
an application using boto3."""
from __future__ import annotations

import runpy

import pulumi
import pytest
from botocore.exceptions import ClientError
from pulumi.runtime.mocks import MockMonitor

from harness import TREE, Engine, ForwardingMocks, ProviderProcess, observer

PROGRAM = TREE / "examples" / "quickstart" / "__main__.py"
READER = "arn:aws:iam::111122223333:role/reader"


class RecordingMonitor(MockMonitor):
    """The mock monitor, remembering which outputs each resource asked to keep secret."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.secret_outputs = {}

    def RegisterResource(self, request):
        self.secret_outputs[request.name] = sorted(request.additionalSecretOutputs)
        return super().RegisterResource(request)


def run_program(engine, preview):
    mocks = ForwardingMocks(engine, preview=preview)
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(mocks, project="keyplane", stack="dev", preview=preview, monitor=monitor)
    pulumi.runtime.test(lambda: runpy.run_path(str(PROGRAM)) and None)()
    return mocks, monitor


@pytest.fixture
def stack(tmp_path):
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        yield Engine(process, stack="dev"), state


def test_quickstart_preview_checks_everything_and_creates_nothing(stack):
    engine, state = stack
    mocks, _ = run_program(engine, preview=True)
    assert mocks.failures == {} and mocks.created == {}
    assert observer(state).client("kms", region="us-east-1").list_keys()["Keys"] == []


def test_quickstart_up_creates_a_key_alias_and_grant_that_work(stack):
    engine, state = stack
    mocks, monitor = run_program(engine, preview=False)
    assert set(mocks.created) == {"Key/orders", "Alias/orders", "Grant/reader"}
    assert monitor.secret_outputs["reader"] == ["grant_token"]

    kms = observer(state).client("kms", region="us-east-1")
    meta = kms.describe_key(KeyId="alias/orders")["KeyMetadata"]
    assert meta["Enabled"] and meta["Description"] == "orders data"
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]
    assert {"TagKey": "team", "TagValue": "orders"} in kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]
    (grant,) = kms.list_grants(KeyId=meta["KeyId"])["Grants"]
    assert grant["GranteePrincipal"] == READER and grant["Operations"] == ["Decrypt", "DescribeKey"]

    blob = kms.encrypt(KeyId="alias/orders", Plaintext=b"order 42",
                       EncryptionContext={"app": "orders"})["CiphertextBlob"]
    reader = observer(state, principal=READER).client("kms", region="us-east-1")
    assert reader.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "orders"})["Plaintext"] == b"order 42"
    other = kms.encrypt(KeyId="alias/orders", Plaintext=b"x", EncryptionContext={"app": "billing"})["CiphertextBlob"]
    with pytest.raises(ClientError) as denied:
        reader.decrypt(CiphertextBlob=other, EncryptionContext={"app": "billing"})
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
