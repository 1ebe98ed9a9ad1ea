"""Parameter Store through a real boto3 client in-process: every parameter operation, its limits and
its AWS error paths."""
from __future__ import annotations

import json
import sqlite3

import pytest
from botocore.exceptions import ClientError

from keyplane.engine.ssm import parameters as params_mod


@pytest.fixture
def ssm(kp):
    return kp.client("ssm", region="us-east-1")


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def put(ssm, name, value="v", type_="String", **kw):
    return ssm.put_parameter(Name=name, Value=value, Type=type_, **kw)


# ---- PutParameter / GetParameter ---------------------------------------------------------------
def test_put_then_get_returns_value_version_arn_and_datatype(ssm):
    assert put(ssm, "/app/dev/url", "https://x")["Version"] == 1
    p = ssm.get_parameter(Name="/app/dev/url")["Parameter"]
    assert p["Value"] == "https://x" and p["Version"] == 1 and p["Type"] == "String"
    assert p["ARN"] == "arn:aws:ssm:us-east-1:111122223333:parameter/app/dev/url"
    assert p["DataType"] == "text"


def test_put_existing_without_overwrite_is_parameter_already_exists_and_changes_nothing(ssm):
    put(ssm, "/a", "one")
    with pytest.raises(ClientError) as e:
        put(ssm, "/a", "two")
    assert code(e) == "ParameterAlreadyExists"
    assert ssm.get_parameter(Name="/a")["Parameter"]["Value"] == "one"


def test_overwrite_makes_a_new_version(ssm):
    put(ssm, "/a", "one")
    assert ssm.put_parameter(Name="/a", Value="two", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name="/a")["Parameter"]["Value"] == "two"
    assert ssm.get_parameter(Name="/a:1")["Parameter"]["Value"] == "one"


def test_name_with_and_without_leading_slash_is_one_parameter(ssm):
    put(ssm, "TestParam1", "x")
    with pytest.raises(ClientError) as e:
        put(ssm, "/TestParam1", "y")
    assert code(e) == "ParameterAlreadyExists"
    # GetParameter echoes the name as asked; DescribeParameters shows AWS's one-level form (no slash):
    # https://github.com/hashicorp/terraform-provider-aws/pull/49339
    assert ssm.get_parameter(Name="/TestParam1")["Parameter"]["Name"] == "/TestParam1"
    assert ssm.get_parameter(Name="TestParam1")["Parameter"]["Name"] == "TestParam1"
    assert [d["Name"] for d in ssm.describe_parameters()["Parameters"]] == ["TestParam1"]


def test_type_is_required_on_create(ssm):
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/a", Value="x")
    assert code(e) == "ValidationException"


@pytest.mark.parametrize("name", ["awsTest", "/aws/x", "SSM-x", "/ssm/a", "a b", "bad$name", "a/b"])
def test_invalid_or_reserved_names_are_validation_errors(ssm, name):
    with pytest.raises(ClientError) as e:
        put(ssm, name)
    assert code(e) == "ValidationException"


def test_hierarchy_deeper_than_15_levels_is_rejected(ssm):
    put(ssm, "/" + "/".join(f"l{i}" for i in range(15)))
    with pytest.raises(ClientError) as e:
        put(ssm, "/" + "/".join(f"l{i}" for i in range(16)))
    assert code(e) == "HierarchyLevelLimitExceededException"


def test_name_longer_than_1011_with_arn_prefix_is_rejected(ssm):
    prefix = len("arn:aws:ssm:us-east-1:111122223333:parameter/")
    put(ssm, "/" + "a" * (1011 - prefix))
    with pytest.raises(ClientError) as e:
        put(ssm, "/" + "b" * (1012 - prefix))
    assert code(e) == "ValidationException"


def test_an_overwrite_may_change_the_type(ssm):
    """Terraform's aws_ssm_parameter changes `type` in place (TestAccSSMParameter_updateType, run on AWS)."""
    put(ssm, "/a", "x")
    assert ssm.put_parameter(Name="/a", Value="x", Type="SecureString", Overwrite=True)["Version"] == 2
    assert ssm.get_parameter(Name="/a", WithDecryption=True)["Parameter"]["Type"] == "SecureString"


def test_tags_with_overwrite_is_validation_error(ssm):
    put(ssm, "/a")
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/a", Value="y", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}])
    assert code(e) == "ValidationException"
    assert ssm.get_parameter(Name="/a")["Parameter"]["Version"] == 1


