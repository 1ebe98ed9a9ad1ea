"""Key policies steer asymmetric, HMAC and key-agreement keys through their condition keys:
kms:SigningAlgorithm, kms:MessageType, kms:MacAlgorithm, kms:KeyAgreementAlgorithm and
kms:DataKeyPairSpec, as a key policy in AWS would."""
from __future__ import annotations

import hashlib
import json

import pytest
import yaml
from botocore.exceptions import ClientError

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities

A = "111122223333"
ROOT, CAROL = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{A}:user/carol"


@pytest.fixture(scope="module")
def clients(tmp_path_factory):
    path = tmp_path_factory.mktemp("ids") / "identities.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "accounts": [{"id": A, "users": [{"name": "carol"}]}]}))
    engine = Engine("memory", identities=Identities.load(path))
    make = lambda who: keyplane.connect(engine=engine, principal=who).client("kms", region="us-east-1")  # noqa: E731
    yield make(ROOT), make(CAROL)
    engine.close()


def key_for_carol(root, spec: str, usage: str, action: str, condition: dict) -> str:
    """A key whose policy lets carol do `action` only under `condition`."""
    policy = {"Version": "2012-10-17", "Statement": [
        {"Sid": "admin", "Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "carol", "Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": [action, "kms:GetPublicKey"],
         "Resource": "*", "Condition": condition}]}
    params = {"KeySpec": spec, "KeyUsage": usage} if spec != "SYMMETRIC_DEFAULT" else {}
    return root.create_key(Policy=json.dumps(policy), **params)["KeyMetadata"]["Arn"]


def denied(fn, **params) -> bool:
    try:
        fn(**params)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "AccessDeniedException":
            return True
        raise
    return False


def test_signing_algorithm_and_message_type_conditions_decide_sign(clients):
    root, carol = clients
    arn = key_for_carol(root, "RSA_2048", "SIGN_VERIFY", "kms:Sign", {
        "StringLike": {"kms:SigningAlgorithm": "RSASSA_PSS_*"}, "StringEquals": {"kms:MessageType": "DIGEST"}})
    digest = hashlib.sha256(b"m").digest()
    assert not denied(carol.sign, KeyId=arn, Message=digest, MessageType="DIGEST",
                      SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert denied(carol.sign, KeyId=arn, Message=digest, MessageType="DIGEST",
                  SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
    assert denied(carol.sign, KeyId=arn, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")  # RAW by default
    signature = root.sign(KeyId=arn, Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    assert denied(carol.verify, KeyId=arn, Message=b"m", Signature=signature, SigningAlgorithm="RSASSA_PSS_SHA_256")


def test_mac_algorithm_condition_decides_generate_mac(clients):
    root, carol = clients
    arn = key_for_carol(root, "HMAC_256", "GENERATE_VERIFY_MAC", "kms:GenerateMac",
                        {"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_384"}})
    assert denied(carol.generate_mac, KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert not denied(root.generate_mac, KeyId=arn, Message=b"m", MacAlgorithm="HMAC_SHA_256")


def test_key_agreement_algorithm_condition_decides_derive_shared_secret(clients):
    root, carol = clients
    allowed = key_for_carol(root, "ECC_NIST_P256", "KEY_AGREEMENT", "kms:DeriveSharedSecret",
                            {"StringEquals": {"kms:KeyAgreementAlgorithm": "ECDH"}})
    refused = key_for_carol(root, "ECC_NIST_P256", "KEY_AGREEMENT", "kms:DeriveSharedSecret",
                            {"StringEquals": {"kms:KeyAgreementAlgorithm": "SM2"}})
    peer = root.get_public_key(KeyId=allowed)["PublicKey"]
    assert not denied(carol.derive_shared_secret, KeyId=allowed, KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert denied(carol.derive_shared_secret, KeyId=refused, KeyAgreementAlgorithm="ECDH", PublicKey=peer)


def test_data_key_pair_spec_condition_decides_generate_data_key_pair(clients):
    root, carol = clients
    arn = key_for_carol(root, "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "kms:GenerateDataKeyPairWithoutPlaintext",
                        {"StringLike": {"kms:DataKeyPairSpec": "ECC_NIST_*"}})
    assert not denied(carol.generate_data_key_pair_without_plaintext, KeyId=arn, KeyPairSpec="ECC_NIST_P256")
    assert denied(carol.generate_data_key_pair_without_plaintext, KeyId=arn, KeyPairSpec="ECC_SECG_P256K1")
    assert denied(carol.generate_data_key_pair, KeyId=arn, KeyPairSpec="ECC_NIST_P256")   # another action
