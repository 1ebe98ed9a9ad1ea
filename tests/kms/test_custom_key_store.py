"""Custom key stores on a real PKCS#11 token (SoftHSM2), through real boto3 clients; and the
engine's root key kept in a token (`keyplane init --root-key pkcs11:...`)."""
import os
import random
import shutil
import string
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "kp-user-1234"
SO_PIN = "kp-so-12345"
ANCHOR = f"pkcs11:module-path={MODULE}"
TREE = Path(__file__).resolve().parents[2]


def _code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


class SoftHSM:
    """A SoftHSM2 token folder of its own (SOFTHSM2_CONF), and fresh tokens in it."""

    def __init__(self, folder: Path):
        (folder / "tokens").mkdir(parents=True)
        self.conf = folder / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\n"
                             "log.level = ERROR\nslots.removable = false\n")

    def new_token(self, pin: str = PIN) -> str:
        """A new initialised token; its label is shaped like a CloudHSM cluster id."""
        label = "cluster-" + "".join(random.choices(string.ascii_lowercase, k=12))
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                        "--so-pin", SO_PIN], check=True, capture_output=True,
                       env={**os.environ, "SOFTHSM2_CONF": str(self.conf)})
        return label


@pytest.fixture(scope="module")
def _softhsm_folder(tmp_path_factory):
    return tmp_path_factory.mktemp("softhsm")


@pytest.fixture
def softhsm(_softhsm_folder, require, monkeypatch):
    require(os.path.exists(MODULE) and shutil.which("softhsm2-util") is not None,
            f"SoftHSM2 is not installed ({MODULE}, softhsm2-util)")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        require(False, "python-pkcs11 is not installed")
    hsm = SoftHSM.__new__(SoftHSM)
    hsm.conf = _softhsm_folder / "softhsm2.conf"
    if not hsm.conf.exists():
        hsm = SoftHSM(_softhsm_folder)
    # SoftHSM reads this when the module (re)initialises: keyplane re-scans for new tokens
    monkeypatch.setenv("SOFTHSM2_CONF", str(hsm.conf))
    return hsm


@pytest.fixture
def connected_store(kms, softhsm):
    label = softhsm.new_token()
    store_id = kms.create_custom_key_store(CustomKeyStoreName="hsm-" + label, CloudHsmClusterId=label,
                                           TrustAnchorCertificate=ANCHOR, KeyStorePassword=PIN)["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    return store_id, label


def _store(kms, store_id):
    return kms.describe_custom_key_stores(CustomKeyStoreId=store_id)["CustomKeyStores"][0]


def test_store_is_created_disconnected_and_connects_with_the_token_pin(kms, softhsm):
    label = softhsm.new_token()
    store_id = kms.create_custom_key_store(CustomKeyStoreName="main", CloudHsmClusterId=label,
                                           TrustAnchorCertificate=ANCHOR, KeyStorePassword=PIN)["CustomKeyStoreId"]
    desc = _store(kms, store_id)
    assert (desc["ConnectionState"], desc["CloudHsmClusterId"], desc["CustomKeyStoreType"]) == (
        "DISCONNECTED", label, "AWS_CLOUDHSM")
    assert kms.connect_custom_key_store(CustomKeyStoreId=store_id)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert _store(kms, store_id)["ConnectionState"] == "CONNECTED"
    assert kms.describe_custom_key_stores(CustomKeyStoreName="main")["CustomKeyStores"][0]["CustomKeyStoreId"] == store_id


def test_key_in_the_store_is_generated_in_the_token_non_extractable_and_encrypts_there(kms, softhsm, connected_store):
    import pkcs11
    from pkcs11 import Attribute
    store_id, label = connected_store
    md = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]
    assert (md["Origin"], md["CustomKeyStoreId"], md["CloudHsmClusterId"], md["KeyState"]) == (
        "AWS_CLOUDHSM", store_id, label, "Enabled")
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"in the hsm", EncryptionContext={"k": "v"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})["Plaintext"] == b"in the hsm"
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "other"})
    assert _code(e) == "InvalidCiphertextException"
    data_key = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    # the token holds the key, sensitive and never extractable
    token = pkcs11.lib(MODULE).get_token(token_label=label)
    with token.open(rw=True) as session:        # keyplane's login covers this process
        [obj] = list(session.get_objects({Attribute.LABEL: md["Arn"]}))
        assert obj[Attribute.EXTRACTABLE] is False and obj[Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            obj[Attribute.VALUE]


def test_disconnected_store_makes_its_keys_unavailable_until_it_connects_again(kms, connected_store):
    store_id, _ = connected_store
    enabled = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    disabled = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    blob = kms.encrypt(KeyId=enabled, Plaintext=b"x")["CiphertextBlob"]
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert _store(kms, store_id)["ConnectionState"] == "DISCONNECTED"
    assert kms.describe_key(KeyId=enabled)["KeyMetadata"]["KeyState"] == "Unavailable"
    for call in (lambda: kms.encrypt(KeyId=enabled, Plaintext=b"x"), lambda: kms.decrypt(CiphertextBlob=blob)):
        with pytest.raises(ClientError) as e:
            call()
        assert _code(e) == "KeyUnavailableException"
    with pytest.raises(ClientError) as e:
        kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")
    assert _code(e) == "CustomKeyStoreInvalidStateException"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=enabled)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId=disabled)["KeyMetadata"]["KeyState"] == "Disabled"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_wrong_pin_leaves_the_store_failed_with_invalid_credentials(kms, softhsm):
    label = softhsm.new_token()
    store_id = kms.create_custom_key_store(CustomKeyStoreName="bad-pin", CloudHsmClusterId=label,
                                           TrustAnchorCertificate=ANCHOR, KeyStorePassword="not-the-pin")["CustomKeyStoreId"]
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    desc = _store(kms, store_id)
    assert (desc["ConnectionState"], desc["ConnectionErrorCode"]) == ("FAILED", "INVALID_CREDENTIALS")
    with pytest.raises(ClientError) as e:
        kms.connect_custom_key_store(CustomKeyStoreId=store_id)      # FAILED: disconnect first
    assert _code(e) == "CustomKeyStoreInvalidStateException"
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword=PIN)
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert _store(kms, store_id)["ConnectionState"] == "CONNECTED"


