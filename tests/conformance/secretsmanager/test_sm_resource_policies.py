"""Named resource policies, as botocore 1.44's Secrets Manager model has them: PolicyName on
Put/Get/DeleteResourcePolicy (`default` when left out, and the only one a caller can change),
ListResourcePolicies (names only, `default` first) with MaxResults / NextToken, and the
`secretsmanager:PolicyName` condition key."""
from __future__ import annotations

import json

import pytest

from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities, Principal

from .sm_wire import InProcess, assert_error

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


def test_policy_name_defaults_to_default_on_put_get_and_delete(sm):
    """"If you don't specify this field, Secrets Manager uses default" — and each answer names
    the policy: "If you didn't specify PolicyName in the request, this is default."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteResourcePolicy.html"""
    arn = sm.create("pol/default", "v")["ARN"]
    put = sm.ok("PutResourcePolicy", {"SecretId": arn, "ResourcePolicy": POLICY})
    assert put == {"ARN": arn, "Name": "pol/default", "PolicyName": "default"}
    got = sm.ok("GetResourcePolicy", {"SecretId": arn, "PolicyName": "default"})
    assert got["PolicyName"] == "default" and json.loads(got["ResourcePolicy"]) == json.loads(POLICY)
    deleted = sm.ok("DeleteResourcePolicy", {"SecretId": arn})
    assert deleted == {"ARN": arn, "Name": "pol/default", "PolicyName": "default"}
    after = sm.ok("GetResourcePolicy", {"SecretId": arn})
    assert after == {"ARN": arn, "Name": "pol/default", "PolicyName": "default"}    # no ResourcePolicy


@pytest.mark.parametrize("operation", ["PutResourcePolicy", "DeleteResourcePolicy"])
def test_only_the_default_policy_can_be_put_or_deleted(sm, operation):
    """"You can only attach the default policy; if you specify any other name, the operation
    returns an InvalidParameterException." (the same for DeleteResourcePolicy) — and nothing
    changes.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteResourcePolicy.html"""
    arn = sm.create("pol/only-default", "v")["ARN"]
    sm.ok("PutResourcePolicy", {"SecretId": arn, "ResourcePolicy": POLICY})
    body = {"SecretId": arn, "PolicyName": "mine"}
    if operation == "PutResourcePolicy":
        body["ResourcePolicy"] = json.dumps({"Version": "2012-10-17", "Statement": []})
    answer = sm(operation, body)
    assert_error(answer, "InvalidParameterException")
    assert "default" in answer.message
    assert sm.ok("ListResourcePolicies", {"SecretId": arn})["ResourcePolicies"] == [{"PolicyName": "default"}]
    assert json.loads(sm.ok("GetResourcePolicy", {"SecretId": arn})["ResourcePolicy"]) == json.loads(POLICY)


def test_getting_a_policy_name_that_does_not_exist_is_resource_not_found(sm):
    """"If you specify a name other than default and no policy with that name exists, the
    operation returns a ResourceNotFoundException."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html"""
    arn = sm.create("pol/missing-name", "v")["ARN"]
    assert_error(sm("GetResourcePolicy", {"SecretId": arn, "PolicyName": "cross-account-replication"}),
                 "ResourceNotFoundException")


def test_a_policy_name_outside_the_model_pattern_is_a_validation_exception(sm):
    """ResourcePolicyNameType: 1 to 64 characters, matching [0-9A-Za-z-_]+ (Smithy patterns are
    not anchored, so a name needs one such character somewhere).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html"""
    arn = sm.create("pol/pattern", "v")["ARN"]
    for name in ("x" * 65, "; ;", ""):
        assert_error(sm("GetResourcePolicy", {"SecretId": arn, "PolicyName": name}), "ValidationException")


def test_list_resource_policies_names_the_attached_policies_only(sm):
    """"The response contains only the names of the policies, not their contents"; a secret
    without a policy lists none.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListResourcePolicies.html"""
    arn = sm.create("pol/list", "v")["ARN"]
    assert sm("ListResourcePolicies", {"SecretId": arn}).body == {"ResourcePolicies": []}
    sm.ok("PutResourcePolicy", {"SecretId": arn, "ResourcePolicy": POLICY})
    assert sm("ListResourcePolicies", {"SecretId": "pol/list"}).body == {"ResourcePolicies": [{"PolicyName": "default"}]}
    assert_error(sm("ListResourcePolicies", {"SecretId": "pol/none-such"}), "ResourceNotFoundException")


def test_list_resource_policies_refuses_a_next_token_it_did_not_hand_out(sm):
    """InvalidNextTokenException: "The NextToken value is invalid."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListResourcePolicies.html"""
    arn = sm.create("pol/token", "v")["ARN"]
    for token in ("garbage", "eyJvIjogLTF9", "eyJvIjogInh4In0="):
        assert_error(sm("ListResourcePolicies", {"SecretId": arn, "NextToken": token}),
                     "InvalidNextTokenException", "The NextToken value is invalid.")
    assert_error(sm("ListResourcePolicies", {"SecretId": arn, "MaxResults": 0}), "ValidationException")


def test_the_policy_name_condition_key_narrows_who_may_read_which_policy(tmp_path, clock):
    """secretsmanager:PolicyName is a condition key of the resource-policy actions ("You can
    further qualify the delete permission with the secretsmanager:PolicyName condition key"):
    a user allowed GetResourcePolicy only for `default` reads it, and is refused any other name.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-remove.html"""
    account = "111122223333"
    allow_default = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:GetResourcePolicy", "Resource": "*",
        "Condition": {"StringEquals": {"secretsmanager:PolicyName": "default"}}}]}
    ids = Identities({"accounts": [{"id": account, "users": [
        {"name": "auditor", "policies": [{"name": "p", "document": allow_default}]}]}]})
    engine = Engine(str(tmp_path / "state"), clock=clock, identities=ids, default_account=account)
    try:
        owner = InProcess(engine, Principal.root(account))
        arn = owner.create("pol/condition", "v")["ARN"]
        auditor = owner.as_(Principal.from_arn(f"arn:aws:iam::{account}:user/auditor"))
        assert auditor.ok("GetResourcePolicy", {"SecretId": arn})["PolicyName"] == "default"
        assert_error(auditor("GetResourcePolicy", {"SecretId": arn, "PolicyName": "other"}),
                     "AccessDeniedException")
    finally:
        engine.close()
