"""ListSecrets and BatchGetSecretValue filters on the sm: AWS's word matching, filters that all
apply, negation, and a filter missing its Key or Values refused as InvalidParameterException."""
from __future__ import annotations

import pytest

from .sm_wire import assert_error

@pytest.fixture
def secrets(sm):
    sm.create("prod/db/DatabaseSecret", "a", Description="My basic description",
                Tags=[{"Key": "env", "Value": "production"}])
    sm.create("dev/app_token", "b", Description="Description of my secret",
                Tags=[{"Key": "env", "Value": "development"}, {"Key": "team", "Value": "core"}])
    sm.create("databaseSecret", "c", Description="Unrelated text")
    sm.create("MyData", "d")
    return sm


def _names(sm, *filters) -> list[str]:
    out = sm.ok("ListSecrets", {"Filters": list(filters), "SortBy": "name"})
    return sorted(s["Name"] for s in out["SecretList"])


def test_name_matches_the_beginning_of_a_word_case_sensitive(secrets):
    """"Name: Data returns a secret named DatabaseSecret, but not databaseSecret or MyData"; names
    are split into words at / _ + = . @ - and spaces.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_search-secret.html"""
    assert _names(secrets, {"Key": "name", "Values": ["Data"]}) == ["prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "name", "Values": ["db"]}) == ["prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "name", "Values": ["tok"]}) == ["dev/app_token"]
    assert _names(secrets, {"Key": "name", "Values": ["prod/db"]}) == ["prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "name", "Values": ["ata"]}) == []


def test_description_matches_every_word_in_any_order_not_case_sensitive(secrets):
    """"Description: My Description matches secrets with the following descriptions: My
    Description, my description, My basic description, Description of my secret".
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_search-secret.html"""
    assert _names(secrets, {"Key": "description", "Values": ["My Description"]}) == [
        "dev/app_token", "prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "description", "Values": ["basic desc"]}) == ["prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "description", "Values": ["my unrelated"]}) == []


def test_two_filters_with_the_same_key_must_both_match(secrets):
    """Each filter narrows the search: two `name` filters are both applied. 
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html"""
    assert _names(secrets, {"Key": "name", "Values": ["prod"]}, {"Key": "name", "Values": ["Data"]}) == [
        "prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "name", "Values": ["prod"]}, {"Key": "name", "Values": ["dev"]}) == []


def test_values_of_one_filter_are_alternatives_and_an_exclamation_mark_negates(secrets):
    """"You can prefix your search value with an exclamation mark (!) in order to perform negation
    filters." 
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html"""
    assert _names(secrets, {"Key": "name", "Values": ["prod", "dev"]}) == ["dev/app_token", "prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "tag-key", "Values": ["!team"]}) == [
        "MyData", "databaseSecret", "prod/db/DatabaseSecret"]


def test_tag_filters_are_prefix_matches_case_sensitive(secrets):
    """tag-key and tag-value: "Prefix match, case-sensitive." 
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html"""
    assert _names(secrets, {"Key": "tag-value", "Values": ["prod"]}) == ["prod/db/DatabaseSecret"]
    assert _names(secrets, {"Key": "tag-value", "Values": ["Prod"]}) == []
    assert _names(secrets, {"Key": "tag-key", "Values": ["te"]}) == ["dev/app_token"]


def test_primary_region_is_a_prefix_match(secrets):
    """primary-region: "Prefix match, case-sensitive." 
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html"""
    assert len(_names(secrets, {"Key": "primary-region", "Values": ["us-east"]})) == 4
    assert _names(secrets, {"Key": "primary-region", "Values": ["us-west"]}) == []


def test_all_searches_every_attribute_by_word_not_case_sensitive(secrets):
    """all: "Breaks the filter value string into words and then searches all attributes for
    matches. Not case-sensitive." 
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html"""
    assert _names(secrets, {"Key": "all", "Values": ["CORE"]}) == ["dev/app_token"]
    assert _names(secrets, {"Key": "all", "Values": ["unrelated"]}) == ["databaseSecret"]
    assert _names(secrets, {"Key": "all", "Values": ["mydata"]}) == ["MyData"]


@pytest.mark.parametrize("bad", [{"Key": "name"}, {"Values": ["x"]}, {}])
@pytest.mark.parametrize("operation", ["ListSecrets", "BatchGetSecretValue"])
@pytest.mark.parametrize("with_secret", [False, True])
def test_a_filter_without_key_or_values_is_invalid_parameter_not_a_fault(sm, bad, operation, with_secret):
    """Filter's Key and Values are each "Required: No" in the model, yet a filter needs both:
    InvalidParameterException ("The parameter name or value is invalid"), whether or not the
    Region holds a secret — never a 5xx.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListSecrets.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html"""
    if with_secret:
        sm.create("filter/present", "v")
    answer = sm(operation, {"Filters": [bad]})
    assert_error(answer, "InvalidParameterException")
    assert answer.message


def test_batch_get_secret_value_uses_the_same_filters(secrets):
    """BatchGetSecretValue's Filters are ListSecrets' Filter type.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html"""
    out = secrets.ok("BatchGetSecretValue", {"Filters": [{"Key": "description", "Values": ["my description"]}]})
    assert sorted(v["Name"] for v in out["SecretValues"]) == ["dev/app_token", "prod/db/DatabaseSecret"]
    assert out["Errors"] == []


def test_any_filter_the_model_admits_answers_200_or_400_never_a_fault(sm):
    """Every filter value the model's pattern admits (including a bare `!` and the empty string)
    is matched or refused, never a 5xx; the result is always a subset of the unfiltered list.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html"""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    sm.create("prop/alpha-beta", "v", Description="Some words.here", Tags=[{"Key": "k", "Value": "v v"}])
    every = {s["Name"] for s in sm.ok("ListSecrets")["SecretList"]}
    value = st.text(alphabet="aAbB0 :_@/+=.-!", max_size=12)
    key = st.sampled_from(["description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"])

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.fixed_dictionaries({"Key": key, "Values": st.lists(value, min_size=1, max_size=3)}),
                    min_size=1, max_size=3))
    def check(filters):
        answer = sm("ListSecrets", {"Filters": filters})
        assert answer.status in (200, 400), answer.body
        if answer.status == 200:
            assert {s["Name"] for s in answer.body["SecretList"]} <= every
    check()
