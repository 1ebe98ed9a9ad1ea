"""ListKeys ResourceOwners (botocore 1.44's model): SELF and OTHER_ACCOUNTS_VIA_RAM.

https://docs.aws.amazon.com/kms/latest/APIReference/API_ListKeys.html: "If you omit this parameter,
ListKeys lists only the KMS keys in your Amazon Web Services account"; OTHER_ACCOUNTS_VIA_RAM "Lists
the KMS keys in the Region that other Amazon Web Services accounts currently share with your Amazon
Web Services account through RAM. This list doesn't include KMS keys that your Amazon Web Services
account owns"; with both, "ListKeys returns the KMS keys in your Amazon Web Services account first";
"Use a NextMarker value only in a request that has the same ResourceOwners value as the request
that returned it. Otherwise, the request can fail with an InvalidMarkerException."

keyplane has no Resource Access Manager, so no key is shared through RAM: OTHER_ACCOUNTS_VIA_RAM
lists nothing, even when another account's key policy lets this account use its key (that is not a
RAM share, and AWS does not list such keys under ListKeys either).
"""
import json

import pytest

from keyplane.engine.identity import PARTNER_ACCOUNT, Principal

SELF, RAM = "SELF", "OTHER_ACCOUNTS_VIA_RAM"


def _keys(wire, n):
    return sorted(wire.call("kms", "CreateKey", {}).body["KeyMetadata"]["KeyId"] for _ in range(n))


def _list(wire, **params):
    r = wire.call("kms", "ListKeys", params)
    assert r.status == 200, r.body
    return r.body


def _partner_key_shared_with_us(engine):
    """A key in the partner account whose key policy lets our account use it (not a RAM share)."""
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:*", "Resource": "*",
        "Principal": {"AWS": [f"arn:aws:iam::{PARTNER_ACCOUNT}:root", "arn:aws:iam::111122223333:root"]}}]}
    ctx = engine.context(Principal.root(PARTNER_ACCOUNT))
    return engine.invoke("kms", "CreateKey", {"Policy": json.dumps(policy)}, ctx)["KeyMetadata"]["KeyId"]


@pytest.mark.parametrize("owners", [None, [SELF], [SELF, RAM], [RAM, SELF]])
def test_self_lists_the_callers_keys(wire, engine, owners):
    mine = _keys(wire, 2)
    partner = _partner_key_shared_with_us(engine)
    body = _list(wire, **({"ResourceOwners": owners} if owners else {}))
    assert [k["KeyId"] for k in body["Keys"]] == mine and partner not in str(body)
    assert body["Truncated"] is False


def test_other_accounts_via_ram_lists_nothing_without_ram(wire, engine):
    _keys(wire, 1)
    _partner_key_shared_with_us(engine)
    assert _list(wire, ResourceOwners=[RAM]) == {"Keys": [], "Truncated": False}


def test_markers_carry_their_resource_owners(wire):
    """Paging works within one ResourceOwners value; a marker from another is InvalidMarkerException."""
    mine = _keys(wire, 3)
    for owners in ([SELF], [SELF, RAM]):
        seen, marker = [], None
        while True:
            body = _list(wire, Limit=1, ResourceOwners=owners, **({"Marker": marker} if marker else {}))
            seen += [k["KeyId"] for k in body["Keys"]]
            if not body["Truncated"]:
                break
            marker = body["NextMarker"]
        assert seen == mine
    self_marker = _list(wire, Limit=1)["NextMarker"]
    both_marker = _list(wire, Limit=1, ResourceOwners=[RAM, SELF])["NextMarker"]
    assert _list(wire, Limit=1, ResourceOwners=[SELF], Marker=self_marker)["Keys"][0]["KeyId"] == mine[1]
    for owners, wrong in (([SELF, RAM], self_marker), ([SELF], both_marker), ([RAM], self_marker)):
        r = wire.call("kms", "ListKeys", {"ResourceOwners": owners, "Marker": wrong})
        assert (r.status, r.body) == (400, {"__type": "InvalidMarkerException", "message": (
            "The marker that specifies where pagination should next begin is not valid.")})


@pytest.mark.parametrize("owners", [[], ["EVERYONE"], [SELF, RAM, SELF]])
def test_resource_owners_is_one_or_two_known_values(wire, owners):
    """ResourceOwnersList: 1 to 2 members of ResourceOwnerType (model constraints)."""
    r = wire.call("kms", "ListKeys", {"ResourceOwners": owners})
    assert (r.status, r.error_type) == (400, "ValidationException")
