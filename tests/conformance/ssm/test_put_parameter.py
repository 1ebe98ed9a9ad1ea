"""PutParameter on the wire: which check answers, with which status, code and text, and what an
overwrite may change. Each test cites the AWS page (or a public quote of AWS's answer) it follows."""
from __future__ import annotations

import re

import pytest

from keyplane.engine.ssm import parameters as params_mod

# KMS's answer as Parameter Store passes it on (the request id is KMS's own, a fresh UUID)
KMS_SUFFIX = re.compile(r" \(Service: AWSKMS; Status Code: 400; Error Code: (\w+); "
                        r"Request ID: [0-9a-f-]{36}; Proxy: null\)$")


def _put(wire, **params):
    return wire.call("ssm", "PutParameter", {"Type": "String", "Value": "v", **params})


def _get(wire, name, **params):
    return wire.call("ssm", "GetParameter", {"Name": name, **params})


def test_an_existing_name_without_overwrite_is_parameter_already_exists(wire):
    """ParameterAlreadyExists, HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors),
    with AWS's text as
    quoted in https://github.com/garystafford/emr-demo/issues/1; the stored value is untouched."""
    assert _put(wire, Name="/dup", Value="one").status == 200
    r = _put(wire, Name="/dup", Value="two")
    assert r.error() == (400, "ParameterAlreadyExists", "The parameter already exists. To overwrite this value, "
                                                        "set the overwrite option in the request to true.")
    assert _get(wire, "/dup").body["Parameter"]["Value"] == "one"


def test_tags_with_overwrite_are_refused_even_for_a_new_name(wire):
    """"To add tags to an existing Systems Manager parameter, use the AddTagsToResource operation"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html); AWS refuses Tags
    with Overwrite before it looks the name up (a create failed
    with it: https://github.com/hashicorp/terraform-provider-aws/issues/18550, text verbatim)."""
    r = _put(wire, Name="/new", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}])
    assert r.error() == (400, "ValidationException",
                         "Invalid request: tags and overwrite can't be used together. To create a parameter with "
                         "tags, please remove overwrite flag. To update tags for an existing parameter, please use "
                         "AddTagsToResource or RemoveTagsFromResource.")
    assert _get(wire, "/new").body == {"__type": "ParameterNotFound"}


def test_an_overwrite_may_change_the_type_and_keeps_the_name_s_history(wire):
    """"Specifying a parameter type isn't required when updating a parameter"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html), and an
    update may give another one: Terraform's aws_ssm_parameter changes `type` in place, SecureString to
    String in its acceptance test TestAccSSMParameter_updateType
    (https://github.com/hashicorp/terraform-provider-aws/pull/10819). A SecureString made so uses the
    default key alias/aws/ssm; one made a String has no KeyId."""
    assert _put(wire, Name="/t", Value="plain").status == 200
    r = _put(wire, Name="/t", Value="secret", Type="SecureString", Overwrite=True)
    assert (r.status, r.body) == (200, {"Version": 2, "Tier": "Standard"})
    p = _get(wire, "/t", WithDecryption=True).body["Parameter"]
    assert (p["Type"], p["Value"], p["Version"]) == ("SecureString", "secret", 2)
    meta = wire.call("ssm", "DescribeParameters", {}).body["Parameters"][0]
    assert (meta["Type"], meta["KeyId"]) == ("SecureString", "alias/aws/ssm")
    assert _put(wire, Name="/t", Value="plain again", Type="String", Overwrite=True).status == 200
    meta = wire.call("ssm", "DescribeParameters", {}).body["Parameters"][0]
    assert meta["Type"] == "String" and "KeyId" not in meta
    history = wire.call("ssm", "GetParameterHistory", {"Name": "/t"}).body["Parameters"]
    assert [h["Type"] for h in history] == ["String", "SecureString", "String"]
    assert _put(wire, Name="/t", Value="x", Overwrite=True).body["Version"] == 4   # no Type: kept


def test_a_key_id_on_a_string_parameter_is_refused(wire):
    """KeyId is "Required for parameters that use the SecureString data type"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html); on a
    String parameter it is a ValidationException (AWS's exact wording for it is not published)."""
    r = _put(wire, Name="/k", KeyId="alias/aws/ssm")
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert _get(wire, "/k").body == {"__type": "ParameterNotFound"}


