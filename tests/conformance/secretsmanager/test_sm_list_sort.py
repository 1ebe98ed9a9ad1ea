"""ListSecrets SortBy (created-date, last-accessed-date, last-changed-date, name) with SortOrder,
new in botocore 1.44's model, across pages.
https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html"""
from __future__ import annotations

from datetime import timedelta

import pytest

from .sm_wire import assert_error


@pytest.fixture
def secrets(clocked, clock):
    """Four secrets made a day apart (b, d, a, c), then changed and read on other days."""
    for name in ("sort/b", "sort/d", "sort/a", "sort/c"):
        clocked.create(name, "v")
        clock.advance(timedelta(days=1))
    clocked.ok("UpdateSecret", {"SecretId": "sort/b", "Description": "changed last"})
    clock.advance(timedelta(days=1))
    clocked.ok("GetSecretValue", {"SecretId": "sort/c"})
    clock.advance(timedelta(days=1))
    clocked.ok("GetSecretValue", {"SecretId": "sort/a"})
    return clocked


def _names(sm, **body) -> list[str]:
    return [s["Name"] for s in sm.ok("ListSecrets", body)["SecretList"]]


@pytest.mark.parametrize("sort_by, ascending", [
    (None, ["sort/b", "sort/d", "sort/a", "sort/c"]),                  # "If not specified, ... by CreatedDate"
    ("created-date", ["sort/b", "sort/d", "sort/a", "sort/c"]),
    ("name", ["sort/a", "sort/b", "sort/c", "sort/d"]),
    ("last-changed-date", ["sort/d", "sort/a", "sort/c", "sort/b"]),
    ("last-accessed-date", ["sort/b", "sort/d", "sort/c", "sort/a"]),  # never read first, then by the day read
])
def test_list_secrets_sorts_by_the_field_asked_in_either_order(secrets, sort_by, ascending):
    """SortBy: created-date (the default), last-accessed-date, last-changed-date or name; SortOrder
    asc or desc.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html"""
    body = {"SortBy": sort_by} if sort_by else {}
    assert _names(secrets, **body) == ascending
    assert _names(secrets, **body, SortOrder="asc") == ascending
    assert _names(secrets, **body, SortOrder="desc") == ascending[::-1]


def test_sorted_pages_follow_on_from_each_other(secrets):
    """MaxResults / NextToken page through the sorted list without repeats or gaps.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html"""
    seen, body = [], {"SortBy": "name", "SortOrder": "desc", "MaxResults": 3}
    while True:
        out = secrets.ok("ListSecrets", body)
        seen += [s["Name"] for s in out["SecretList"]]
        if "NextToken" not in out:
            break
        body["NextToken"] = out["NextToken"]
    assert seen == ["sort/d", "sort/c", "sort/b", "sort/a"]


@pytest.mark.parametrize("body", [{"SortBy": "size"}, {"SortBy": "Name"}, {"SortOrder": "up"}])
def test_a_sort_key_outside_the_model_is_a_validation_exception(sm, body):
    """SortByType is one of created-date, last-accessed-date, last-changed-date, name; SortOrderType
    asc or desc.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html"""
    assert_error(sm("ListSecrets", body), "ValidationException")


def test_batch_get_secret_value_by_filter_still_lists_by_creation(secrets):
    """BatchGetSecretValue with Filters lists as ListSecrets does by default (CreatedDate).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html"""
    out = secrets.ok("BatchGetSecretValue", {"Filters": [{"Key": "name", "Values": ["sort"]}]})
    assert [v["Name"] for v in out["SecretValues"]] == ["sort/b", "sort/d", "sort/a", "sort/c"]
