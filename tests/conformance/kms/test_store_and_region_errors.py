"""Custom key store and multi-Region refusals on the wire that need no token and no second store.

Custom key stores: https://docs.aws.amazon.com/kms/latest/APIReference/API_ConnectCustomKeyStore.html
and the other store operations list CustomKeyStoreNotFoundException for a store id that is not the
caller's. Multi-Region keys: https://docs.aws.amazon.com/kms/latest/APIReference/API_ReplicateKey.html
and https://docs.aws.amazon.com/kms/latest/APIReference/API_UpdatePrimaryRegion.html. The texts of
these refusals are not published; codes, statuses and that nothing changed are asserted.
"""
import pytest

NO_STORE = "cks-1234567890abcdef0"


@pytest.mark.parametrize("operation,params", [
    ("ConnectCustomKeyStore", {"CustomKeyStoreId": NO_STORE}),
    ("DisconnectCustomKeyStore", {"CustomKeyStoreId": NO_STORE}),
    ("DeleteCustomKeyStore", {"CustomKeyStoreId": NO_STORE}),
    ("UpdateCustomKeyStore", {"CustomKeyStoreId": NO_STORE, "NewCustomKeyStoreName": "n"}),
    ("DescribeCustomKeyStores", {"CustomKeyStoreId": NO_STORE}),
    ("DescribeCustomKeyStores", {"CustomKeyStoreName": "nothing-by-this-name"}),
    ("GenerateRandom", {"NumberOfBytes": 16, "CustomKeyStoreId": NO_STORE}),
    ("CreateKey", {"CustomKeyStoreId": NO_STORE, "Origin": "AWS_CLOUDHSM"}),
])
def test_a_store_that_is_not_there_is_custom_key_store_not_found(wire, operation, params):
    r = wire.call("kms", operation, params)
    assert (r.status, r.error_type) == (400, "CustomKeyStoreNotFoundException"), r.body
    assert r.body["message"]
    assert wire.call("kms", "ListKeys").body["Keys"] == []


def test_describe_custom_key_stores_lists_none_at_first(wire):
    r = wire.call("kms", "DescribeCustomKeyStores")
    assert (r.status, r.body) == (200, {"CustomKeyStores": [], "Truncated": False})


# ---- multi-Region keys

def _key(wire, **params):
    r = wire.call("kms", "CreateKey", params)
    assert r.status == 200, r.body
    return r.body["KeyMetadata"]["Arn"]


def test_replicate_a_single_region_key_is_unsupported(wire):
    key = _key(wire)
    r = wire.call("kms", "ReplicateKey", {"KeyId": key, "ReplicaRegion": "eu-west-1"})
    assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), r.body


def test_replicate_into_a_region_that_holds_the_key_is_already_exists(wire):
    """"At most one replica per Region": the primary's own Region, and a Region replicated to before."""
    key = _key(wire, MultiRegion=True)
    r = wire.call("kms", "ReplicateKey", {"KeyId": key, "ReplicaRegion": "us-east-1"})
    assert (r.status, r.error_type) == (400, "AlreadyExistsException"), r.body
    assert wire.call("kms", "ReplicateKey", {"KeyId": key, "ReplicaRegion": "eu-west-1"}).status == 200
    r = wire.call("kms", "ReplicateKey", {"KeyId": key, "ReplicaRegion": "eu-west-1"})
    replica = key.replace(":us-east-1:", ":eu-west-1:")
    assert (r.status, r.body) == (400, {"__type": "AlreadyExistsException", "message": f"Key '{replica}' already exists"})


def test_replicate_a_replica_is_unsupported(wire):
    """Only a primary key is replicated ("the primary key of the multi-Region key set")."""
    key = _key(wire, MultiRegion=True)
    assert wire.call("kms", "ReplicateKey", {"KeyId": key, "ReplicaRegion": "eu-west-1"}).status == 200
    replica = key.replace(":us-east-1:", ":eu-west-1:")
    r = wire.call("kms", "ReplicateKey", {"KeyId": replica, "ReplicaRegion": "us-west-2"}, region="eu-west-1")
    assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), r.body
    assert key in r.body["message"]         # names the primary to call instead


def test_replicate_a_disabled_primary_is_disabled(wire):
    key = _key(wire, MultiRegion=True)
    wire.call("kms", "DisableKey", {"KeyId": key})
    r = wire.call("kms", "ReplicateKey", {"KeyId": key, "ReplicaRegion": "eu-west-1"})
    assert (r.status, r.body) == (400, {"__type": "DisabledException", "message": f"{key} is disabled."})


def test_update_primary_region_of_a_single_region_key_is_unsupported(wire):
    key = _key(wire)
    r = wire.call("kms", "UpdatePrimaryRegion", {"KeyId": key, "PrimaryRegion": "eu-west-1"})
    assert (r.status, r.error_type) == (400, "UnsupportedOperationException"), r.body


def test_update_primary_region_to_a_region_without_a_replica_is_not_found(wire):
    key = _key(wire, MultiRegion=True)
    r = wire.call("kms", "UpdatePrimaryRegion", {"KeyId": key, "PrimaryRegion": "eu-west-1"})
    missing = key.replace(":us-east-1:", ":eu-west-1:")
    assert (r.status, r.body) == (400, {"__type": "NotFoundException", "message": f"Key '{missing}' does not exist"})
    described = wire.call("kms", "DescribeKey", {"KeyId": key}).body["KeyMetadata"]
    assert described["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
