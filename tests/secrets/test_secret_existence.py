"""Which secrets exist is itself protected: a caller without the permission gets AccessDenied
whether or not the secret is there, and BatchGetSecretValue needs its own permission.

BatchGetSecretValue: "Required permissions: secretsmanager:BatchGetSecretValue, and you must have
secretsmanager:GetSecretValue for each secret. If you use filters, you must also have
secretsmanager:ListSecrets." (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html)
IAM evaluates the identity policy against the resource the request names before the service looks
it up (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html), so
a caller allowed nothing on a name learns nothing about it.
"""
from __future__ import annotations

import botocore.exceptions
import pytest

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities

A = "111122223333"


def _policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource="*"):
    return {"Effect": "Allow", "Action": action, "Resource": resource}


APP = f"arn:aws:secretsmanager:us-east-1:{A}:secret:app/*"


@pytest.fixture
def world(tmp_path, clock):
    users = [
        {"name": "nobody"},
        {"name": "getter", "policies": [{"name": "p", "document": _policy(
            _allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], APP))}]},
        {"name": "batcher", "policies": [{"name": "p", "document": _policy(
            _allow("secretsmanager:BatchGetSecretValue"),
            _allow(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], APP))}]},
    ]
    engine = Engine(str(tmp_path / "state"), clock=clock, default_account=A,
                    identities=Identities({"accounts": [{"id": A, "users": users}]}))
    owner = keyplane.connect(engine=engine, account=A).client("secretsmanager")
    owner.create_secret(Name="app/a", SecretString="a")
    owner.create_secret(Name="other/b", SecretString="b")

    def client(user):
        return keyplane.connect(engine=engine, principal=f"arn:aws:iam::{A}:user/{user}").client("secretsmanager")
    yield client
    engine.close()


def _code(fn, **kwargs) -> str:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        fn(**kwargs)
    return exc.value.response["Error"]["Code"]


def test_describe_secret_does_not_tell_a_caller_without_permission_what_exists(world):
    nobody = world("nobody")
    assert _code(nobody.describe_secret, SecretId="app/a") == "AccessDeniedException"
    assert _code(nobody.describe_secret, SecretId="app/none") == "AccessDeniedException"
    assert _code(nobody.get_secret_value, SecretId="app/none") == "AccessDeniedException"


def test_a_caller_allowed_on_the_name_is_told_it_does_not_exist(world):
    getter = world("getter")
    assert _code(getter.describe_secret, SecretId="app/none") == "ResourceNotFoundException"
    assert _code(getter.describe_secret, SecretId="other/none") == "AccessDeniedException"
    assert getter.describe_secret(SecretId="app/a")["Name"] == "app/a"


def test_batch_get_secret_value_needs_its_own_permission(world):
    getter = world("getter")            # GetSecretValue on app/*, but not BatchGetSecretValue
    for ids in (["app/a"], ["app/none"], ["other/b"]):
        assert _code(getter.batch_get_secret_value, SecretIdList=ids) == "AccessDeniedException"


def test_batch_errors_do_not_reveal_secrets_the_caller_may_not_read(world):
    out = world("batcher").batch_get_secret_value(SecretIdList=["app/a", "other/b", "other/none", "app/none"])
    assert [v["Name"] for v in out["SecretValues"]] == ["app/a"]
    errors = {e["SecretId"]: e["ErrorCode"] for e in out["Errors"]}
    assert errors == {"other/b": "AccessDeniedException", "other/none": "AccessDeniedException",
                      "app/none": "ResourceNotFoundException"}
    assert all("arn:" not in e["Message"] or "other/b-" not in e["Message"] for e in out["Errors"])
