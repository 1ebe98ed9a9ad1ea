"""What `check()` of Key, Alias and Grant says before anything is created: the resource schemas
agree with the KMS model, and every problem names the property and its JSON path."""
from __future__ import annotations

import botocore.session
import pytest
from pulumi.output import Unknown

from keyplane.resources.alias import AliasProvider
from keyplane.resources.base import validator
from keyplane.resources.grant import GrantProvider
from keyplane.resources.key import KeyProvider

KMS = botocore.session.get_session().get_service_model("kms")


def enum(schema: str, prop: str, items: bool = False) -> set:
    node = validator(f"resources/{schema}").schema["properties"][prop]
    return set((node["items"] if items else node)["enum"])


@pytest.mark.parametrize("schema,prop,shape,items", [
    ("key", "key_usage", "KeyUsageType", False),
    ("key", "key_spec", "KeySpec", False),
    ("key", "customer_master_key_spec", "CustomerMasterKeySpec", False),
    ("key", "origin", "OriginType", False),
    ("grant", "operations", "GrantOperation", True),
])
def test_resource_schema_enumerations_match_the_kms_model(schema, prop, shape, items):
    declared, model = enum(schema, prop, items), set(KMS.shape_for(shape).enum)
    # every value of the model (a spec the engine does not serve is refused by check(), not the
    # schema), and nothing else but ML-KEM's, which botocore models before 1.44 do not have yet
    assert model <= declared, model - declared
    assert declared - model <= ML_KEM, declared - model


ML_KEM = {"ENCAPSULATE_DECAPSULATE", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024", "Encapsulate", "Decapsulate"}


def failures(provider, news):
    result = provider.check({}, news)
    return [(f.property, f.reason) for f in result.failures], result.inputs


def test_key_policy_statement_problem_names_its_json_path():
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Alow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
        "Action": "kms:*", "Resource": "*"}]}
    found, _ = failures(KeyProvider(), {"policy": policy})
    assert found == [("policy", "policy.Statement[0].Effect: 'Alow' is not one of ['Allow', 'Deny']")]


def test_key_policy_given_as_text_that_is_not_json_fails_check():
    found, _ = failures(KeyProvider(), {"policy": "{\"Statement\": ["})
    assert len(found) == 1 and found[0][0] == "policy" and "not valid JSON" in found[0][1]


def test_key_inputs_out_of_range_fail_check():
    found, _ = failures(KeyProvider(), {"deletion_window_in_days": 3, "key_usage": "ENCRYPT"})
    props = dict(found)
    assert props["deletion_window_in_days"] == "deletion_window_in_days: 3 is less than the minimum of 7"
    assert props["key_usage"].startswith("key_usage: 'ENCRYPT' is not one of")


def test_key_customer_master_key_spec_stands_for_key_spec_and_defaults_fill_in():
    found, inputs = failures(KeyProvider(), {"customer_master_key_spec": "RSA_2048", "key_usage": "SIGN_VERIFY"})
    assert found == [] and inputs["key_spec"] == "RSA_2048"
    assert inputs["deletion_window_in_days"] == 30 and inputs["is_enabled"] is True
    found, _ = failures(KeyProvider(), {"customer_master_key_spec": "RSA_2048", "key_spec": "RSA_4096"})
    assert [p for p, _ in found] == ["customer_master_key_spec"]


def test_key_policy_with_values_unknown_in_preview_passes_check():
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": Unknown()}, "Action": "kms:*", "Resource": "*"}]}
    found, inputs = failures(KeyProvider(), {"policy": policy, "description": Unknown()})
    assert found == [] and isinstance(inputs["description"], Unknown)


def test_alias_name_must_be_alias_prefixed_and_not_reserved():
    found, _ = failures(AliasProvider(), {"name": "orders", "target_key_id": "k"})
    assert found and {p for p, _ in found} == {"name"}
    found, _ = failures(AliasProvider(), {"name": "alias/aws/s3", "target_key_id": "k"})
    assert [p for p, _ in found] == ["name"]
    found, _ = failures(AliasProvider(), {"name": "alias/orders"})
    assert found == [("target_key_id", "target_key_id: 'target_key_id' is a required property")]


def test_grant_constraints_are_checked_with_the_grant_constraint_schema():
    found, _ = failures(GrantProvider(), {
        "key_id": "k", "grantee_principal": "arn:aws:iam::111122223333:role/reader",
        "operations": ["Decrypt", "Fly"],
        "constraints": {"encryption_context_subset": {"app": 7}, "encryption_context_superset": {}},
    })
    reasons = dict(found)
    assert set(reasons) == {"operations", "constraints"}
    assert reasons["operations"].startswith("operations[1]: 'Fly' is not one of")
    assert any(r == "constraints.encryption_context_subset.app: 7 is not of type 'string'"
               for p, r in found)