def test_allowed_pattern_is_enforced_and_an_invalid_pattern_is_refused(ssm):
    put(ssm, "/port", "8080", AllowedPattern=r"^\d+$")
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/port", Value="http", Overwrite=True)
    assert code(e) == "ParameterPatternMismatchException"
    assert "allowedPattern" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        put(ssm, "/other", "x", AllowedPattern="([")
    assert code(e) == "InvalidAllowedPatternException"


def test_value_size_limits_per_tier(ssm):
    with pytest.raises(ClientError) as e:
        put(ssm, "/big", "x" * 4097)
    assert code(e) == "ValidationException"
    assert put(ssm, "/big", "x" * 4097, Tier="Advanced")["Tier"] == "Advanced"
    assert put(ssm, "/intel", "x" * 5000, Tier="Intelligent-Tiering")["Tier"] == "Advanced"
    assert put(ssm, "/small", "x", Tier="Intelligent-Tiering")["Tier"] == "Standard"
    with pytest.raises(ClientError) as e:
        put(ssm, "/huge", "x" * 8193, Tier="Advanced")
    assert code(e) == "ValidationException"


def test_advanced_cannot_be_downgraded_to_standard(ssm):
    put(ssm, "/a", "x", Tier="Advanced")
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/a", Value="y", Overwrite=True, Tier="Standard")
    assert code(e) == "ValidationException"
    assert ssm.put_parameter(Name="/a", Value="y", Overwrite=True)["Tier"] == "Advanced"


def test_parameter_quota_is_parameter_limit_exceeded(ssm, monkeypatch):
    monkeypatch.setitem(params_mod.QUOTAS, "Standard", 2)
    put(ssm, "/q1")
    put(ssm, "/q2")
    with pytest.raises(ClientError) as e:
        put(ssm, "/q3")
    assert code(e) == "ParameterLimitExceeded"
    # Intelligent-Tiering moves to Advanced when Standard is full
    assert put(ssm, "/q4", Tier="Intelligent-Tiering")["Tier"] == "Advanced"


def test_nested_parameter_reference_in_value_is_rejected(ssm):
    with pytest.raises(ClientError) as e:
        put(ssm, "/a", "{{ssm:/other}}")
    assert code(e) == "ValidationException"


def test_ec2_image_datatype_checks_the_ami_format(ssm):
    put(ssm, "/ami", "ami-0123456789abcdef0", DataType="aws:ec2:image")
    assert ssm.get_parameter(Name="/ami")["Parameter"]["DataType"] == "aws:ec2:image"
    # validated after the answer: the call succeeds, the parameter is not created
    assert put(ssm, "/ami2", "not-an-ami", DataType="aws:ec2:image")["Version"] == 1
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/ami2")
    assert code(e) == "ParameterNotFound"
    with pytest.raises(ClientError) as e:
        put(ssm, "/x", "1", DataType="number")
    assert code(e) == "ValidationException"


def test_oldest_version_is_dropped_after_100_unless_labelled(ssm):
    put(ssm, "/v", "0")
    for i in range(1, 100):
        ssm.put_parameter(Name="/v", Value=str(i), Overwrite=True)
    ssm.label_parameter_version(Name="/v", ParameterVersion=1, Labels=["keep"])
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/v", Value="100", Overwrite=True)
    assert code(e) == "ParameterMaxVersionLimitExceeded"
    ssm.unlabel_parameter_version(Name="/v", ParameterVersion=1, Labels=["keep"])
    assert ssm.put_parameter(Name="/v", Value="100", Overwrite=True)["Version"] == 101
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/v:1")
    assert code(e) == "ParameterVersionNotFound"
    history = ssm.get_paginator("get_parameter_history").paginate(Name="/v")
    versions = [p["Version"] for page in history for p in page["Parameters"]]
    assert versions == list(range(2, 102))


def test_get_missing_is_parameter_not_found_and_missing_version_is_version_not_found(ssm):
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/nope")
    assert code(e) == "ParameterNotFound"
    put(ssm, "/a")
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/a:7")
    assert code(e) == "ParameterVersionNotFound"


def test_get_by_arn_and_label_selector_echoes_selector(ssm):
    put(ssm, "/a", "one")
    ssm.put_parameter(Name="/a", Value="two", Overwrite=True)
    ssm.label_parameter_version(Name="/a", ParameterVersion=1, Labels=["prod"])
    p = ssm.get_parameter(Name="/a:prod")["Parameter"]
    assert (p["Value"], p["Version"], p["Selector"]) == ("one", 1, ":prod")
    arn = "arn:aws:ssm:us-east-1:111122223333:parameter/a"
    assert ssm.get_parameter(Name=arn)["Parameter"]["Value"] == "two"
    assert ssm.get_parameter(Name=arn + ":1")["Parameter"]["Value"] == "one"


