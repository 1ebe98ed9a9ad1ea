"""AWS's public parameters under `/aws/service/global-infrastructure`: the Regions, the services,
which service runs in which Region and at which endpoint, and each Region's long name.

They are read-only, the same in every Region, and built from the installed botocore's own endpoint
data (`botocore/data/endpoints.json`), so a botocore upgrade brings new Regions and services. They
are answered as AWS documents them: Type String, DataType text, version 1, an ARN with the caller's
Region and no account (`arn:aws:ssm:us-east-2::parameter/aws/service/global-infrastructure/...`)
(https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-public-parameters-global-infrastructure.html).
Availability Zones, local and Wavelength zones and AMI parameters are not in botocore's data and
are not served.
"""
from __future__ import annotations

import bisect
import functools
import json
import os
from datetime import datetime, timezone

import botocore

ROOT = "/aws/service/global-infrastructure"
# the partitions whose Regions AWS lists there (its documented listing includes cn-* and us-gov-*)
PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# AWS shows when each public parameter last changed; botocore does not say, so one fixed date
LAST_MODIFIED = datetime(2020, 4, 3, tzinfo=timezone.utc)


def _endpoints() -> dict:
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "endpoints.json")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _hostname(partition: dict, service: str, region: str, endpoint: dict) -> str:
    template = (endpoint.get("hostname") or partition["services"][service].get("defaults", {}).get("hostname")
                or partition["defaults"]["hostname"])
    return template.format(service=service, region=region, dnsSuffix=partition["dnsSuffix"])


@functools.lru_cache(maxsize=1)
def _table() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """(every name in order, name -> value, Region -> partition)."""
    values: dict[str, str] = {}
    partitions: dict[str, str] = {}
    for partition in _endpoints()["partitions"]:
        if partition["partition"] not in PARTITIONS:
            continue
        regions = {r: d for r, d in partition["regions"].items() if not r.endswith("-global")}
        for region, described in regions.items():
            partitions[region] = partition["partition"]
            values[f"{ROOT}/regions/{region}"] = region
            values[f"{ROOT}/regions/{region}/longName"] = described.get("description", region)
        for service, spec in partition["services"].items():
            for region, endpoint in spec.get("endpoints", {}).items():
                if region not in regions or endpoint.get("deprecated"):
                    continue
                values[f"{ROOT}/services/{service}"] = service
                values[f"{ROOT}/services/{service}/regions/{region}"] = region
                values[f"{ROOT}/regions/{region}/services/{service}"] = service
                values[f"{ROOT}/regions/{region}/services/{service}/endpoint"] = \
                    _hostname(partition, service, region, endpoint)
    return sorted(values), values, partitions


def regions() -> frozenset:
    """Every Region of the partitions AWS lists (the aws:region data type's values)."""
    return frozenset(_table()[2])


def is_public(name: str) -> bool:
    return name == ROOT or name.startswith(ROOT + "/")


def covers(path: str) -> bool:
    """Whether GetParametersByPath on `path` reads public parameters rather than the account's."""
    return path == "/aws" or path.startswith("/aws/")


def arn(region: str, name: str) -> str:
    partition = _table()[2].get(region, "aws")
    return f"arn:{partition}:ssm:{region}::parameter{name}"


def shape(region: str, name: str) -> dict:
    return {"Name": name, "Type": "String", "Value": _table()[1][name], "Version": 1,
            "LastModifiedDate": LAST_MODIFIED, "ARN": arn(region, name), "DataType": "text"}


def lookup(region: str, name: str) -> dict | None:
    """The `Parameter` a public name holds, None when there is none."""
    return shape(region, name) if name in _table()[1] else None


def under(path: str, recursive: bool, after: str | None, fetch: int) -> list[str]:
    """Up to `fetch` public names below `path` (one level or all), in name order, after `after`."""
    names = _table()[0]
    prefix = path.rstrip("/") + "/"
    i = bisect.bisect_right(names, after) if after else bisect.bisect_left(names, prefix)
    out = []
    while i < len(names) and names[i].startswith(prefix) and len(out) < fetch:
        if recursive or "/" not in names[i][len(prefix):]:
            out.append(names[i])
        i += 1
    return out
