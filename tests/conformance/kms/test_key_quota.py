"""The AWS KMS keys resource quota: "You can have up to 100,000 customer managed keys in each Region
of your AWS account. This quota applies to all customer managed keys in all AWS Regions regardless
of their key spec or key state. ... AWS managed keys ... do not count against this quota." and "If
you have exceeded a resource limit, requests to create an additional resource of that type generate
an LimitExceededException error message."
https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html

CreateKey's and ReplicateKey's API references list LimitExceededException (400). The quota is made
small here (the constant the engine reads) so a test can reach it.
"""
from __future__ import annotations

import pytest

from keyplane.engine.kms import records


@pytest.fixture
def quota_of_three(monkeypatch):
    monkeypatch.setattr(records, "MAX_CUSTOMER_KEYS", 3)


def _key_ids(wire):
    return sorted(k["KeyId"] for k in wire.call("kms", "ListKeys", {}).body["Keys"])


def test_create_key_past_the_quota_is_limit_exceeded_and_creates_nothing(wire, quota_of_three):
    for _ in range(2):
        assert wire.call("kms", "CreateKey", {}).status == 200
    pending = wire.call("kms", "CreateKey", {}).body["KeyMetadata"]["KeyId"]
    # every key state counts: one pending deletion still holds its place
    assert wire.call("kms", "ScheduleKeyDeletion", {"KeyId": pending, "PendingWindowInDays": 7}).status == 200
    before = _key_ids(wire)
    answer = wire.call("kms", "CreateKey", {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"})
    status, code, message = answer.error()
    assert (status, code) == (400, "LimitExceededException")
    assert "3 customer managed KMS keys" in message
    assert _key_ids(wire) == before


def test_aws_managed_keys_do_not_count(wire, quota_of_three):
    """An AWS managed key (aws/ebs, made on first use) takes no place in the quota."""
    assert wire.call("kms", "DescribeKey", {"KeyId": "alias/aws/ebs"}).status == 200
    for _ in range(3):
        assert wire.call("kms", "CreateKey", {}).status == 200
    assert wire.call("kms", "CreateKey", {}).error()[1] == "LimitExceededException"


def test_the_quota_is_per_region(wire, quota_of_three):
    for _ in range(3):
        assert wire.call("kms", "CreateKey", {}).status == 200
    assert wire.call("kms", "CreateKey", {}).error()[1] == "LimitExceededException"
    assert wire.call("kms", "CreateKey", {}, region="us-west-2").status == 200