# ---- SecureString --------------------------------------------------------------------------------
def test_securestring_is_ciphertext_at_rest_and_without_decryption(ssm, engine, kp):
    put(ssm, "/db/password", "hunter2-very-secret", "SecureString")
    raw = ssm.get_parameter(Name="/db/password")["Parameter"]["Value"]
    assert "hunter2" not in raw
    assert ssm.get_parameter(Name="/db/password", WithDecryption=True)["Parameter"]["Value"] == "hunter2-very-secret"
    db = sqlite3.connect(engine.store_for("us-east-1").path)
    dump = "\n".join(db.iterdump())
    assert "hunter2-very-secret" not in dump
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/db/password"]}])["Parameters"][0]
    assert meta["KeyId"] == "alias/aws/ssm"
    aliases = kp.client("kms").list_aliases()["Aliases"]
    assert any(a["AliasName"] == "alias/aws/ssm" and a.get("TargetKeyId") for a in aliases)


def test_securestring_ciphertext_is_bound_to_the_parameter_arn(ssm, kp):
    import base64
    kms = kp.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    put(ssm, "/s", "secret", "SecureString", KeyId=key)
    blob = base64.b64decode(ssm.get_parameter(Name="/s")["Parameter"]["Value"])
    with pytest.raises(ClientError) as e:
        kms.decrypt(CiphertextBlob=blob)
    assert e.value.response["Error"]["Code"] == "InvalidCiphertextException"
    ctx = {"PARAMETER_ARN": "arn:aws:ssm:us-east-1:111122223333:parameter/s"}
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"secret"


def test_aws_managed_ssm_key_is_usable_only_through_parameter_store(ssm, kp):
    import base64
    put(ssm, "/m", "secret", "SecureString")
    blob = base64.b64decode(ssm.get_parameter(Name="/m")["Parameter"]["Value"])
    ctx = {"PARAMETER_ARN": "arn:aws:ssm:us-east-1:111122223333:parameter/m"}
    with pytest.raises(ClientError) as e:
        kp.client("kms").decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert ssm.get_parameter(Name="/m", WithDecryption=True)["Parameter"]["Value"] == "secret"


def test_securestring_with_customer_key_and_advanced_envelope(ssm, kp):
    kms = kp.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key)
    put(ssm, "/adv", "y" * 6000, "SecureString", KeyId="alias/app", Tier="Advanced")
    put(ssm, "/std", "z", "SecureString", KeyId=key)
    assert ssm.get_parameter(Name="/adv", WithDecryption=True)["Parameter"]["Value"] == "y" * 6000
    assert ssm.get_parameter(Name="/std", WithDecryption=True)["Parameter"]["Value"] == "z"
    kms.disable_key(KeyId=key)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/std", WithDecryption=True)
    assert code(e) == "InvalidKeyId"
    # without decryption the key is not needed
    assert ssm.get_parameter(Name="/std")["Parameter"]["Value"] != "z"


def test_securestring_with_unknown_key_is_invalid_key_id(ssm):
    with pytest.raises(ClientError) as e:
        put(ssm, "/s", "x", "SecureString", KeyId="alias/nope")
    assert code(e) == "InvalidKeyId"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/s")
    assert code(e) == "ParameterNotFound"


def test_keyid_on_a_string_parameter_is_refused(ssm):
    with pytest.raises(ClientError) as e:
        put(ssm, "/s", "x", "String", KeyId="alias/aws/ssm")
    assert code(e) == "ValidationException"


def test_kms_calls_are_made_via_ssm_for_the_caller(ssm, engine):
    put(ssm, "/s", "x", "SecureString")
    ssm.get_parameter(Name="/s", WithDecryption=True)
    records = engine.audit.query(engine.store_for("us-east-1"), event_name="Decrypt", limit=5)
    assert records and records[0]["userIdentity"]["invokedBy"] == "ssm.amazonaws.com"
    assert records[0]["requestParameters"]["encryptionContext"] == {
        "PARAMETER_ARN": "arn:aws:ssm:us-east-1:111122223333:parameter/s"}


