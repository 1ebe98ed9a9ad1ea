"""keyplane.Key with imported material (origin EXTERNAL) and keyplane.CustomKeyStore, through the
real plugin protocol (`python -m pulumi.dynamic` over gRPC) against the embedded engine, checked
with ordinary boto3 clients and, for custom key stores, a real SoftHSM2 token."""
from __future__ import annotations

import base64
import os
import random
import shutil
import string
import subprocess
from datetime import datetime, timedelta, timezone

import pulumi
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pulumi.runtime.mocks import MockMonitor

from harness import CheckFailed, Engine, ForwardingMocks, ProviderCallFailed, ProviderProcess, observer
from keyplane.engine import crypto
from keyplane.resources.custom_key_store import CustomKeyStoreProvider
from keyplane.resources.key import KeyProvider

KEY, STORE = "pulumi-python:dynamic/keyplane:Key", "pulumi-python:dynamic/keyplane:CustomKeyStore"
MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "kp-user-1234"


@pytest.fixture(scope="module")
def softhsm_conf(tmp_path_factory):
    """One SoftHSM2 token folder for the module's plugin process (it reads SOFTHSM2_CONF at start)."""
    folder = tmp_path_factory.mktemp("softhsm")
    (folder / "tokens").mkdir()
    conf = folder / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    return str(conf)


@pytest.fixture(scope="module")
def plugin(softhsm_conf):
    # one plugin process for the module (a fresh one costs seconds); each stack configures it
    with ProviderProcess(env={"SOFTHSM2_CONF": softhsm_conf}) as process:
        yield process


def _stack(plugin, tmp_path):
    state = str(tmp_path / "state")
    return Engine(plugin, config={"keyplane:state": state, "keyplane:region": "us-east-1"}), observer(state)


@pytest.fixture
def stack(tmp_path, plugin):
    return _stack(plugin, tmp_path)


def _opens_with(material: bytes, blob: bytes) -> bytes:
    _header, head, nonce, ct = crypto.parse_blob(blob)
    return AESGCM(material).decrypt(nonce, ct, head)