def test_unknown_token_is_cluster_not_found(kms, softhsm):
    with pytest.raises(ClientError) as e:
        kms.create_custom_key_store(CustomKeyStoreName="ghost", CloudHsmClusterId="cluster-nosuchtokenhere",
                                    TrustAnchorCertificate=ANCHOR, KeyStorePassword=PIN)
    assert _code(e) == "CloudHsmClusterNotFoundException"
    assert kms.describe_custom_key_stores()["CustomKeyStores"] == []


def test_trust_anchor_must_be_a_pkcs11_uri_without_a_pin(kms, softhsm):
    label = softhsm.new_token()
    for anchor in ("-----BEGIN CERTIFICATE-----", f"{ANCHOR};pin-value={PIN}"):
        with pytest.raises(ClientError) as e:
            kms.create_custom_key_store(CustomKeyStoreName="x", CloudHsmClusterId=label,
                                        TrustAnchorCertificate=anchor, KeyStorePassword=PIN)
        assert _code(e) == "IncorrectTrustAnchorException"


def test_one_token_serves_one_store_and_names_are_unique(kms, softhsm, connected_store):
    store_id, label = connected_store
    with pytest.raises(ClientError) as e:
        kms.create_custom_key_store(CustomKeyStoreName="second", CloudHsmClusterId=label,
                                    TrustAnchorCertificate=ANCHOR, KeyStorePassword=PIN)
    assert _code(e) == "CloudHsmClusterInUseException"
    with pytest.raises(ClientError) as e:
        kms.create_custom_key_store(CustomKeyStoreName="hsm-" + label, CloudHsmClusterId=softhsm.new_token(),
                                    TrustAnchorCertificate=ANCHOR, KeyStorePassword=PIN)
    assert _code(e) == "CustomKeyStoreNameInUseException"


def test_delete_is_refused_while_connected_or_holding_keys(kms, engine, clock, connected_store):
    store_id, _ = connected_store
    key_id = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert _code(e) == "CustomKeyStoreInvalidStateException"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with pytest.raises(ClientError) as e:
        kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    assert _code(e) == "CustomKeyStoreHasCMKsException"
    clock.advance(days=7, seconds=1)
    engine.run_due()
    kms.delete_custom_key_store(CustomKeyStoreId=store_id)
    with pytest.raises(ClientError) as e:
        kms.describe_custom_key_stores(CustomKeyStoreId=store_id)
    assert _code(e) == "CustomKeyStoreNotFoundException"