def test_audit_never_holds_the_value(ssm, engine):
    put(ssm, "/s", "top-secret-value", "SecureString")
    put(ssm, "/p", "plain-value")
    recs = engine.audit.query(engine.store_for("us-east-1"), event_name="PutParameter", limit=5)
    assert recs and all("top-secret-value" not in json.dumps(r) for r in recs)


# ---- GetParameters -------------------------------------------------------------------------------
def test_get_parameters_returns_found_sorted_and_invalid(ssm):
    put(ssm, "/b", "2")
    put(ssm, "/a", "1")
    out = ssm.get_parameters(Names=["/b", "/a", "/missing", "/a:9"])
    assert [p["Name"] for p in out["Parameters"]] == ["/a", "/b"]
    assert sorted(out["InvalidParameters"]) == ["/a:9", "/missing"]


def test_get_parameters_more_than_ten_is_validation_error(ssm):
    with pytest.raises(ClientError) as e:
        ssm.get_parameters(Names=[f"/p{i}" for i in range(11)])
    assert code(e) == "ValidationException"


# ---- GetParametersByPath -------------------------------------------------------------------------
def test_get_parameters_by_path_one_level_and_recursive(ssm):
    for n in ["/app/dev/a", "/app/dev/b", "/app/dev/deep/c", "/app/prod/a", "/app/devx"]:
        put(ssm, n)
    one = ssm.get_parameters_by_path(Path="/app/dev")["Parameters"]
    assert [p["Name"] for p in one] == ["/app/dev/a", "/app/dev/b"]
    rec = ssm.get_paginator("get_parameters_by_path").paginate(Path="/app/dev/", Recursive=True)
    assert [p["Name"] for page in rec for p in page["Parameters"]] == ["/app/dev/a", "/app/dev/b", "/app/dev/deep/c"]


def test_get_parameters_by_path_pages_with_next_token(ssm):
    for i in range(25):
        put(ssm, f"/many/p{i:02d}", str(i))
    first = ssm.get_parameters_by_path(Path="/many", MaxResults=10)
    assert len(first["Parameters"]) == 10 and "NextToken" in first
    names = [p["Name"] for p in first["Parameters"]]
    token = first["NextToken"]
    while token:
        page = ssm.get_parameters_by_path(Path="/many", MaxResults=10, NextToken=token)
        names += [p["Name"] for p in page["Parameters"]]
        token = page.get("NextToken")
    assert names == [f"/many/p{i:02d}" for i in range(25)]
    with pytest.raises(ClientError) as e:
        ssm.get_parameters_by_path(Path="/many", NextToken="garbage")
    assert code(e) == "InvalidNextToken"


def test_get_parameters_by_path_filters_and_decryption(ssm):
    put(ssm, "/f/s", "secret", "SecureString")
    put(ssm, "/f/t", "plain")
    put(ssm, "/f/l", "a,b", "StringList")
    out = ssm.get_parameters_by_path(Path="/f", WithDecryption=True,
                                     ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}])
    assert [(p["Name"], p["Value"]) for p in out["Parameters"]] == [("/f/s", "secret")]
    ssm.put_parameter(Name="/f/t", Value="plain2", Overwrite=True)
    ssm.label_parameter_version(Name="/f/t", ParameterVersion=1, Labels=["stable"])
    out = ssm.get_parameters_by_path(Path="/f", ParameterFilters=[{"Key": "Label", "Option": "Equals",
                                                                    "Values": ["stable"]}])
    assert [(p["Name"], p["Value"]) for p in out["Parameters"]] == [("/f/t", "plain")]


@pytest.mark.parametrize("flt,err", [({"Key": "Name", "Values": ["x"]}, "InvalidFilterKey"),
                                     ({"Key": "Tier", "Values": ["Standard"]}, "InvalidFilterKey"),
                                     ({"Key": "Label", "Option": "BeginsWith", "Values": ["x"]}, "InvalidFilterOption"),
                                     ({"Key": "Type", "Values": ["Nope"]}, "InvalidFilterValue")])
def test_get_parameters_by_path_bad_filters(ssm, flt, err):
    with pytest.raises(ClientError) as e:
        ssm.get_parameters_by_path(Path="/", ParameterFilters=[flt])
    assert code(e) == err


def test_get_parameters_by_path_needs_leading_slash(ssm):
    with pytest.raises(ClientError) as e:
        ssm.get_parameters_by_path(Path="app")
    assert code(e) == "ValidationException"