def test_a_missing_or_unusable_key_is_invalid_key_id_with_kms_s_answer(wire):
    """InvalidKeyId, HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors):
    Parameter Store passes on KMS's
    message with "(Service: AWSKMS; Status Code: 400; Error Code: NotFoundException; Request ID: ...;
    Proxy: null)" after it (https://github.com/binxio/aws-ssm-copy/issues/10 for a missing key,
    https://github.com/segmentio/chamber/issues/355 for a key KMS refuses in its state)."""
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    r = _put(wire, Name="/s", Type="SecureString", KeyId=missing)
    status, code, message = r.error()
    assert (status, code) == (400, "InvalidKeyId")
    assert message.startswith(f"Key 'arn:aws:kms:us-east-1:111122223333:key/{missing}' does not exist (Service")
    assert KMS_SUFFIX.search(message).group(1) == "NotFoundException"
    key = wire.call("kms", "CreateKey", {}).body["KeyMetadata"]["KeyId"]
    assert _put(wire, Name="/s", Type="SecureString", KeyId=key).status == 200
    assert wire.call("kms", "DisableKey", {"KeyId": key}).status == 200
    for r in (_get(wire, "/s", WithDecryption=True),
              _put(wire, Name="/s", Type="SecureString", KeyId=key, Overwrite=True)):
        status, code, message = r.error()
        assert (status, code) == (400, "InvalidKeyId")
        assert message.startswith(f"arn:aws:kms:us-east-1:111122223333:key/{key} is disabled.")
        assert KMS_SUFFIX.search(message).group(1) == "DisabledException"
    assert _get(wire, "/s").body["Parameter"]["Version"] == 1


