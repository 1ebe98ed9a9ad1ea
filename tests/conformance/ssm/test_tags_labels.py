"""Tags, labels, the batch calls' partial answers and the operations that take a name but no ARN, on
the wire. Each test cites the AWS page (or a public quote of AWS's answer) it follows."""
from __future__ import annotations

import pytest

ARN = "arn:aws:ssm:us-east-1:111122223333:parameter/p"
NAME_RULES = ('Parameter name: can\'t be prefixed with "ssm" (case-insensitive). If formed as a path, it can '
              "consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, "
              "numbers and the following 3 symbols .-_")


def _put(wire, name, value="v", **params):
    r = wire.call("ssm", "PutParameter", {"Name": name, "Value": value, "Type": "String", **params})
    assert r.status == 200, r.body
    return r.body


@pytest.mark.parametrize("op,extra", [("ListTagsForResource", {}),
                                      ("AddTagsToResource", {"Tags": [{"Key": "k", "Value": "v"}]}),
                                      ("RemoveTagsFromResource", {"TagKeys": ["k"]})])
def test_tagging_a_missing_parameter_is_invalid_resource_id_with_no_message(wire, op, extra):
    """InvalidResourceId, HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ListTagsForResource.html#API_ListTagsForResource_Errors);
    AWS sends the code alone: "An error occurred (InvalidResourceId) when calling the ListTagsForResource
    operation: " with nothing after it (https://github.com/aws/aws-cli/issues/4419)."""
    r = wire.call("ssm", op, {"ResourceType": "Parameter", "ResourceId": "/build-number/missing", **extra})
    assert (r.status, r.body) == (400, {"__type": "InvalidResourceId"})


def test_tags_set_at_creation_are_listed_and_a_51st_is_too_many_tags(wire):
    """Tags given to PutParameter are the parameter's; a resource holds at most 50 and AddTagsToResource
    past that is TooManyTagsError, HTTP 400
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_AddTagsToResource.html#API_AddTagsToResource_Errors,
    https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html), adding none."""
    _put(wire, "/t", Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(49)])
    r = wire.call("ssm", "AddTagsToResource", {"ResourceType": "Parameter", "ResourceId": "/t",
                                               "Tags": [{"Key": "n1", "Value": "v"}, {"Key": "n2", "Value": "v"}]})
    assert (r.status, r.error_type) == (400, "TooManyTagsError")
    listed = wire.call("ssm", "ListTagsForResource", {"ResourceType": "Parameter", "ResourceId": "/t"})
    assert listed.status == 200 and len(listed.body["TagList"]) == 49


@pytest.mark.parametrize("op,params", [
    ("DeleteParameter", {"Name": ARN}),
    ("LabelParameterVersion", {"Name": ARN, "Labels": ["prod"]}),
    ("UnlabelParameterVersion", {"Name": ARN, "ParameterVersion": 1, "Labels": ["prod"]})])
def test_operations_that_take_only_a_name_refuse_an_arn(wire, op, params):
    """"You can't enter the Amazon Resource Name (ARN) for a parameter, only the parameter name itself"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameter.html,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_LabelParameterVersion.html,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_UnlabelParameterVersion.html):
    an ARN is a name with ':' in it, which the name rules refuse (AWS's wording for names, as quoted in
    https://github.com/aws/aws-sdk-php/issues/1952)."""
    _put(wire, "/p")
    r = wire.call("ssm", op, params)
    assert r.error() == (400, "ValidationException", NAME_RULES)
    history = wire.call("ssm", "GetParameterHistory", {"Name": ARN})   # an ARN is fine here
    assert history.status == 200 and history.body["Parameters"][0]["Labels"] == []


