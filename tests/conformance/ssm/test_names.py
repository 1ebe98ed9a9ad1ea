"""Parameter Store names and paths on the wire: how a one-level name is kept and echoed, and which
malformed names and paths are refused as ValidationException (never ParameterNotFound)."""
from __future__ import annotations

import json

NAME_RULES = ('Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can '
              "consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, "
              "numbers and the following 3 symbols .-_")
PATH_RULES = ('The parameter doesn\'t meet the parameter name requirements. The parameter name must begin with a '
              'forward slash "/". It can\'t be prefixed with \\"aws\\" or \\"ssm\\" (case-insensitive). It must '
              "use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). "
              'Special characters are not allowed. All sub-paths, if specified, must use the forward slash '
              'symbol "/". Valid example: /get/parameters2-/by1./path0_.')


def _put(wire, name, value="v"):
    r = wire.call("ssm", "PutParameter", {"Name": name, "Value": value, "Type": "String"})
    assert r.status == 200, r.body


def _names(wire):
    r = wire.call("ssm", "DescribeParameters", {})
    assert r.status == 200, r.body
    return [p["Name"] for p in r.body["Parameters"]]


def test_one_level_name_is_kept_without_slash_and_echoed_as_asked(wire):
    """`/TestParam1` and `TestParam1` are one parameter
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints);
    AWS keeps a one-level name without its slash (DescribeParameters shows `TestParam1`) while
    GetParameter's Name keeps the form the request used
    (https://github.com/hashicorp/terraform-provider-aws/pull/49339,
    https://github.com/hashicorp/terraform-provider-aws/issues/49116)."""
    _put(wire, "plain")
    _put(wire, "/slashed")
    assert wire.call("ssm", "GetParameter", {"Name": "/plain"}).body["Parameter"]["Name"] == "/plain"
    assert wire.call("ssm", "GetParameter", {"Name": "plain"}).body["Parameter"]["Name"] == "plain"
    assert wire.call("ssm", "GetParameter", {"Name": "slashed"}).body["Parameter"]["Name"] == "slashed"
    got = wire.call("ssm", "GetParameter", {"Name": "/slashed"}).body["Parameter"]
    assert got["Name"] == "/slashed"
    assert got["ARN"] == "arn:aws:ssm:us-east-1:111122223333:parameter/slashed"
    assert sorted(_names(wire)) == ["plain", "slashed"]
    r = wire.call("ssm", "PutParameter", {"Name": "/plain", "Value": "x", "Type": "String"})
    assert (r.status, r.error_type) == (400, "ParameterAlreadyExists")


def test_paths_keep_their_leading_slash(wire):
    """A hierarchical name is fully qualified, with its leading slash
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints)."""
    _put(wire, "/app/db/url")
    assert _names(wire) == ["/app/db/url"]
    r = wire.call("ssm", "GetParametersByPath", {"Path": "/app", "Recursive": True})
    assert [p["Name"] for p in r.body["Parameters"]] == ["/app/db/url"]


def test_a_name_with_double_slash_is_validation_not_not_found(wire):
    """Sub-paths are divided by one slash; a name that breaks the rules is a ValidationException
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html, wording as
    AWS answers: https://github.com/aws/aws-sdk-php/issues/1952)."""
    _put(wire, "/a/b")
    for op, params in (("GetParameter", {"Name": "/a//b"}), ("DeleteParameter", {"Name": "/a//b"}),
                       ("GetParameterHistory", {"Name": "//a/b"})):
        r = wire.call("ssm", op, params)
        assert r.error() == (400, "ValidationException", NAME_RULES), (op, r.body)
    assert wire.call("ssm", "GetParameter", {"Name": "/a/b"}).status == 200


def test_a_path_without_its_leading_slash_cannot_be_read(wire):
    """"When you create or reference a parameter in a hierarchy, include a leading forward slash"
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints);
    GetParameter answers "a/b" with a ValidationException (https://github.com/aws/aws-sdk-js-v3/issues/5005)."""
    _put(wire, "/a/b")
    r = wire.call("ssm", "GetParameter", {"Name": "a/b"})
    assert r.error() == (400, "ValidationException", NAME_RULES)


def test_get_parameters_by_path_needs_a_leading_slash(wire):
    """"Hierarchies start with a forward slash (/)"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParametersByPath.html); AWS's
    ValidationException text, backslashes included, as quoted in https://github.com/aws/copilot-cli/issues/66
    and https://github.com/aws/aws-sdk-js-v3/issues/5928."""
    for path in ("app", "app/db", "/app//db", "/app/d b"):
        r = wire.call("ssm", "GetParametersByPath", {"Path": path})
        assert r.error() == (400, "ValidationException", PATH_RULES), path
    assert wire.call("ssm", "GetParametersByPath", {"Path": "/app/"}).status == 200


def test_describe_parameters_refuses_a_repeated_filter_key(wire):
    """DescribeParameters' filters are one per key
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html);
    a repeated key is a client error (InvalidFilterKey,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html#API_DescribeParameters_Errors).
    AWS's exact wording is not published."""
    _put(wire, "/x/y")
    r = wire.call("ssm", "DescribeParameters", {"ParameterFilters": [
        {"Key": "Name", "Values": ["/x/y"]}, {"Key": "Name", "Option": "BeginsWith", "Values": ["/x"]}]})
    assert r.status == 400 and r.error_type == "InvalidFilterKey" and "Name" in r.body["message"]
    r = wire.call("ssm", "DescribeParameters", {"ParameterFilters": [
        {"Key": "tag:env", "Values": ["a"]}, {"Key": "tag:env", "Values": ["b"]}]})
    assert r.status == 400 and r.error_type == "InvalidFilterKey"