def test_value_size_is_checked_against_the_tier(wire):
    """"Standard parameters have a value limit of 4 KB. Advanced parameters have a value limit of
    8 KB" (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html); the
    standard tier's refusal is worded as quoted in
    https://github.com/hashicorp/terraform-provider-aws/issues/18521; Intelligent-Tiering picks Advanced
    for a larger value
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html)."""
    r = _put(wire, Name="/big", Value="x" * 4097)
    assert r.error() == (400, "ValidationException",
                         "Standard tier parameters support a maximum parameter value of 4096 characters. To create "
                         "a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For "
                         "more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                         "parameter-store-advanced-parameters.html")
    assert _put(wire, Name="/big", Value="x" * 4096).body == {"Version": 1, "Tier": "Standard"}
    assert _put(wire, Name="/adv", Value="x" * 8192, Tier="Advanced").body == {"Version": 1, "Tier": "Advanced"}
    assert _put(wire, Name="/it", Value="x" * 5000, Tier="Intelligent-Tiering").body["Tier"] == "Advanced"
    r = _put(wire, Name="/huge", Value="x" * 8193, Tier="Advanced")
    assert (r.status, r.error_type) == (400, "ValidationException")


def test_an_advanced_parameter_cannot_go_back_to_standard(wire):
    """"You can change a standard parameter to an advanced parameter any time. But you can't revert an
    advanced parameter to a standard parameter"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html); AWS's text as
    quoted in Terraform's
    aws_ssm_parameter (https://github.com/hashicorp/terraform-provider-aws, internal/service/ssm/parameter.go)."""
    assert _put(wire, Name="/a", Tier="Advanced").status == 200
    r = _put(wire, Name="/a", Tier="Standard", Overwrite=True)
    assert r.error() == (400, "ValidationException",
                         "This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the "
                         "advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the "
                         "advanced parameter and recreate it as a standard parameter.")
    assert _put(wire, Name="/a", Tier="Intelligent-Tiering", Overwrite=True).body == {"Version": 2,
                                                                                      "Tier": "Advanced"}


def test_the_standard_quota_is_parameter_limit_exceeded_with_aws_s_text(wire, monkeypatch):
    """10,000 standard parameters per account and Region
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html);
    ParameterLimitExceeded, HTTP 400, worded as quoted in
    https://github.com/hashicorp/terraform-provider-aws/issues/18521 (the quota here lowered to 2)."""
    monkeypatch.setitem(params_mod.QUOTAS, "Standard", 2)
    for name in ("/q1", "/q2"):
        assert _put(wire, Name=name).status == 200
    r = _put(wire, Name="/q3")
    assert r.error() == (400, "ParameterLimitExceeded",
                         "You have reached the maximum number of standard parameters for this AWS account and Region "
                         "(2). To add more parameters, either delete existing parameters or upgrade to the "
                         "advanced-parameter tier (charges apply).")
    assert _put(wire, Name="/q3", Tier="Intelligent-Tiering").body["Tier"] == "Advanced"


def test_an_ami_data_type_is_validated_after_the_answer(wire):
    """aws:ec2:image: "If you submit an invalid AMI value, the PutParameter operation will return
    success, but the asynchronous validation will fail and the parameter will not be created or
    updated"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#systemsmanager-PutParameter-request-DataType,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html)."""
    r = _put(wire, Name="/ami", Value="not-an-ami", DataType="aws:ec2:image")
    assert (r.status, r.body) == (200, {"Version": 1, "Tier": "Standard"})
    assert _get(wire, "/ami").body == {"__type": "ParameterNotFound"}
    assert _put(wire, Name="/ami", Value="ami-0123456789abcdef0", DataType="aws:ec2:image").status == 200
    r = _put(wire, Name="/ami", Value="ami-nope", Overwrite=True)
    assert (r.status, r.body["Version"]) == (200, 2)
    p = _get(wire, "/ami").body["Parameter"]
    assert (p["Value"], p["Version"], p["DataType"]) == ("ami-0123456789abcdef0", 1, "aws:ec2:image")


@pytest.mark.parametrize("fixed", ["aws:ec2:image", "aws:ssm:integration"])
def test_a_parameter_cannot_change_to_or_from_the_aws_data_types(wire, fixed):
    """"You can't change a parameter to or from either of these data types" (aws:ec2:image,
    aws:ssm:integration: https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html);
    AWS's wording for the refusal is not published."""
    value = "ami-0123456789abcdef0" if fixed == "aws:ec2:image" else '{"url": "https://example.com"}'
    assert _put(wire, Name="/fixed", Value=value, DataType=fixed).status == 200
    r = _put(wire, Name="/fixed", Value=value, DataType="text", Overwrite=True)
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert _put(wire, Name="/plain", Value=value).status == 200
    r = _put(wire, Name="/plain", Value=value, DataType=fixed, Overwrite=True)
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert _get(wire, "/plain").body["Parameter"]["DataType"] == "text"


def test_a_kms_refusal_is_access_denied_with_kms_s_answer(wire):
    """A caller KMS refuses gets AccessDeniedException, HTTP 400, with KMS's message and "(Service:
    AWSKMS; Status Code: 400; Error Code: AccessDeniedException; Request ID: ...; Proxy: null)"
    (AWS's answer quoted in https://github.com/hashicorp/terraform-provider-aws/issues/42849); nothing
    is stored. The key policy here denies kms:Encrypt
    (https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html)."""
    import json
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:Encrypt", "Resource": "*"}]}
    key = wire.call("kms", "CreateKey", {"Policy": json.dumps(policy)}).body["KeyMetadata"]["KeyId"]
    status, code, message = _put(wire, Name="/denied", Type="SecureString", KeyId=key).error()
    assert (status, code) == (400, "AccessDeniedException")
    assert message.startswith("User: arn:aws:iam::111122223333:user/admin is not authorized to perform: "
                              f"kms:Encrypt on resource: arn:aws:kms:us-east-1:111122223333:key/{key}")
    assert KMS_SUFFIX.search(message).group(1) == "AccessDeniedException"
    assert _get(wire, "/denied").body == {"__type": "ParameterNotFound"}


def test_a_string_list_is_returned_without_spaces_around_its_commas(wire):
    """"If type is StringList, the system returns a comma-separated string with no spaces between
    commas in the Value field"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Parameter.html)."""
    assert _put(wire, Name="/list", Type="StringList", Value="Monday, Wednesday ,Friday").status == 200
    assert _get(wire, "/list").body["Parameter"]["Value"] == "Monday,Wednesday,Friday"
    path = wire.call("ssm", "GetParametersByPath", {"Path": "/"}).body["Parameters"]
    assert [p["Value"] for p in path] == ["Monday,Wednesday,Friday"]


def test_allowed_pattern_refusals(wire):
    """A value that doesn't match AllowedPattern is ParameterPatternMismatchException and a pattern that
    isn't a regular expression InvalidAllowedPatternException, both HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors);
    an overwrite keeps the pattern it doesn't replace. AWS's wording is not published."""
    assert _put(wire, Name="/port", Value="8080", AllowedPattern=r"^\d+$").status == 200
    r = _put(wire, Name="/port", Value="http", Overwrite=True)
    assert (r.status, r.error_type) == (400, "ParameterPatternMismatchException")
    r = _put(wire, Name="/other", Value="x", AllowedPattern="([")
    assert (r.status, r.error_type) == (400, "InvalidAllowedPatternException")
    assert _get(wire, "/port").body["Parameter"]["Value"] == "8080"


def test_the_oldest_labelled_version_stops_the_101st(wire):
    """Parameter Store keeps 100 versions and deletes the oldest for a new one, unless a label is on
    it: then ParameterMaxVersionLimitExceeded, HTTP 400, in the documented words ("You attempted to
    create a new version of parameter-name by calling the PutParameter API with the overwrite flag.
    Version version-number, the oldest version, can't be deleted because it has a label associated
    with it. Move the label to another version of the parameter, and try again.")
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-versions.html)."""
    for i in range(100):
        assert _put(wire, Name="/v", Value=str(i), Overwrite=True).status == 200
    assert wire.call("ssm", "LabelParameterVersion", {"Name": "/v", "ParameterVersion": 1,
                                                      "Labels": ["keep"]}).status == 200
    r = _put(wire, Name="/v", Value="new", Overwrite=True)
    assert r.error() == (400, "ParameterMaxVersionLimitExceeded",
                         "You attempted to create a new version of /v by calling the PutParameter API with the "
                         "overwrite flag. Version 1, the oldest version, can't be deleted because it has a label "
                         "associated with it. Move the label to another version of the parameter, and try again.")
    assert wire.call("ssm", "UnlabelParameterVersion", {"Name": "/v", "ParameterVersion": 1,
                                                        "Labels": ["keep"]}).status == 200
    assert _put(wire, Name="/v", Value="new", Overwrite=True).body["Version"] == 101
    versions = [h["Version"] for h in wire.call("ssm", "GetParameterHistory", {"Name": "/v", "MaxResults": 50})
                .body["Parameters"]]
    assert versions[0] == 2