def test_delete_parameters_answers_per_name(wire):
    """DeleteParameters never fails for a name: "DeletedParameters" and "InvalidParameters" (names that
    weren't deleted because they aren't valid), an ARN among them
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_DeleteParameters.html)."""
    _put(wire, "/a")
    _put(wire, "/b")
    r = wire.call("ssm", "DeleteParameters", {"Names": ["/a", "/missing", "arn:aws:ssm:us-east-1:111122223333:parameter/b"]})
    assert (r.status, r.body) == (200, {"DeletedParameters": ["/a"],
                                        "InvalidParameters": ["/missing",
                                                              "arn:aws:ssm:us-east-1:111122223333:parameter/b"]})
    assert wire.call("ssm", "GetParameter", {"Name": "/b"}).status == 200


def test_get_parameters_answers_per_name_with_selectors(wire):
    """GetParameters answers found parameters and lists the rest in InvalidParameters; a name may carry
    `:version` or `:label`, echoed in Selector
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameters.html,
    https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-labels.html)."""
    _put(wire, "/g", "one")
    _put(wire, "/g", "two", Overwrite=True)
    assert wire.call("ssm", "LabelParameterVersion", {"Name": "/g", "ParameterVersion": 1,
                                                      "Labels": ["old"]}).status == 200
    r = wire.call("ssm", "GetParameters", {"Names": ["/g:old", "/g:9", "/g:none", "/nope", "/g"]})
    assert r.status == 200
    assert [(p["Name"], p["Value"], p.get("Selector")) for p in r.body["Parameters"]] == [
        ("/g", "one", ":old"), ("/g", "two", None)]
    assert r.body["InvalidParameters"] == ["/g:9", "/g:none", "/nope"]


def test_labels_follow_the_documented_rules(wire):
    """A label can't begin with a number, "aws" or "ssm" (not case sensitive); such labels aren't
    attached and come back in InvalidLabels; without ParameterVersion the latest version is labelled;
    a label on another version moves (https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-labels.html,
    https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_LabelParameterVersion.html)."""
    _put(wire, "/l", "one")
    _put(wire, "/l", "two", Overwrite=True)
    r = wire.call("ssm", "LabelParameterVersion", {"Name": "/l", "Labels": ["prod", "1st", "AWSx", "ssm-y", "a.b-c_d"]})
    assert (r.status, r.body) == (200, {"InvalidLabels": ["1st", "AWSx", "ssm-y"], "ParameterVersion": 2})
    r = wire.call("ssm", "LabelParameterVersion", {"Name": "/l", "ParameterVersion": 1, "Labels": ["prod"]})
    assert (r.status, r.body) == (200, {"InvalidLabels": [], "ParameterVersion": 1})
    history = wire.call("ssm", "GetParameterHistory", {"Name": "/l"}).body["Parameters"]
    assert [h["Labels"] for h in history] == [["prod"], ["a.b-c_d"]]
    r = wire.call("ssm", "UnlabelParameterVersion", {"Name": "/l", "ParameterVersion": 1, "Labels": ["prod", "zz"]})
    assert (r.status, r.body) == (200, {"RemovedLabels": ["prod"], "InvalidLabels": ["zz"]})


def test_an_eleventh_label_is_parameter_version_label_limit_exceeded(wire):
    """"A version of a parameter can have a maximum of 10 labels": more is
    ParameterVersionLabelLimitExceeded, HTTP 400, and attaches none
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_LabelParameterVersion.html#API_LabelParameterVersion_Errors).
    A version the parameter doesn't have is checked first: ParameterVersionNotFound."""
    _put(wire, "/m")
    assert wire.call("ssm", "LabelParameterVersion", {"Name": "/m", "Labels": ["first"]}).status == 200
    ten = [f"x{i}" for i in range(10)]
    r = wire.call("ssm", "LabelParameterVersion", {"Name": "/m", "ParameterVersion": 9, "Labels": ten})
    assert (r.status, r.error_type) == (400, "ParameterVersionNotFound")
    r = wire.call("ssm", "LabelParameterVersion", {"Name": "/m", "Labels": ten})
    assert (r.status, r.error_type) == (400, "ParameterVersionLabelLimitExceeded")
    history = wire.call("ssm", "GetParameterHistory", {"Name": "/m"}).body["Parameters"]
    assert history[0]["Labels"] == ["first"]
