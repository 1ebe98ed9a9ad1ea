"""Which Regions exist: the Regions of botocore's partitions (read from the installed botocore,
so a new AWS Region arrives with a botocore upgrade) plus the Regions a state folder's
`regions.yaml` names. A request scoped to any other Region is refused before it reaches a store,
so nobody creates keys in `xx-made-up-1` or in a Region name of any length."""
from __future__ import annotations

import functools
import json
import os

import botocore


@functools.lru_cache(maxsize=1)
def aws_regions() -> frozenset[str]:
    path = os.path.join(os.path.dirname(botocore.__file__), "data", "partitions.json")
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    # "aws-global", "aws-cn-global"... name a partition's global endpoint, not a Region
    return frozenset(region for partition in doc["partitions"] for region in partition.get("regions", {})
                     if not region.endswith("-global"))


def known_regions(configured=()) -> frozenset[str]:
    """botocore's Regions plus `configured` (the Regions of regions.yaml)."""
    return aws_regions() | frozenset(str(r) for r in configured)
