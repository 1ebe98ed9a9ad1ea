"""HMAC KMS keys through real boto3 clients: specs, GenerateMac / VerifyMac, and their errors."""
from __future__ import annotations

import hashlib
import hmac
import sqlite3

import pytest
from botocore.exceptions import ClientError

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.sealing import material_aad


def code_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def message_of(exc_info) -> str:
    return exc_info.value.response["Error"]["Message"]


@pytest.fixture
def kms(module_kms):
    """This module's tests share one engine: none of them needs an empty store."""
    return module_kms


def hmac_key(kms, bits: int = 256) -> str:
    return kms.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]


@pytest.mark.parametrize("bits", [224, 256, 384, 512])
def test_hmac_key_lists_its_one_mac_algorithm_and_macs_round_trip(kms, bits):
    md = kms.create_key(KeySpec=f"HMAC_{bits}", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    algorithm = f"HMAC_SHA_{bits}"
    assert md["MacAlgorithms"] == [algorithm] and md["KeyUsage"] == "GENERATE_VERIFY_MAC"
    assert "EncryptionAlgorithms" not in md and "SigningAlgorithms" not in md
    out = kms.generate_mac(KeyId=md["KeyId"], Message=b"session-42", MacAlgorithm=algorithm)
    assert (out["KeyId"], out["MacAlgorithm"], len(out["Mac"])) == (md["Arn"], algorithm, bits // 8)
    verified = kms.verify_mac(KeyId=md["KeyId"], Message=b"session-42", MacAlgorithm=algorithm, Mac=out["Mac"])
    verified.pop("ResponseMetadata")
    assert verified == {"KeyId": md["Arn"], "MacValid": True, "MacAlgorithm": algorithm}


def test_mac_is_deterministic_and_is_rfc2104_hmac_of_the_sealed_secret(tmp_path, clock):
    eng = Engine(str(tmp_path / "state"), clock=clock)
    client = keyplane.connect(engine=eng).client("kms", region="us-east-1")
    arn = hmac_key(client, 384)
    macs = {client.generate_mac(KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"] for _ in range(3)}
    root_key = eng.root_key_for(eng.store_for("us-east-1"))
    eng.close()
    with sqlite3.connect(tmp_path / "state" / "state.db") as db:
        material_id, sealed = db.execute("select material_id, sealed from kms_key_materials where key_arn = ?",
                                         (arn,)).fetchone()
    secret = root_key.unseal(sealed, material_aad(arn, material_id))
    assert len(secret) == 48
    assert macs == {hmac.new(secret, b"m", hashlib.sha384).digest()}
    raw = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.name.startswith("state.db"))
    assert secret not in raw


def test_verify_mac_of_another_message_or_key_is_invalid_mac(kms):
    a, b = hmac_key(kms), hmac_key(kms)
    mac = kms.generate_mac(KeyId=a, Message=b"amount=10", MacAlgorithm="HMAC_SHA_256")["Mac"]
    for key, message, candidate in ((a, b"amount=99", mac), (b, b"amount=10", mac),
                                    (a, b"amount=10", mac[:-1] + bytes([mac[-1] ^ 1]))):
        with pytest.raises(ClientError) as exc:
            kms.verify_mac(KeyId=key, Message=message, MacAlgorithm="HMAC_SHA_256", Mac=candidate)
        assert code_of(exc) == "KMSInvalidMacException"


def test_mac_algorithm_of_another_size_is_invalid_key_usage(kms):
    arn = hmac_key(kms, 256)
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_512")
    assert code_of(exc) == "InvalidKeyUsageException"
    assert message_of(exc) == "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256."


def test_generate_mac_with_an_encryption_key_and_encrypt_with_an_hmac_key_are_invalid_usage(kms):
    symmetric, mac_key = kms.create_key()["KeyMetadata"]["Arn"], hmac_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=symmetric, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert message_of(exc) == f"{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=mac_key, Plaintext=b"x")
    assert message_of(exc) == f"{mac_key} key usage is GENERATE_VERIFY_MAC which is not valid for Encrypt."
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=mac_key, Message=b"x", SigningAlgorithm="ECDSA_SHA_256")
    assert code_of(exc) == "InvalidKeyUsageException"


@pytest.mark.parametrize("usage", [None, "ENCRYPT_DECRYPT", "SIGN_VERIFY"])
def test_hmac_key_needs_generate_verify_mac_usage(kms, usage):
    params = {"KeySpec": "HMAC_256", **({"KeyUsage": usage} if usage else {})}
    with pytest.raises(ClientError) as exc:
        kms.create_key(**params)
    assert code_of(exc) == "ValidationException"


def test_mac_on_a_disabled_key_is_disabled_and_dry_run_computes_nothing(kms):
    arn = hmac_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_256", DryRun=True)
    assert code_of(exc) == "DryRunOperationException"
    mac = kms.generate_mac(KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    kms.disable_key(KeyId=arn)
    with pytest.raises(ClientError) as exc:
        kms.verify_mac(KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_256", Mac=mac)
    assert code_of(exc) == "DisabledException"
