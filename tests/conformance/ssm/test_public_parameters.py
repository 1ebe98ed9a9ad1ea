"""AWS's public parameters under /aws/service/global-infrastructure, answered from botocore's own
endpoint data as
https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-global-infrastructure.html
documents them: read-only, in every Region, Type String, DataType text, an ARN with the caller's
Region and no account."""
from __future__ import annotations

import json
import os

import botocore

DOC = ("https://docs.aws.amazon.com/systems-manager/latest/userguide/"
       "parameter-store-public-parameters-global-infrastructure.html")
ROOT = "/aws/service/global-infrastructure"


def _botocore_regions() -> dict:
    with open(os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json"), encoding="utf-8") as f:
        doc = json.load(f)
    return {r: d["description"] for p in doc["partitions"] if p["partition"] in ("aws", "aws-cn", "aws-us-gov")
            for r, d in p["regions"].items() if not r.endswith("-global")}


def _all(wire, path, **params):
    names, token = [], None
    for _ in range(200):
        body = {"Path": path, **params, **({"NextToken": token} if token else {})}
        r = wire.call("ssm", "GetParametersByPath", body)
        assert r.status == 200, r.body
        names += r.body["Parameters"]
        assert len(r.body["Parameters"]) <= 10
        token = r.body.get("NextToken")
        if not token:
            return names
    raise AssertionError("paging did not end")


def test_a_region_parameter_as_aws_answers_it(wire):
    """One parameter per Region, its value the Region code; String, text, version 1, and an ARN in the
    caller's Region with no account. """ + DOC
    r = wire.call("ssm", "GetParameter", {"Name": f"{ROOT}/regions/us-east-1"})
    assert r.status == 200, r.body
    p = r.body["Parameter"]
    assert (p["Name"], p["Type"], p["Value"], p["Version"], p["DataType"]) == \
        (f"{ROOT}/regions/us-east-1", "String", "us-east-1", 1, "text")
    assert p["ARN"] == f"arn:aws:ssm:us-east-1::parameter{ROOT}/regions/us-east-1"
    assert isinstance(p["LastModifiedDate"], (int, float))


def test_the_long_name_of_a_region(wire):
    """`regions/<region>/longName` is the Region's name, e.g. "US East (N. Virginia)". """ + DOC
    r = wire.call("ssm", "GetParameter", {"Name": f"{ROOT}/regions/us-east-1/longName"})
    assert r.status == 200 and r.body["Parameter"]["Value"] == "US East (N. Virginia)"


def test_the_endpoint_of_a_service_in_a_region(wire):
    """The documented example: regions/us-west-1/services/ssm/endpoint is "ssm.us-west-1.amazonaws.com". """ + DOC
    r = wire.call("ssm", "GetParameter", {"Name": f"{ROOT}/regions/us-west-1/services/ssm/endpoint"})
    assert r.status == 200 and r.body["Parameter"]["Value"] == "ssm.us-west-1.amazonaws.com"


def test_every_region_by_path_one_level(wire):
    """GetParametersByPath on /aws/service/global-infrastructure/regions lists every Region (the aws,
    aws-cn and aws-us-gov partitions, as in the documented listing), paged by NextToken. """ + DOC
    got = _all(wire, f"{ROOT}/regions")
    assert {p["Name"] for p in got} == {f"{ROOT}/regions/{r}" for r in _botocore_regions()}
    assert all(p["Value"] == p["Name"].rsplit("/", 1)[1] for p in got)
    for region in ("cn-north-1", "us-gov-west-1", "af-south-1", "eu-west-1"):
        assert f"{ROOT}/regions/{region}" in {p["Name"] for p in got}


def test_regions_of_a_service_and_services_listing(wire):
    """services/ssm/regions lists the Regions SSM runs in; services lists the services. """ + DOC
    values = {p["Value"] for p in _all(wire, f"{ROOT}/services/ssm/regions")}
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1", "ap-south-1"} <= values
    services = {p["Name"] for p in _all(wire, f"{ROOT}/services")}
    assert {f"{ROOT}/services/ssm", f"{ROOT}/services/kms", f"{ROOT}/services/secretsmanager"} <= services


def test_served_in_every_region_with_that_regions_arn(wire):
    """Public parameters are read the same in any Region; the ARN names the Region asked. """ + DOC
    r = wire.call("ssm", "GetParameter", {"Name": f"{ROOT}/regions/eu-west-1/longName"}, region="eu-west-1")
    assert r.status == 200, r.body
    assert r.body["Parameter"]["Value"] == "Europe (Ireland)"
    assert r.body["Parameter"]["ARN"] == f"arn:aws:ssm:eu-west-1::parameter{ROOT}/regions/eu-west-1/longName"
    r = wire.call("ssm", "GetParameters", {"Names": [f"{ROOT}/regions/us-east-2", f"{ROOT}/regions/xx-nope-1"]},
                  region="ap-south-1")
    assert [p["Value"] for p in r.body["Parameters"]] == ["us-east-2"]
    assert r.body["InvalidParameters"] == [f"{ROOT}/regions/xx-nope-1"]


def test_public_parameters_are_read_only(wire):
    """Names under /aws can't be created ("A parameter name cannot be prefixed with "aws"",
    https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-su-create.html#sysman-parameter-name-constraints)
    and a public parameter is not the account's to delete. """ + DOC
    r = wire.call("ssm", "PutParameter", {"Name": f"{ROOT}/regions/us-east-1", "Value": "x", "Type": "String",
                                          "Overwrite": True})
    assert r.status == 400 and r.error_type == "ValidationException"
    r = wire.call("ssm", "DeleteParameter", {"Name": f"{ROOT}/regions/us-east-1"})
    assert r.status == 400 and r.error_type == "ParameterNotFound"
    r = wire.call("ssm", "GetParameter", {"Name": f"{ROOT}/regions/us-east-1"})
    assert r.status == 200 and r.body["Parameter"]["Value"] == "us-east-1"
    r = wire.call("ssm", "GetParameter", {"Name": f"{ROOT}/regions/xx-nope-1"})
    assert (r.status, r.error_type) == (400, "ParameterNotFound")


def test_filters_on_public_parameters(wire):
    """Public parameters are all String with no key or label: a Type=String filter keeps them, a
    KeyId or Label filter matches none (filters: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_ParameterStringFilter.html). """ + DOC
    kept = _all(wire, f"{ROOT}/services/ssm/regions", ParameterFilters=[{"Key": "Type", "Values": ["String"]}])
    assert len(kept) > 10
    none = wire.call("ssm", "GetParametersByPath", {"Path": f"{ROOT}/regions", "ParameterFilters": [
        {"Key": "Label", "Values": ["x"]}]})
    assert none.status == 200 and none.body["Parameters"] == []
