"""The paged reads on the wire: DescribeParameters' and GetParametersByPath's filters (which keys and
options each takes) and what DescribeParameters shows. Each test cites the AWS page it follows."""
from __future__ import annotations

import pytest



def _put(wire, name, **params):
    r = wire.call("ssm", "PutParameter", {"Name": name, "Value": "v", "Type": "String", **params})
    assert r.status == 200, r.body


def _describe(wire, *filters):
    return wire.call("ssm", "DescribeParameters", {"ParameterFilters": list(filters)})


def _names(r):
    assert r.status == 200, r.body
    return [p["Name"] for p in r.body["Parameters"]]


@pytest.fixture
def store(wire):
    _put(wire, "/x/plain")
    _put(wire, "/x/adv", Tier="Advanced")
    _put(wire, "/x/secret", Type="SecureString")
    return wire


@pytest.mark.parametrize("key,prefix,expected", [("Type", "Secure", ["/x/secret"]), ("Tier", "Adv", ["/x/adv"]),
                                                 ("DataType", "te", ["/x/adv", "/x/plain", "/x/secret"]),
                                                 ("Name", "/x/p", ["/x/plain"]),
                                                 ("KeyId", "alias/aws", ["/x/secret"])])
def test_every_describe_parameters_filter_takes_equals_and_begins_with(store, key, prefix, expected):
    """"For all filters used with DescribeParameters, valid options include Equals and BeginsWith"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html)."""
    assert _names(_describe(store, {"Key": key, "Option": "BeginsWith", "Values": [prefix]})) == expected


def test_describe_parameters_filter_options_and_keys(store):
    """"The Name filter additionally supports the Contains option", Path takes Recursive and OneLevel
    (OneLevel by default), Label is not a DescribeParameters filter; a wrong key is InvalidFilterKey and
    a wrong option InvalidFilterOption, HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html#API_DescribeParameters_Errors).
    AWS's wording of these refusals is not published."""
    assert _names(_describe(store, {"Key": "Name", "Option": "Contains", "Values": ["secr"]})) == ["/x/secret"]
    _put(store, "/x/deep/one")
    assert _names(_describe(store, {"Key": "Path", "Values": ["/x"]})) == ["/x/adv", "/x/plain", "/x/secret"]
    assert _names(_describe(store, {"Key": "Path", "Option": "Recursive", "Values": ["/x"]})) == [
        "/x/adv", "/x/deep/one", "/x/plain", "/x/secret"]
    for bad, code in (({"Key": "Label", "Values": ["a"]}, "InvalidFilterKey"),
                      ({"Key": "Type", "Option": "Contains", "Values": ["S"]}, "InvalidFilterOption"),
                      ({"Key": "Path", "Option": "Equals", "Values": ["/x"]}, "InvalidFilterOption"),
                      ({"Key": "Name"}, "InvalidFilterValue")):
        r = _describe(store, bad)
        assert (r.status, r.error_type) == (400, code), bad


def test_get_parameters_by_path_takes_type_keyid_and_label_only(store):
    """For GetParametersByPath "the following patterns listed for Key aren't valid: tag, DataType, Name,
    Path, and Tier", options are Equals and BeginsWith, and Label takes Equals only
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html)."""
    r = store.call("ssm", "GetParametersByPath", {"Path": "/x", "ParameterFilters": [
        {"Key": "Type", "Option": "BeginsWith", "Values": ["Str"]}]})
    assert _names(r) == ["/x/adv", "/x/plain"]
    for key in ("tag:env", "DataType", "Name", "Path", "Tier"):
        r = store.call("ssm", "GetParametersByPath", {"Path": "/x", "ParameterFilters": [
            {"Key": key, "Values": ["v"]}]})
        assert (r.status, r.error_type) == (400, "InvalidFilterKey"), key
    r = store.call("ssm", "GetParametersByPath", {"Path": "/x", "ParameterFilters": [
        {"Key": "Label", "Option": "BeginsWith", "Values": ["v"]}]})
    assert (r.status, r.error_type) == (400, "InvalidFilterOption")


def test_describe_parameters_shows_the_metadata_aws_shows(store):
    """A parameter's metadata as the user guide's describe-parameters output shows it: Name, Type,
    LastModifiedDate, LastModifiedUser, Version, Tier and "Policies": [] for none, with ARN and DataType
    from the API reference; KeyId (the key as given, alias/aws/ssm by default) only for a SecureString
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-search.html,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterMetadata.html)."""
    r = _describe(store, {"Key": "Path", "Values": ["/x"]})
    by_name = {p["Name"]: p for p in r.body["Parameters"]}
    plain, secret = by_name["/x/plain"], by_name["/x/secret"]
    assert set(plain) == {"Name", "ARN", "Type", "LastModifiedDate", "LastModifiedUser", "Version", "Tier",
                          "Policies", "DataType"}
    assert (plain["Policies"], plain["Tier"], plain["DataType"]) == ([], "Standard", "text")
    assert plain["ARN"] == "arn:aws:ssm:us-east-1:111122223333:parameter/x/plain"
    assert isinstance(plain["LastModifiedDate"], float)
    assert secret["KeyId"] == "alias/aws/ssm" and by_name["/x/adv"]["Tier"] == "Advanced"


@pytest.mark.parametrize("op,params", [("DescribeParameters", {}), ("GetParametersByPath", {"Path": "/x"}),
                                       ("GetParameterHistory", {"Name": "/x/plain"})])
def test_a_token_keyplane_did_not_issue_is_invalid_next_token(store, op, params):
    """InvalidNextToken, HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DescribeParameters.html#API_DescribeParameters_Errors,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParametersByPath.html#API_GetParametersByPath_Errors,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameterHistory.html#API_GetParameterHistory_Errors)."""
    r = store.call("ssm", op, {**params, "NextToken": "not-a-token"})
    assert (r.status, r.error_type) == (400, "InvalidNextToken")