def test_deletion_cancelled_while_disconnected_leaves_the_key_unavailable_then_disabled(kms, connected_store):
    store_id, _ = connected_store
    key_id = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Unavailable"
    kms.connect_custom_key_store(CustomKeyStoreId=store_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"


def test_update_renames_while_connected_but_changes_the_pin_only_when_disconnected(kms, connected_store):
    store_id, _ = connected_store
    kms.update_custom_key_store(CustomKeyStoreId=store_id, NewCustomKeyStoreName="renamed")
    assert _store(kms, store_id)["CustomKeyStoreName"] == "renamed"
    with pytest.raises(ClientError) as e:
        kms.update_custom_key_store(CustomKeyStoreId=store_id, KeyStorePassword="another-pin")
    assert _code(e) == "CustomKeyStoreInvalidStateException"


def test_generate_random_comes_from_a_connected_store(kms, connected_store):
    store_id, _ = connected_store
    assert len(kms.generate_random(NumberOfBytes=48, CustomKeyStoreId=store_id)["Plaintext"]) == 48
    kms.disconnect_custom_key_store(CustomKeyStoreId=store_id)
    with pytest.raises(ClientError) as e:
        kms.generate_random(NumberOfBytes=48, CustomKeyStoreId=store_id)
    assert _code(e) == "CustomKeyStoreInvalidStateException"


def test_keys_in_a_store_refuse_rotation_and_other_specs(kms, connected_store):
    store_id, _ = connected_store
    key_id = kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM")["KeyMetadata"]["KeyId"]
    for call in (kms.enable_key_rotation, kms.rotate_key_on_demand):
        with pytest.raises(ClientError) as e:
            call(KeyId=key_id)
        assert _code(e) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        kms.create_key(CustomKeyStoreId=store_id, Origin="AWS_CLOUDHSM", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    assert _code(e) == "UnsupportedOperationException"
    with pytest.raises(ClientError) as e:
        kms.create_key(CustomKeyStoreId="cks-00000000000000000", Origin="AWS_CLOUDHSM")
    assert _code(e) == "CustomKeyStoreNotFoundException"


def test_the_pin_is_never_stored_in_plaintext(kms, engine, tmp_path, connected_store):
    engine.audit.flush(engine.store_for("us-east-1"))
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert PIN.encode() not in path.read_bytes(), path


def test_root_key_in_a_token_seals_the_state_and_later_runs_find_it(softhsm, tmp_path):
    label = softhsm.new_token()
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(TREE / "provider"), "SOFTHSM2_CONF": str(softhsm.conf),
           "KP_TEST_PIN": PIN}
    env.pop("KEYPLANE_ROOT_KEY", None)
    uri = f"pkcs11:module-path={MODULE};token={label};object=kp-root?pin-source=env:KP_TEST_PIN"
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "init", "--state", str(state), "--root-key", uri],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "pkcs11:" in out.stdout and PIN not in out.stdout
    reference = state / "root.key"
    assert reference.read_text().startswith("pkcs11:") and oct(reference.stat().st_mode & 0o777) == "0o600"
    script = ("import keyplane,sys; kms=keyplane.connect(sys.argv[1]).client('kms', region='us-east-1');"
              "k=kms.create_key()['KeyMetadata']['KeyId'];"
              "b=kms.encrypt(KeyId=k, Plaintext=b'sealed by the token')['CiphertextBlob'];"
              "print(kms.decrypt(CiphertextBlob=b)['Plaintext'].decode())")
    run = subprocess.run([sys.executable, "-c", script, str(state)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "sealed by the token"
    # without the PIN the token stays shut and the engine refuses to open the state
    no_pin = {k: v for k, v in env.items() if k != "KP_TEST_PIN"}
    run = subprocess.run([sys.executable, "-c", script, str(state)], env=no_pin, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and "KP_TEST_PIN" in run.stderr


def test_root_key_uri_without_a_pin_is_refused_clearly(softhsm, tmp_path):
    from keyplane.engine.root_keys import load_root_key
    from keyplane.engine.sealing import RootKeyError
    with pytest.raises(RootKeyError, match="PIN"):
        load_root_key(f"pkcs11:module-path={MODULE};token={softhsm.new_token()}", None)


def test_root_key_variable_may_name_the_token_every_server_shares(softhsm, monkeypatch):
    """KEYPLANE_ROOT_KEY=pkcs11:...: servers on one database reach one token with no key file."""
    from keyplane.engine.root_keys import load_root_key
    monkeypatch.setenv("KP_TEST_PIN", PIN)
    uri = f"pkcs11:module-path={MODULE};token={softhsm.new_token()};object=kp-shared?pin-source=env:KP_TEST_PIN"
    direct = load_root_key(uri, None)
    monkeypatch.setenv("KEYPLANE_ROOT_KEY", uri)
    shared = load_root_key(None, None)
    assert shared.check_value == direct.check_value and shared.source.startswith("pkcs11:")
    sealed = shared.seal(b"material", b"aad")
    assert direct.unseal(sealed, b"aad") == b"material"
