"""Secrets Manager response members as AWS sends them: members left out when they have no value,
`Tags: []` once a secret's last tag is gone, the AWS managed key named DefaultEncryptionKey in
version lists, LastAccessedDate kept to the day on the version actually read."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from .sm_wire import token


def test_describe_secret_leaves_out_members_that_have_no_value(sm):
    """DescribeSecret's members are optional: a secret made with a name alone has no Description,
    KmsKeyId (the AWS managed key "is omitted"), Tags, VersionIdsToStages, RotationEnabled...
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    sm.create("shape/bare", value=None)
    out = sm.ok("DescribeSecret", {"SecretId": "shape/bare"})
    assert set(out) == {"ARN", "Name", "CreatedDate", "LastChangedDate"}, out
    listed = sm.ok("ListSecrets")["SecretList"][0]
    assert "SecretVersionsToStages" not in listed and "Description" not in listed, listed


def test_tags_are_an_empty_list_after_the_last_tag_is_removed(sm):
    """After UntagResource removes the last tag, DescribeSecret answers `Tags: []`; a secret that
    never had tags has no Tags member.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UntagResource.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    sm.create("shape/tags", "v")
    assert "Tags" not in sm.ok("DescribeSecret", {"SecretId": "shape/tags"})
    sm.ok("TagResource", {"SecretId": "shape/tags", "Tags": [{"Key": "env", "Value": "dev"}]})
    assert sm.ok("DescribeSecret", {"SecretId": "shape/tags"})["Tags"] == [{"Key": "env", "Value": "dev"}]
    sm.ok("UntagResource", {"SecretId": "shape/tags", "TagKeys": ["env"]})
    assert sm.ok("DescribeSecret", {"SecretId": "shape/tags"})["Tags"] == []


def test_version_list_names_the_aws_managed_key_default_encryption_key(sm, engine):
    """ListSecretVersionIds' KmsKeyIds: "The KMS keys used to encrypt the secret version" — for a
    secret under aws/secretsmanager AWS lists `DefaultEncryptionKey`; a customer managed key is
    listed by its ARN.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretVersionsListEntry.html"""
    sm.create("shape/default-key", "v")
    entry = sm.ok("ListSecretVersionIds", {"SecretId": "shape/default-key"})["Versions"][0]
    assert entry["KmsKeyIds"] == ["DefaultEncryptionKey"]

    import keyplane
    key_arn = keyplane.connect(engine=engine).client("kms", region="us-east-1").create_key()["KeyMetadata"]["Arn"]
    sm.create("shape/own-key", "v", KmsKeyId=key_arn)
    entry = sm.ok("ListSecretVersionIds", {"SecretId": "shape/own-key"})["Versions"][0]
    assert entry["KmsKeyIds"] == [key_arn]


def test_last_accessed_date_is_the_day_of_the_read_on_the_version_read(clocked, clock):
    """LastAccessedDate: "The date that this version of the secret was last accessed. Note that
    the resolution of this field is at the date level and does not include the time." — it is set
    on the version GetSecretValue returned, not on the others; DescribeSecret's is the same day.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretVersionsListEntry.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    first = clocked.create("shape/accessed", "a")["VersionId"]
    second = clocked.ok("PutSecretValue", {"SecretId": "shape/accessed", "SecretString": "b",
                                        "ClientRequestToken": token()})["VersionId"]
    clocked.ok("GetSecretValue", {"SecretId": "shape/accessed"})
    clock.advance(timedelta(hours=1))     # same day: the previous version is read now
    clocked.ok("GetSecretValue", {"SecretId": "shape/accessed", "VersionStage": "AWSPREVIOUS"})
    midnight = datetime(2026, 1, 15, tzinfo=timezone.utc).timestamp()
    versions = {v["VersionId"]: v for v in
                clocked.ok("ListSecretVersionIds", {"SecretId": "shape/accessed"})["Versions"]}
    assert versions[first]["LastAccessedDate"] == midnight
    assert versions[second]["LastAccessedDate"] == midnight
    assert clocked.ok("DescribeSecret", {"SecretId": "shape/accessed"})["LastAccessedDate"] == midnight

    clock.advance(timedelta(days=2))
    clocked.ok("GetSecretValue", {"SecretId": "shape/accessed", "VersionId": first})
    versions = {v["VersionId"]: v for v in
                clocked.ok("ListSecretVersionIds", {"SecretId": "shape/accessed"})["Versions"]}
    assert versions[first]["LastAccessedDate"] == midnight + 2 * 86400
    assert versions[second]["LastAccessedDate"] == midnight


def test_a_version_never_read_has_no_last_accessed_date(sm):
    """"This field is omitted if the secret has never been retrieved".
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html"""
    sm.create("shape/unread", "a")
    assert "LastAccessedDate" not in sm.ok("ListSecretVersionIds", {"SecretId": "shape/unread"})["Versions"][0]
    assert "LastAccessedDate" not in sm.ok("DescribeSecret", {"SecretId": "shape/unread"})
