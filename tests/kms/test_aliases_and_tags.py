"""Aliases and tags with AWS's rules and errors."""
import pytest
from botocore.exceptions import ClientError


def code(e):
    return e.value.response["Error"]["Code"]


def test_alias_lifecycle_create_update_delete(kms):
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=a["KeyId"])
    entry = kms.list_aliases(KeyId=a["KeyId"])["Aliases"]
    assert [(e["AliasName"], e["TargetKeyId"]) for e in entry] == [("alias/app", a["KeyId"])]
    assert entry[0]["AliasArn"] == f"arn:aws:kms:us-east-1:{a['AWSAccountId']}:alias/app"
    kms.update_alias(AliasName="alias/app", TargetKeyId=b["Arn"])
    assert kms.encrypt(KeyId="alias/app", Plaintext=b"x")["KeyId"] == b["Arn"]
    assert kms.list_aliases(KeyId=a["KeyId"])["Aliases"] == []
    kms.delete_alias(AliasName="alias/app")
    with pytest.raises(ClientError) as e:
        kms.encrypt(KeyId="alias/app", Plaintext=b"x")
    assert code(e) == "NotFoundException"


def test_duplicate_alias_is_already_exists(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/dup", TargetKeyId=key)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/dup", TargetKeyId=key)
    assert code(e) == "AlreadyExistsException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_alias_names_must_start_with_alias_and_not_alias_aws(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="orders", TargetKeyId=key)
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key)
    assert code(e) == "InvalidAliasNameException"
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/has space", TargetKeyId=key)
    assert code(e) == "ValidationException"
    assert "regular expression pattern" in e.value.response["Error"]["Message"]
    assert kms.list_aliases(KeyId=key)["Aliases"] == []


def test_alias_target_must_be_a_key_id_not_an_alias(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/one", TargetKeyId=key)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/two", TargetKeyId="alias/one")
    assert code(e) == "InvalidArnException"


def test_alias_cannot_point_to_a_key_pending_deletion(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/late", TargetKeyId=key)
    assert code(e) == "KMSInvalidStateException"


def test_a_key_can_have_at_most_50_aliases(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for i in range(50):
        kms.create_alias(AliasName=f"alias/a{i:02d}", TargetKeyId=key)
    with pytest.raises(ClientError) as e:
        kms.create_alias(AliasName="alias/a50", TargetKeyId=key)
    assert code(e) == "LimitExceededException"


def test_list_aliases_includes_predefined_aws_aliases_and_paginates(kms):
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/aws/ssm" in names and "alias/aws/secretsmanager" in names
    first = kms.list_aliases(Limit=3)
    assert len(first["Aliases"]) == 3 and first["Truncated"]
    second = kms.list_aliases(Limit=3, Marker=first["NextMarker"])
    assert second["Aliases"][0]["AliasName"] > first["Aliases"][-1]["AliasName"]


def test_delete_missing_alias_is_not_found(kms):
    with pytest.raises(ClientError) as e:
        kms.delete_alias(AliasName="alias/none")
    assert code(e) == "NotFoundException"


def test_tags_add_replace_remove_and_list(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "b", "TagValue": "1"}, {"TagKey": "a", "TagValue": "2"}])
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "b", "TagValue": "3"}])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "a", "TagValue": "2"},
                                                         {"TagKey": "b", "TagValue": "3"}]
    kms.untag_resource(KeyId=key, TagKeys=["a"])
    assert kms.list_resource_tags(KeyId=key)["Tags"] == [{"TagKey": "b", "TagValue": "3"}]


def test_aws_prefixed_tag_keys_are_reserved(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": "aws:owner", "TagValue": "x"}])
    assert code(e) == "TagException"
    assert kms.list_resource_tags(KeyId=key)["Tags"] == []


def test_more_than_50_tags_is_too_many_tags_and_adds_none(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(45)])
    with pytest.raises(ClientError) as e:
        kms.tag_resource(KeyId=key, Tags=[{"TagKey": f"n{i}", "TagValue": "v"} for i in range(6)])
    assert code(e) == "TagException" and e.value.response["Error"]["Message"] == "Too many tags"
    assert len(kms.list_resource_tags(KeyId=key, Limit=50)["Tags"]) == 45


def test_list_resource_tags_paginates(kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": f"k{i}", "TagValue": "v"} for i in range(5)])
    page = kms.list_resource_tags(KeyId=key, Limit=2)
    assert page["Truncated"] and [t["TagKey"] for t in page["Tags"]] == ["k0", "k1"]
    rest = kms.list_resource_tags(KeyId=key, Limit=10, Marker=page["NextMarker"])
    assert [t["TagKey"] for t in rest["Tags"]] == ["k2", "k3", "k4"] and not rest["Truncated"]
