"""Regions are the Regions of botocore's partitions plus regions.yaml (issue 17, finding 9)."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import keyplane


def test_replicate_key_to_a_made_up_region_is_refused_and_makes_no_replica(kms):
    """The replica must be in a Region of the primary's partition ("KMS must be available in the
    replica Region", ReplicateKey's ReplicaRegion in the botocore model)."""
    key = kms.create_key(MultiRegion=True)["KeyMetadata"]
    with pytest.raises(ClientError) as e:
        kms.replicate_key(KeyId=key["KeyId"], ReplicaRegion="xx-madeup-1")
    assert e.value.response["Error"]["Code"] == "UnsupportedOperationException"
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["MultiRegionConfiguration"]["ReplicaKeys"] == []


def test_in_process_client_for_a_made_up_region_is_refused(engine):
    with pytest.raises(ValueError):
        keyplane.connect(engine=engine).client("kms", region="xx-madeup-1")


def test_region_named_in_regions_yaml_is_served(tmp_path, clock):
    from keyplane.engine.core import Engine
    state = tmp_path / "state"
    state.mkdir()
    (state / "regions.yaml").write_text("lab-local-1: lab\n")
    eng = Engine(str(state), clock=clock)
    try:
        client = keyplane.connect(engine=eng).client("kms", region="lab-local-1")
        arn = client.create_key()["KeyMetadata"]["Arn"]
        assert ":lab-local-1:" in arn
    finally:
        eng.close()