def test_describe_parameters_path_filter_rules(wire):
    """A Path filter value follows the path rules and can't name the reserved /aws or /ssm
    hierarchies, which hold no parameter of the account
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html)."""
    for value in ("/aws", "/aws/service", "/SSM/x", "/ssm"):
        r = wire.call("ssm", "DescribeParameters", {"ParameterFilters": [{"Key": "Path", "Values": [value]}]})
        assert r.status == 400 and r.error_type == "InvalidFilterValue", value
    for value in ("//", "/a//b", "a/b"):
        r = wire.call("ssm", "DescribeParameters", {"ParameterFilters": [{"Key": "Path", "Values": [value]}]})
        assert r.error() == (400, "ValidationException", PATH_RULES), value


def test_a_missing_parameter_is_400_parameter_not_found_with_no_message(wire):
    """ParameterNotFound is HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html#API_GetParameter_Errors)
    and AWS sends the code alone: botocore prints "An error occurred (ParameterNotFound) when calling the
    GetParameter operation: " and the JavaScript SDK a null message
    (https://github.com/awslabs/aws-simple-cicd/issues/10, https://github.com/vandium-io/aws-param-store/pull/8;
    DeleteParameter: https://github.com/mattclay/aws-terminator/issues/113)."""
    for op in ("GetParameter", "DeleteParameter", "GetParameterHistory"):
        r = wire.call("ssm", op, {"Name": "/nope"})
        assert r.status == 400 and r.headers["content-type"] == "application/x-amz-json-1.1"
        assert json.loads(r.raw) == {"__type": "ParameterNotFound"}, op
    r = wire.call("ssm", "GetParameters", {"Names": ["/nope"]})
    assert r.status == 200 and r.body == {"Parameters": [], "InvalidParameters": ["/nope"]}


def test_a_missing_version_is_parameter_version_not_found_naming_the_parameter_as_asked(wire):
    """ParameterVersionNotFound, HTTP 400, for a version or label the parameter doesn't have
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html#API_GetParameter_Errors,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_LabelParameterVersion.html#API_LabelParameterVersion_Errors);
    the message names the parameter as the request did."""
    _put(wire, "/one")
    for name in ("/one", "one"):
        r = wire.call("ssm", "GetParameter", {"Name": f"{name}:7"})
        assert r.status == 400 and r.error_type == "ParameterVersionNotFound"
        assert f" of {name}. " in r.body["message"]
    r = wire.call("ssm", "LabelParameterVersion", {"Name": "/one", "ParameterVersion": 9, "Labels": ["x"]})
    assert r.status == 400 and r.error_type == "ParameterVersionNotFound" and " of /one. " in r.body["message"]
    r = wire.call("ssm", "LabelParameterVersion", {"Name": "/missing", "Labels": ["x"]})
    assert r.status == 400 and r.body == {"__type": "ParameterNotFound"}


def test_put_parameter_name_rules(wire):
    """Names: letters, digits, "_.-" and "/" for hierarchies, no spaces (leading and trailing ones are
    removed), not prefixed with aws or ssm in any case
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints);
    every refusal is AWS's one NAME_RULES text (a space: https://github.com/boto/boto3/issues/1499; an "@":
    https://github.com/aws/aws-sdk-php/issues/1952), a hierarchy without its leading slash "Parameter name
    must be a fully qualified name." (https://github.com/hashicorp/terraform-provider-aws/issues/7251)."""
    _put(wire, "  /spaced  ")
    assert wire.call("ssm", "GetParameter", {"Name": "/spaced"}).status == 200
    for name in ("Dev MySQL DB", "/myPrefix/xmpt/support@gmail.com", "awsTestParameter", "SSM-testparameter",
                 "/aws/testparam1", "/Ssm/x", "/a/", "a:b"):
        r = wire.call("ssm", "PutParameter", {"Name": name, "Value": "v", "Type": "String"})
        assert r.error() == (400, "ValidationException", NAME_RULES), name
    r = wire.call("ssm", "PutParameter", {"Name": "MyParameter3/L1", "Value": "v", "Type": "String"})
    assert r.error() == (400, "ValidationException", "Parameter name must be a fully qualified name.")
    assert _names(wire) == ["spaced"]


def test_depth_and_length_limits(wire):
    """At most fifteen levels (HierarchyLevelLimitExceededException, HTTP 400,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors)
    and 1011 characters counting the ARN prefix before the name (ValidationException)
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints).
    AWS's wording of these two refusals is not published."""
    fifteen = "/" + "/".join(f"l{i}" for i in range(15))
    _put(wire, fifteen)
    r = wire.call("ssm", "PutParameter", {"Name": fifteen + "/l15", "Value": "v", "Type": "String"})
    assert (r.status, r.error_type) == (400, "HierarchyLevelLimitExceededException")
    prefix = len("arn:aws:ssm:us-east-1:111122223333:parameter/")
    _put(wire, "/" + "a" * (1011 - prefix))
    r = wire.call("ssm", "PutParameter", {"Name": "/" + "b" * (1012 - prefix), "Value": "v", "Type": "String"})
    assert (r.status, r.error_type) == (400, "ValidationException")
