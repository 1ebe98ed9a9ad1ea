"""Key policy statements AWS now refuses.

"Beginning August 18, 2025, the KMS CreateKey, ReplicateKey and PutKeyPolicy API requests without a
valid Action or NotAction, and Resource element in the key policy will be rejected with
MalformedPolicyDocumentException ... the only accepted Resource element value in a KMS key policy
is "*"" (AWS's notice, quoted in ministryofjustice/analytical-platform#7691);
https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-overview.html#key-policy-elements.
AWS's message text for these refusals is not published; the code and status are asserted.
"""
import json

import pytest

ROOT = {"AWS": "arn:aws:iam::111122223333:root"}


def _policy(**statement):
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Principal": ROOT, **statement}]})


def _key(wire):
    return wire.call("kms", "CreateKey", {}).body["KeyMetadata"]["Arn"]


@pytest.mark.parametrize("statement", [
    {"Resource": "*"},                                  # no Action or NotAction
    {"Action": "kms:*"},                                # no Resource
    {"Action": "kms:*", "NotResource": "*"},            # NotResource is not a Resource
])
def test_put_key_policy_refuses_statements_missing_required_elements(wire, statement):
    key = _key(wire)
    before = wire.call("kms", "GetKeyPolicy", {"KeyId": key, "PolicyName": "default"}).body["Policy"]
    r = wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": _policy(**statement)})
    assert r.status == 400 and r.error_type == "MalformedPolicyDocumentException"
    assert wire.call("kms", "GetKeyPolicy", {"KeyId": key, "PolicyName": "default"}).body["Policy"] == before


def test_resource_other_than_star_is_refused(wire):
    key = _key(wire)
    r = wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": _policy(Action="kms:*", Resource=key)})
    assert r.status == 400 and r.error_type == "MalformedPolicyDocumentException"


def test_create_key_refuses_a_statement_without_action_and_creates_nothing(wire):
    r = wire.call("kms", "CreateKey", {"Policy": _policy(Resource="*")})
    assert r.status == 400 and r.error_type == "MalformedPolicyDocumentException"
    assert wire.call("kms", "ListKeys").body["Keys"] == []


@pytest.mark.parametrize("statement", [{"Action": "kms:*", "Resource": "*"},
                                       {"NotAction": "kms:ScheduleKeyDeletion", "Resource": ["*"]}])
def test_action_or_notaction_with_resource_star_is_accepted(wire, statement):
    key = _key(wire)
    r = wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": _policy(**statement)})
    assert r.status == 200, r.body


def test_a_key_policy_that_is_not_json_is_malformed_with_no_message(wire):
    """CreateKey with a Policy that is not JSON is MalformedPolicyDocumentException with no text
    (https://github.com/aws/aws-sdk-ruby/issues/1784: "if the policy statement malformed an empty
    string is returned as the error message", for Policy "not a real policy statement"); no parser
    error is echoed, and no key is made."""
    before = wire.call("kms", "ListKeys", {}).body["Keys"]
    for text in ("not a real policy statement", '{"Version": "2012-10-17", "Statement": ['):
        r = wire.call("kms", "CreateKey", {"Policy": text})
        assert (r.status, r.error_type) == (400, "MalformedPolicyDocumentException"), r.body
        assert not r.has_message_member(), r.body
    assert wire.call("kms", "ListKeys", {}).body["Keys"] == before


def test_a_policy_that_locks_the_caller_out_is_refused_in_aws_words(wire):
    """"MalformedPolicyDocumentException: The new key policy will not allow you to update the key
    policy in the future." (AWS's answer quoted in trussworks/terraform-aws-cloudtrail#178 and
    aws-samples/rds-snapshot-export-to-s3-pipeline#8); BypassPolicyLockoutSafetyCheck skips the check
    (https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html#KMS-PutKeyPolicy-request-BypassPolicyLockoutSafetyCheck)."""
    key = _key(wire)
    locked = _policy(Action="kms:Encrypt", Resource="*")
    lockout = {"__type": "MalformedPolicyDocumentException",
               "message": "The new key policy will not allow you to update the key policy in the future."}
    r = wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": locked})
    assert (r.status, r.body) == (400, lockout)
    r = wire.call("kms", "CreateKey", {"Policy": locked})
    assert (r.status, r.body) == (400, lockout)
    r = wire.call("kms", "PutKeyPolicy", {"KeyId": key, "Policy": locked, "BypassPolicyLockoutSafetyCheck": True})
    assert r.status == 200, r.body
