"""keyplane.testing.mock_keyplane: boto3 clients created inside the block reach an isolated
in-memory keyplane whose clock the test drives; outside it nothing is intercepted."""
from __future__ import annotations

import os
from datetime import timedelta

import boto3
import botocore.exceptions
import pytest

from keyplane.testing import mock_keyplane


def test_boto3_clients_made_inside_the_block_reach_an_isolated_keyplane():
    with mock_keyplane() as kp:
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key(Description="mocked")["KeyMetadata"]
        assert key["Arn"].startswith("arn:aws:kms:us-east-1:000000000000:key/")
        blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hi")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hi"
        ssm = boto3.client("ssm")
        ssm.put_parameter(Name="/app/x", Value="1", Type="String")
        assert ssm.get_parameter(Name="/app/x")["Parameter"]["Value"] == "1"
        sm = boto3.session.Session().client("secretsmanager", region_name="eu-west-1")
        arn = sm.create_secret(Name="s", SecretString="v")["ARN"]
        assert ":eu-west-1:000000000000:" in arn

        kp.reset()
        assert kms.list_keys()["Keys"] == []


def test_the_mock_clock_drives_deletion_windows():
    with mock_keyplane() as kp:
        kms = boto3.client("kms", region_name="us-east-1")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        kp.clock.advance(timedelta(days=8))
        kp.run_due()
        with pytest.raises(botocore.exceptions.ClientError) as gone:
            kms.describe_key(KeyId=key)
        assert gone.value.response["Error"]["Code"] == "NotFoundException"


def test_other_services_get_keyplanes_not_served_error_never_aws():
    with mock_keyplane():
        s3 = boto3.client("s3", region_name="us-east-1")
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            s3.list_buckets()
        assert "keyplane does not serve" in refused.value.response["Error"]["Message"]


def test_nothing_is_intercepted_or_left_behind_after_the_block(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with mock_keyplane():
        assert os.environ["AWS_ACCESS_KEY_ID"] == "test"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "mine" and "AWS_SECRET_ACCESS_KEY" not in os.environ
    from keyplane import testing
    assert testing._active == []
    # a client made now sends to its real endpoint: the hook answers nothing
    client = boto3.session.Session().client("kms", region_name="us-east-1", aws_access_key_id="a",
                                            aws_secret_access_key="b")
    assert client.meta.endpoint_url == "https://kms.us-east-1.amazonaws.com"
    assert testing._before_send(request=None, event_name="before-send.kms.ListKeys") is None


def test_two_mocks_do_not_share_state():
    with mock_keyplane():
        boto3.client("kms", region_name="us-east-1").create_key()
    with mock_keyplane():
        assert boto3.client("kms", region_name="us-east-1").list_keys()["Keys"] == []