def test_external_key_imports_its_material_and_encrypts_with_it(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    material = os.urandom(32)
    step = engine.up(KeyProvider(), "byok", {"origin": "EXTERNAL", "deletion_window_in_days": 7,
                                             "key_material_base64": base64.b64encode(material).decode()}, KEY)
    assert step.op == "create" and step.outputs["key_state"] == "Enabled" and step.outputs["origin"] == "EXTERNAL"
    meta = kms.describe_key(KeyId=step.id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    blob = kms.encrypt(KeyId=step.id, Plaintext=b"imported")["CiphertextBlob"]
    assert _opens_with(material, blob) == b"imported"
    assert engine.up(KeyProvider(), "byok", {"origin": "EXTERNAL", "deletion_window_in_days": 7,
                                             "key_material_base64": base64.b64encode(material).decode()},
                     KEY).op == "same"


def test_valid_to_changes_in_place_and_expired_material_comes_back_on_the_next_up(stack):
    engine, conn = stack
    kms = conn.client("kms", region="us-east-1")
    material = base64.b64encode(os.urandom(32)).decode()
    soon = (datetime.now(timezone.utc) + timedelta(days=10)).replace(microsecond=0)
    later = soon + timedelta(days=20)
    declared = {"origin": "EXTERNAL", "key_material_base64": material, "valid_to": soon.isoformat()}
    key_id = engine.up(KeyProvider(), "exp", declared, KEY).id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["ValidTo"] == soon
    assert engine.up(KeyProvider(), "exp", declared, KEY).op == "same"
    declared = {**declared, "valid_to": later.isoformat().replace("+00:00", "Z")}
    step = engine.up(KeyProvider(), "exp", declared, KEY)
    assert step.op == "update" and step.id == key_id
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["ValidTo"] == later
    # the material expires (the scheduler, at a later time); refresh sees it, up imports it again
    assert conn.engine.run_due(later + timedelta(seconds=1))["kms.expire-key-material"] == 1
    assert engine.refresh("exp", KEY)["key_state"] == "PendingImport"
    # ...with a ValidTo still ahead of the real clock of the provider process
    step = engine.up(KeyProvider(), "exp", declared, KEY)
    assert step.op == "update" and step.id == key_id and step.outputs["key_state"] == "Enabled"


def test_new_material_replaces_the_key(stack):
    engine, conn = stack
    first = engine.up(KeyProvider(), "r", {"origin": "EXTERNAL",
                                           "key_material_base64": base64.b64encode(os.urandom(32)).decode()}, KEY)
    second = engine.up(KeyProvider(), "r", {"origin": "EXTERNAL",
                                            "key_material_base64": base64.b64encode(os.urandom(32)).decode()}, KEY)
    assert second.op == "replace" and second.id != first.id
    kms = conn.client("kms", region="us-east-1")
    assert kms.describe_key(KeyId=first.id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


@pytest.mark.parametrize("inputs,prop", [
    ({"key_material_base64": base64.b64encode(b"k" * 32).decode()}, "key_material_base64"),
    ({"origin": "EXTERNAL", "key_material_base64": "not*base64!"}, "key_material_base64"),
    ({"origin": "EXTERNAL", "key_material_base64": base64.b64encode(b"short").decode()}, "key_material_base64"),
    ({"origin": "EXTERNAL", "key_material_base64": base64.b64encode(b"k" * 32).decode(), "valid_to": "soon"},
     "valid_to"),
])
def test_check_refuses_misplaced_or_malformed_material_without_echoing_it(stack, inputs, prop):
    engine, _ = stack
    with pytest.raises(CheckFailed) as e:
        engine.up(KeyProvider(), "bad", inputs, KEY)
    assert any(p == prop for p, _ in e.value.failures), e.value.failures
    assert all(inputs["key_material_base64"] not in reason for _, reason in e.value.failures)


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks):
        super().__init__(mocks)
        self.requests = {}

    def RegisterResource(self, request):
        self.requests[request.name] = request
        return super().RegisterResource(request)


def _secret_input(request, name) -> bool:
    from pulumi.runtime import rpc
    value = request.object.fields.get(name)
    return value is not None and value.HasField("struct_value") and \
        value.struct_value.fields[rpc._special_sig_key].string_value == rpc._special_secret_sig


def test_program_keeps_the_material_secret(tmp_path):
    import keyplane
    state = str(tmp_path / "state")
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        mocks = ForwardingMocks(Engine(process, stack="dev"))
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project="keyplane", stack="dev", preview=False, monitor=monitor)

        def program():
            keyplane.Key("byok", origin="EXTERNAL", key_material_base64=base64.b64encode(os.urandom(32)).decode())

        pulumi.runtime.test(lambda: program() and None)()
    request = monitor.requests["byok"]
    assert _secret_input(request, "key_material_base64")
    assert "key_material_base64" in request.additionalSecretOutputs


# ---- CustomKeyStore on SoftHSM2 ---------------------------------------------------------------
@pytest.fixture
def softhsm(softhsm_conf, require):
    require(os.path.exists(MODULE) and shutil.which("softhsm2-util") is not None,
            f"SoftHSM2 is not installed ({MODULE}, softhsm2-util)")
    conf = softhsm_conf
    label = "cluster-" + "".join(random.choices(string.ascii_lowercase, k=12))
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", "kp-so-12345"],
                   check=True, capture_output=True, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    return conf, label


def test_custom_key_store_holds_keys_and_disconnects_in_place(tmp_path, plugin, softhsm):
    _conf, label = softhsm
    declared = {"custom_key_store_name": "hsm", "cloud_hsm_cluster_id": label,
                "trust_anchor_certificate": f"pkcs11:module-path={MODULE}", "key_store_password": PIN}
    engine, conn = _stack(plugin, tmp_path)
    kms = conn.client("kms", region="us-east-1")
    store = engine.up(CustomKeyStoreProvider(), "hsm", declared, STORE)
    assert store.op == "create" and store.outputs["connection_state"] == "CONNECTED"
    key = engine.up(KeyProvider(), "k", {"origin": "AWS_CLOUDHSM", "custom_key_store_id": store.id}, KEY)
    assert key.outputs["custom_key_store_id"] == store.id and key.outputs["key_state"] == "Enabled"
    step = engine.up(CustomKeyStoreProvider(), "hsm", {**declared, "custom_key_store_name": "renamed",
                                                       "connected": False}, STORE)
    assert step.op == "update" and step.id == store.id and step.outputs["connection_state"] == "DISCONNECTED"
    assert kms.describe_key(KeyId=key.id)["KeyMetadata"]["KeyState"] == "Unavailable"
    step = engine.up(CustomKeyStoreProvider(), "hsm", {**declared, "custom_key_store_name": "renamed"}, STORE)
    assert step.outputs["connection_state"] == "CONNECTED"
    assert kms.describe_key(KeyId=key.id)["KeyMetadata"]["KeyState"] == "Enabled"
    # the key, pending deletion for its window, still holds the store
    engine.destroy("k", KEY)
    with pytest.raises(ProviderCallFailed) as e:
        engine.destroy("hsm", STORE)
    assert "CustomKeyStoreHasCMKsException" in e.value.last_line


def test_custom_key_store_with_a_wrong_pin_fails_in_one_line_and_leaves_nothing(tmp_path, plugin, softhsm):
    _conf, label = softhsm
    engine, conn = _stack(plugin, tmp_path)
    with pytest.raises(ProviderCallFailed) as e:
        engine.up(CustomKeyStoreProvider(), "hsm", {
            "custom_key_store_name": "hsm", "cloud_hsm_cluster_id": label,
            "trust_anchor_certificate": f"pkcs11:module-path={MODULE}", "key_store_password": "wrong-pin"}, STORE)
    assert "INVALID_CREDENTIALS" in e.value.last_line and "wrong-pin" not in e.value.details
    assert conn.client("kms", region="us-east-1").describe_custom_key_stores()["CustomKeyStores"] == []
