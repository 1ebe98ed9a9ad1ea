"""Parameter data types on the wire: every data type PutParameter's reference lists is taken, a
value that doesn't conform is refused (a StringList item by item), a type may change to another.
AWS does not publish each type's exact rule or the refusal's wording (keyplane's are in
engine/ssm/datatypes.py); the tests hold to what the pages say."""
from __future__ import annotations

import pytest

# data type -> (a value that conforms, one that doesn't)
SAMPLES = {"aws:region": ("eu-west-1", "mars-east-1"), "aws:account:id": ("123456789012", "1234"),
           "boolean": ("true", "yes"), "integer": ("42", "4.2"), "float": ("-1.5e3", "one"),
           "binary": ("aGVsbG8=", "***"), "hostname": ("db.example.com", "-db-.example.com"),
           "email": ("ops@example.com", "ops"), "ipv4-address": ("10.0.0.1", "10.0.0.256"),
           "ipv6-address": ("2001:db8::1", "10.0.0.1"), "url": ("https://example.com/a", "example.com"),
           "json": ('{"a": 1}', "{a: 1}"), "jsonc": ('{"a": 1 // one\n}', "{")}


def _put(wire, name, value, data_type, type_="String", **params):
    return wire.call("ssm", "PutParameter", {"Name": name, "Value": value, "Type": type_, "DataType": data_type,
                                             **params})


@pytest.mark.parametrize("data_type", sorted(SAMPLES))
def test_each_listed_data_type_takes_a_conforming_value_and_refuses_another(wire, data_type):
    """The supported DataType values (text, aws:ec2:image, aws:ssm:integration, aws:region,
    aws:account:id, boolean, integer, float, binary, hostname, email, ipv4-address, ipv6-address, url,
    json, jsonc: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#systemsmanager-PutParameter-request-DataType);
    "Parameter Store validates the value during the PutParameter operation and rejects values that
    don't conform", and "API operations that retrieve parameters always return the value as a string"
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html)."""
    good, bad = SAMPLES[data_type]
    r = _put(wire, "/good", good, data_type)
    assert (r.status, r.body) == (200, {"Version": 1, "Tier": "Standard"})
    got = wire.call("ssm", "GetParameter", {"Name": "/good"}).body["Parameter"]
    assert (got["Value"], got["DataType"]) == (good, data_type)
    r = _put(wire, "/bad", bad, data_type)
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert bad not in r.body["message"]          # a SecureString's value is never quoted back
    assert wire.call("ssm", "GetParameter", {"Name": "/bad"}).body == {"__type": "ParameterNotFound"}


def test_a_string_list_is_checked_item_by_item(wire):
    """"For a StringList parameter, Parameter Store validates each item in the list. If any item is
    invalid, the whole request fails"
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html)."""
    assert _put(wire, "/ports", "80, 443,8080", "integer", "StringList").status == 200
    assert wire.call("ssm", "GetParameter", {"Name": "/ports"}).body["Parameter"]["Value"] == "80,443,8080"
    r = _put(wire, "/ports", "80,http", "integer", "StringList", Overwrite=True)
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert wire.call("ssm", "GetParameter", {"Name": "/ports"}).body["Parameter"]["Version"] == 1


def test_a_parameter_may_change_between_ordinary_data_types(wire):
    """"You can change an existing parameter from one data type to another, such as from text to
    integer or from integer to float"
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html);
    a name that isn't one of the data types is refused."""
    assert _put(wire, "/n", "7", "text").status == 200
    assert _put(wire, "/n", "7", "integer", Overwrite=True).status == 200
    assert _put(wire, "/n", "7.5", "float", Overwrite=True).body["Version"] == 3
    r = _put(wire, "/n", "7", "number", Overwrite=True)
    assert (r.status, r.error_type) == (400, "ValidationException")


@pytest.mark.parametrize("value", ["http://[::1", "\u00e9" * 3000, "[", '{"a":', "9" * 4000])
def test_odd_values_are_answered_never_with_a_5xx(wire, value):
    """No request gets a 5xx (issue 14's "zero 5xx"): values that break a parser are refused as not
    conforming (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html)."""
    for data_type in sorted(SAMPLES):
        r = _put(wire, "/odd/" + data_type.replace(":", "-"), value, data_type)
        assert r.status in (200, 400), (data_type, r.status, r.body)
