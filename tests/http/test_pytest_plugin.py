"""keyplane's pytest plugin as a user's project meets it: a test file outside this repository that
asks for the `keyplane_mock` and `keyplane_server` fixtures by name (no import, no conftest: the
`pytest11` entry point brings them), run by pytest in its own process. Each test gets an empty
keyplane: the mock is new per test; the served one is started once and emptied before each test
(POST /_keyplane/reset), which is what the README's CI section promises.

boto3 clients are made as a user's code makes them, from the environment the fixtures set
(https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html: AWS_ENDPOINT_URL_<SERVICE>)."""
from __future__ import annotations

import os
import subprocess
import sys

USERS_TESTS = '''
import boto3
import pytest
from botocore.exceptions import ClientError


def test_served_one_holds_what_a_test_made(keyplane_server):
    kms = keyplane_server.client("kms")
    kms.create_key(Description="first test")
    assert len(kms.list_keys()["Keys"]) == 1
    keyplane_server.client("ssm").put_parameter(Name="/p", Value="v", Type="String")
    keyplane_server.client("secretsmanager").create_secret(Name="s", SecretString="v")  # + aws/secretsmanager
    assert len(kms.list_keys()["Keys"]) == 2


def test_served_one_is_empty_for_the_next_test(keyplane_server):
    assert keyplane_server.client("kms").list_keys()["Keys"] == []
    assert keyplane_server.client("ssm").describe_parameters()["Parameters"] == []
    assert keyplane_server.client("secretsmanager").list_secrets()["SecretList"] == []


def test_mock_reached_by_any_boto3_client(keyplane_mock):
    kms = boto3.client("kms")
    kms.create_key()
    assert len(kms.list_keys()["Keys"]) == 1


def test_mock_is_new_for_each_test(keyplane_mock):
    assert boto3.client("kms").list_keys()["Keys"] == []
    with pytest.raises(ClientError):
        boto3.client("kms").describe_key(KeyId="alias/none")
'''


def test_the_fixtures_give_each_test_an_empty_keyplane(tmp_path):
    (tmp_path / "test_users_code.py").write_text(USERS_TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KEYPLANE_"))}
    env["AWS_CONFIG_FILE"] = env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_users_code.py"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "4 passed" in run.stdout
