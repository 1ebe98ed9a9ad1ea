"""Path-based identity policies on parameters, and kms:Decrypt for SecureString reads: the caller's
own IAM policies decide, through the engine's one authorisation hook."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities

A = "111122223333"
DEV = f"arn:aws:iam::{A}:user/dev"
READER = f"arn:aws:iam::{A}:user/reader"


def _identities() -> Identities:
    dev_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter*"],
         # the path itself (GetParametersByPath is authorised on it) and what is below it
         "Resource": [f"arn:aws:ssm:us-east-1:{A}:parameter/my-app/dev",
                      f"arn:aws:ssm:us-east-1:{A}:parameter/my-app/dev/*"]}]}
    reader_policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ssm:GetParameter"], "Resource": f"arn:aws:ssm:us-east-1:{A}:parameter/*"}]}
    return Identities({"accounts": [{"id": A, "users": [
        {"name": "dev", "policies": [{"name": "dev-params", "document": dev_policy}]},
        {"name": "reader", "policies": [{"name": "read", "document": reader_policy}]}]}]})


@pytest.fixture
def world(tmp_path, clock):
    engine = Engine(str(tmp_path / "state"), clock=clock, identities=_identities(), default_account=A)
    yield engine, keyplane.connect(engine=engine, account=A).client("ssm")
    engine.close()


def _code(fn) -> str:
    with pytest.raises(ClientError) as e:
        fn()
    return e.value.response["Error"]["Code"]


def test_path_policy_allows_dev_and_not_prod(world):
    engine, admin = world
    admin.put_parameter(Name="/my-app/dev/db", Value="dev-db", Type="String")
    admin.put_parameter(Name="/my-app/prod/db", Value="prod-db", Type="String")
    dev = keyplane.connect(engine=engine, principal=DEV).client("ssm")
    assert dev.get_parameter(Name="/my-app/dev/db")["Parameter"]["Value"] == "dev-db"
    assert _code(lambda: dev.get_parameter(Name="/my-app/prod/db")) == "AccessDeniedException"
    assert _code(lambda: dev.put_parameter(Name="/my-app/dev/x", Value="1", Type="String")) == "AccessDeniedException"
    # GetParametersByPath is authorised on the path
    names = [p["Name"] for p in dev.get_parameters_by_path(Path="/my-app/dev")["Parameters"]]
    assert names == ["/my-app/dev/db"]
    assert _code(lambda: dev.get_parameters_by_path(Path="/my-app/prod")) == "AccessDeniedException"


def test_securestring_needs_kms_decrypt_for_the_caller_on_a_customer_key(world):
    engine, admin = world
    kms = keyplane.connect(engine=engine, account=A).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]      # default key policy: IAM decides
    admin.put_parameter(Name="/app/secret", Value="s3cr3t", Type="SecureString", KeyId=key)
    reader = keyplane.connect(engine=engine, principal=READER).client("ssm")
    # the ciphertext is readable with ssm:GetParameter alone; the plaintext needs kms:Decrypt
    assert reader.get_parameter(Name="/app/secret")["Parameter"]["Value"] != "s3cr3t"
    assert _code(lambda: reader.get_parameter(Name="/app/secret", WithDecryption=True)) == "AccessDeniedException"
    assert admin.get_parameter(Name="/app/secret", WithDecryption=True)["Parameter"]["Value"] == "s3cr3t"
