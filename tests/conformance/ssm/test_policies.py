"""Parameter policies on the wire: the documented forms PutParameter takes, how DescribeParameters
shows them, how they are cleared, and the errors the model lists for them."""
from __future__ import annotations

import json

EXPIRATION = {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "2030-12-02T21:34:33.000Z"}}
NOTIFY_30 = {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": "30", "Unit": "Days"}}
NOTIFY_15 = {"Type": "ExpirationNotification", "Version": "1.0", "Attributes": {"Before": "15", "Unit": "Days"}}
NO_CHANGE = {"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "20", "Unit": "Days"}}


def _put(wire, name, policies, **params):
    body = {"Name": name, "Value": "v", "Type": "String", "Tier": "Advanced", **params}
    if policies is not None:
        body["Policies"] = policies if isinstance(policies, str) else json.dumps(policies)
    return wire.call("ssm", "PutParameter", body)


def _policies(wire, name):
    r = wire.call("ssm", "DescribeParameters", {"ParameterFilters": [{"Key": "Name", "Values": [name]}]})
    return r.body["Parameters"][0]["Policies"]


def test_the_guide_s_four_policies_are_taken_and_described(wire):
    """The user guide's PutParameter example assigns four policies, two of them ExpirationNotification
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-policies.html);
    DescribeParameters shows each as PolicyText (compact JSON), PolicyType and PolicyStatus Pending
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterInlinePolicy.html)."""
    r = _put(wire, "ProdDB3", [EXPIRATION, NOTIFY_30, NOTIFY_15, NO_CHANGE], Overwrite=True)
    assert (r.status, r.body) == (200, {"Version": 1, "Tier": "Advanced"})
    described = _policies(wire, "ProdDB3")
    assert [p["PolicyType"] for p in described] == ["Expiration", "ExpirationNotification",
                                                    "ExpirationNotification", "NoChangeNotification"]
    assert {p["PolicyStatus"] for p in described} == {"Pending"}
    assert described[0]["PolicyText"] == ('{"Type":"Expiration","Version":"1.0","Attributes":'
                                          '{"Timestamp":"2030-12-02T21:34:33.000Z"}}')


def test_an_offset_date_time_is_a_valid_expiration(wire):
    """"You can also specify a date and time by using the ISO_OFFSET_DATE_TIME format. Here is an
    example: 2019-11-01T22:13:48.87+10:30:00"
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-policies.html)."""
    policy = {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "2039-11-01T22:13:48.87+10:30:00"}}
    assert _put(wire, "/offset", [policy]).status == 200


def test_an_empty_policy_clears_the_policies_and_an_update_without_policies_keeps_them(wire):
    """"To remove all policies from an existing parameter, edit the parameter and apply an empty policy
    of brackets and curly braces": [{}]; "Parameter Store preserves policies on a parameter until you
    either overwrite the policies with new policies or remove the policies"
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-policies.html)."""
    assert _put(wire, "/p", [EXPIRATION, NO_CHANGE]).status == 200
    assert _put(wire, "/p", None, Overwrite=True).status == 200
    assert len(_policies(wire, "/p")) == 2
    assert _put(wire, "/p", [NO_CHANGE], Overwrite=True).status == 200
    assert [p["PolicyType"] for p in _policies(wire, "/p")] == ["NoChangeNotification"]
    assert _put(wire, "/p", "[{}]", Overwrite=True).status == 200
    assert _policies(wire, "/p") == []


def test_policy_errors_are_the_model_s(wire):
    """PoliciesLimitExceededException for more than 10 ("You can assign a maximum of 10 policies to a
    parameter"), InvalidPolicyTypeException for another type, InvalidPolicyAttributeException for a bad
    attribute, IncompatiblePolicyException for two Expiration policies; all HTTP 400 and nothing stored
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html#API_PutParameter_Errors,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-policies.html). AWS's
    wording of these is not published (keyplane's texts)."""
    bad_time = {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "next tuesday"}}
    cases = (([NO_CHANGE] * 11, "PoliciesLimitExceededException"),
             ([{"Type": "Rotation", "Version": "1.0", "Attributes": {}}], "InvalidPolicyTypeException"),
             ([bad_time], "InvalidPolicyAttributeException"),
             ([EXPIRATION, EXPIRATION], "IncompatiblePolicyException"))
    for policies, code in cases:
        r = _put(wire, "/bad", policies)
        assert (r.status, r.error_type) == (400, code), code
    assert wire.call("ssm", "GetParameter", {"Name": "/bad"}).body == {"__type": "ParameterNotFound"}


def test_policies_need_the_advanced_tier(wire):
    """"Parameter policies are available for parameters that use the advanced parameters tier";
    Intelligent-Tiering picks Advanced for a request with a policy
    (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html).
    AWS's wording of the refusal on the standard tier is not published."""
    r = _put(wire, "/std", [NO_CHANGE], Tier="Standard")
    assert (r.status, r.error_type) == (400, "ValidationException")
    assert _put(wire, "/it", [NO_CHANGE], Tier="Intelligent-Tiering").body == {"Version": 1, "Tier": "Advanced"}