# ---- deletes -------------------------------------------------------------------------------------
def test_delete_parameter_and_missing_is_not_found(ssm):
    put(ssm, "/a")
    ssm.delete_parameter(Name="/a")
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/a")
    assert code(e) == "ParameterNotFound"
    with pytest.raises(ClientError) as e:
        ssm.delete_parameter(Name="/a")
    assert code(e) == "ParameterNotFound"


def test_delete_parameters_reports_deleted_and_invalid(ssm):
    put(ssm, "/a")
    put(ssm, "/b")
    out = ssm.delete_parameters(Names=["/a", "/b", "/c"])
    assert out["DeletedParameters"] == ["/a", "/b"] and out["InvalidParameters"] == ["/c"]
    assert ssm.describe_parameters()["Parameters"] == []


# ---- DescribeParameters --------------------------------------------------------------------------
def test_describe_parameters_filters(ssm):
    put(ssm, "/app/a", "1", Tags=[{"Key": "team", "Value": "core"}])
    put(ssm, "/app/b", "2", "SecureString", Description="secret b")
    put(ssm, "/other/c", "3", Tier="Advanced")

    def names(**kw):
        pages = ssm.get_paginator("describe_parameters").paginate(**kw)
        return [p["Name"] for page in pages for p in page["Parameters"]]

    assert names() == ["/app/a", "/app/b", "/other/c"]
    assert names(ParameterFilters=[{"Key": "Type", "Values": ["SecureString"]}]) == ["/app/b"]
    assert names(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}]) == ["/app/a", "/app/b"]
    assert names(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/app"]}]) == ["/app/a", "/app/b"]
    assert names(ParameterFilters=[{"Key": "Name", "Option": "Contains", "Values": ["her"]}]) == ["/other/c"]
    assert names(ParameterFilters=[{"Key": "Tier", "Values": ["Advanced"]}]) == ["/other/c"]
    assert names(ParameterFilters=[{"Key": "tag:team", "Values": ["core"]}]) == ["/app/a"]
    assert names(Filters=[{"Key": "Type", "Values": ["SecureString"]}]) == ["/app/b"]
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/app/b"]}])["Parameters"][0]
    assert meta["Description"] == "secret b" and meta["Tier"] == "Standard"
    assert meta["LastModifiedUser"] == "arn:aws:iam::111122223333:root"
    with pytest.raises(ClientError) as e:
        ssm.describe_parameters(ParameterFilters=[{"Key": "Label", "Values": ["x"]}])
    assert code(e) == "InvalidFilterKey"
    with pytest.raises(ClientError) as e:
        ssm.describe_parameters(ParameterFilters=[{"Key": "Type", "Option": "Contains", "Values": ["String"]}])
    assert code(e) == "InvalidFilterOption"


def test_describe_parameters_pages(ssm):
    for i in range(12):
        put(ssm, f"/d/p{i:02d}")
    first = ssm.describe_parameters(MaxResults=5)
    assert len(first["Parameters"]) == 5 and first["NextToken"]
    with pytest.raises(ClientError) as e:
        ssm.describe_parameters(NextToken="bad")
    assert code(e) == "InvalidNextToken"


# ---- history and labels --------------------------------------------------------------------------
def test_history_lists_versions_with_labels_and_decrypts_on_request(ssm):
    put(ssm, "/h", "one", "SecureString", Description="d1")
    ssm.put_parameter(Name="/h", Value="two", Overwrite=True)
    ssm.label_parameter_version(Name="/h", Labels=["latest"])
    hist = ssm.get_parameter_history(Name="/h", WithDecryption=True)["Parameters"]
    assert [(h["Version"], h["Value"], h["Labels"]) for h in hist] == [(1, "one", []), (2, "two", ["latest"])]
    assert hist[1]["Description"] == "d1" and hist[0]["KeyId"] == "alias/aws/ssm"
    assert ssm.get_parameter_history(Name="/h")["Parameters"][0]["Value"] != "one"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter_history(Name="/nope")
    assert code(e) == "ParameterNotFound"


def test_labels_move_between_versions_and_invalid_ones_are_returned(ssm):
    put(ssm, "/l", "1")
    ssm.put_parameter(Name="/l", Value="2", Overwrite=True)
    out = ssm.label_parameter_version(Name="/l", ParameterVersion=1, Labels=["prod", "1bad", "awsx", "ok-1"])
    assert out["ParameterVersion"] == 1 and sorted(out["InvalidLabels"]) == ["1bad", "awsx"]
    ssm.label_parameter_version(Name="/l", ParameterVersion=2, Labels=["prod"])
    hist = {h["Version"]: h["Labels"] for h in ssm.get_parameter_history(Name="/l")["Parameters"]}
    assert hist == {1: ["ok-1"], 2: ["prod"]}
    assert ssm.get_parameter(Name="/l:prod")["Parameter"]["Value"] == "2"


def test_label_limits_and_errors(ssm):
    put(ssm, "/l")
    ssm.label_parameter_version(Name="/l", Labels=[f"l{i}" for i in range(10)])
    with pytest.raises(ClientError) as e:
        ssm.label_parameter_version(Name="/l", Labels=["eleventh"])
    assert code(e) == "ParameterVersionLabelLimitExceeded"
    with pytest.raises(ClientError) as e:
        ssm.label_parameter_version(Name="/l", ParameterVersion=5, Labels=["x"])
    assert code(e) == "ParameterVersionNotFound"
    with pytest.raises(ClientError) as e:
        ssm.label_parameter_version(Name="/none", Labels=["x"])
    assert code(e) == "ParameterNotFound"


def test_unlabel_returns_removed_and_invalid(ssm):
    put(ssm, "/l")
    ssm.label_parameter_version(Name="/l", Labels=["a", "b"])
    out = ssm.unlabel_parameter_version(Name="/l", ParameterVersion=1, Labels=["a", "zzz"])
    assert out["RemovedLabels"] == ["a"] and out["InvalidLabels"] == ["zzz"]
    with pytest.raises(ClientError) as e:
        ssm.unlabel_parameter_version(Name="/l", ParameterVersion=3, Labels=["b"])
    assert code(e) == "ParameterVersionNotFound"


# ---- tags ----------------------------------------------------------------------------------------
def test_tags_add_list_remove(ssm):
    put(ssm, "/t", Tags=[{"Key": "a", "Value": "1"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/t", Tags=[{"Key": "b", "Value": "2"}])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"]
    assert tags == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId="/t", TagKeys=["a"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"] == [
        {"Key": "b", "Value": "2"}]


def test_tag_errors(ssm):
    with pytest.raises(ClientError) as e:
        ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/missing")
    assert code(e) == "InvalidResourceId"
    with pytest.raises(ClientError) as e:
        ssm.list_tags_for_resource(ResourceType="Document", ResourceId="doc")
    assert code(e) == "InvalidResourceType"
    put(ssm, "/t")
    with pytest.raises(ClientError) as e:
        ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId="/t",
                                 Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert code(e) == "TooManyTagsError"
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"] == []


def test_deleting_a_parameter_drops_its_tags(ssm):
    put(ssm, "/t", Tags=[{"Key": "a", "Value": "1"}])
    ssm.delete_parameter(Name="/t")
    put(ssm, "/t")
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/t")["TagList"] == []


# ---- authorisation -------------------------------------------------------------------------------
def test_another_account_cannot_read_by_arn(engine, ssm):
    import keyplane
    put(ssm, "/a", "x")
    other = keyplane.connect(engine=engine, account="444455556666").client("ssm")
    with pytest.raises(ClientError) as e:
        other.get_parameter(Name="arn:aws:ssm:us-east-1:111122223333:parameter/a")
    assert code(e) == "AccessDeniedException"
    # and its own namespace is separate
    with pytest.raises(ClientError) as e:
        other.get_parameter(Name="/a")
    assert code(e) == "ParameterNotFound"


# ---- service settings ----------------------------------------------------------------------------
def test_default_parameter_tier_setting_drives_put_parameter(ssm):
    sid = "/ssm/parameter-store/default-parameter-tier"
    s = ssm.get_service_setting(SettingId=sid)["ServiceSetting"]
    assert (s["SettingValue"], s["Status"]) == ("Standard", "Default")
    ssm.update_service_setting(SettingId=sid, SettingValue="Advanced")
    s = ssm.get_service_setting(SettingId=f"arn:aws:ssm:us-east-1:111122223333:servicesetting{sid}")["ServiceSetting"]
    assert (s["SettingValue"], s["Status"]) == ("Advanced", "Customized")
    assert put(ssm, "/t1")["Tier"] == "Advanced"
    assert ssm.reset_service_setting(SettingId=sid)["ServiceSetting"]["SettingValue"] == "Standard"
    assert put(ssm, "/t2")["Tier"] == "Standard"
    with pytest.raises(ClientError) as e:
        ssm.update_service_setting(SettingId=sid, SettingValue="Premium")
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ssm.get_service_setting(SettingId="/ssm/nope")
    assert code(e) == "ServiceSettingNotFound"
