"""Secrets Manager answers checked against what AWS documents or is publicly quoted as answering:
an empty SecretString, AWSCURRENT that cannot be removed, resource policies of a secret scheduled
for deletion, the AutomaticallyAfterDays that DescribeSecret calculates from a ScheduleExpression,
and the order in which RotateSecret checks its input."""
from __future__ import annotations

import json

import pytest

from .sm_wire import assert_error, token

ROTATOR = "python:conformance.secretsmanager.sm_rotator:rotate"
MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."
EMPTY_SECRET_STRING = ("1 validation error detected: Value at 'secretString' failed to satisfy constraint: "
                       "Member must have length greater than or equal to 1")
POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


# ---- an empty value ---------------------------------------------------------------------------

@pytest.mark.parametrize("operation, body", [
    ("PutSecretValue", {"SecretId": "empty/target"}),
    ("UpdateSecret", {"SecretId": "empty/target"}),
    ("CreateSecret", {"Name": "empty/new"}),
])
def test_an_empty_secret_string_is_a_validation_exception_that_shows_no_value(sm, operation, body):
    """SecretString: "Length Constraints: Minimum length of 1" — an explicit "" fails the input
    constraint as AWS words it for a sensitive member, with no value quoted: "Value at
    'secretString' failed to satisfy constraint: Member must have length greater than or equal to
    1" (AWS's answer as quoted in a public CloudFormation/CDK deployment report). It is not the
    InvalidRequestException "You must provide either SecretString or SecretBinary.", which AWS
    gives when the member is left out (what Terraform sends for secret_string = "", whose users
    quote that text). Nothing is written.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html"""
    sm.create("empty/target", "v1")
    answer = sm(operation, {**body, "SecretString": "", "ClientRequestToken": token()})
    assert_error(answer, "ValidationException", EMPTY_SECRET_STRING)
    versions = sm.ok("ListSecretVersionIds", {"SecretId": "empty/target", "IncludeDeprecated": True})["Versions"]
    assert len(versions) == 1
    assert [s["Name"] for s in sm.ok("ListSecrets")["SecretList"]] == ["empty/target"]


# ---- staging labels ---------------------------------------------------------------------------

def test_removing_awscurrent_is_refused_in_aws_words(sm):
    """"You can only move staging label AWSCURRENT to a different secret version. It can't be
    completely removed." — AWS's InvalidParameterException (quoted from AWS in
    hashicorp/terraform-provider-aws, internal/service/secretsmanager/secret_version.go, where the
    older quote has a typographic apostrophe; AWS's texts of this family are quoted with a plain one
    today, e.g. "A previous rotation isn't complete", which the same older sources wrote "isn’t").
    The label stays.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html"""
    version = sm.create("labels/current", "v1")["VersionId"]
    answer = sm("UpdateSecretVersionStage", {"SecretId": "labels/current", "VersionStage": "AWSCURRENT",
                                             "RemoveFromVersionId": version})
    assert_error(answer, "InvalidParameterException",
                 "You can only move staging label AWSCURRENT to a different secret version. It can't be "
                 "completely removed.")
    stages = sm.ok("DescribeSecret", {"SecretId": "labels/current"})["VersionIdsToStages"]
    assert stages == {version: ["AWSCURRENT"]}


def test_moving_a_held_label_without_naming_its_holder_is_refused_in_aws_words(sm):
    """Moving AWSCURRENT without RemoveFromVersionId is AWS's InvalidParameterException "The
    parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached to
    version <id>, so you must explicitly reference that version in RemoveFromVersionId" (quoted
    from AWS in hashicorp/terraform-provider-aws's CHANGELOG, 5.33.0, #19943). Nothing moves.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html"""
    first = sm.create("labels/move", "v1")["VersionId"]
    second = sm.ok("PutSecretValue", {"SecretId": "labels/move", "SecretString": "v2", "ClientRequestToken": token(),
                                      "VersionStages": ["STAGED"]})["VersionId"]
    answer = sm("UpdateSecretVersionStage", {"SecretId": "labels/move", "VersionStage": "AWSCURRENT",
                                             "MoveToVersionId": second})
    assert_error(answer, "InvalidParameterException",
                 f"The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT is currently attached "
                 f"to version {first}, so you must explicitly reference that version in RemoveFromVersionId.")
    stages = sm.ok("DescribeSecret", {"SecretId": "labels/move"})["VersionIdsToStages"]
    assert stages == {first: ["AWSCURRENT"], second: ["STAGED"]}


# ---- resource policies of a secret scheduled for deletion -------------------------------------

@pytest.mark.parametrize("operation, extra", [
    ("GetResourcePolicy", {}),
    ("PutResourcePolicy", {"ResourcePolicy": POLICY}),
    ("DeleteResourcePolicy", {}),
])
def test_resource_policies_of_a_secret_scheduled_for_deletion_are_an_invalid_request(sm, operation, extra):
    """A secret in its recovery window refuses its policy operations with AWS's
    InvalidRequestException "marked for deletion" text — even GetResourcePolicy, which clients that
    read every secret's policy expect and skip (hashicorp/terraform-provider-aws,
    internal/service/secretsmanager/secret_policy_list.go). The policy is kept and is there again
    after RestoreSecret.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetResourcePolicy.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutResourcePolicy.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteResourcePolicy.html"""
    sm.create("policy/doomed", "v")
    sm.ok("PutResourcePolicy", {"SecretId": "policy/doomed", "ResourcePolicy": POLICY})
    sm.ok("DeleteSecret", {"SecretId": "policy/doomed", "RecoveryWindowInDays": 7})
    assert_error(sm(operation, {"SecretId": "policy/doomed", **extra}), "InvalidRequestException",
                 MARKED_FOR_DELETION)
    sm.ok("RestoreSecret", {"SecretId": "policy/doomed"})
    kept = sm.ok("GetResourcePolicy", {"SecretId": "policy/doomed"})["ResourcePolicy"]
    assert json.loads(kept) == json.loads(POLICY)


def test_a_secret_scheduled_for_deletion_can_be_force_deleted_and_its_name_reused(sm):
    """While a secret waits out its recovery window its name is taken — CreateSecret is
    InvalidRequestException "You can't create this secret because a secret with this name is
    already scheduled for deletion." (AWS's text, quoted in aws-controllers-k8s/community#2969 and
    redpanda-data/console#1835) — and ForceDeleteWithoutRecovery deletes it at once, which is
    what those reports do to free the name.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_delete-secret.html"""
    arn = sm.create("doomed/name", "v1")["ARN"]
    sm.ok("DeleteSecret", {"SecretId": "doomed/name", "RecoveryWindowInDays": 7})
    assert_error(sm("CreateSecret", {"Name": "doomed/name", "SecretString": "v2", "ClientRequestToken": token()}),
                 "InvalidRequestException",
                 "You can't create this secret because a secret with this name is already scheduled for deletion.")
    out = sm.ok("DeleteSecret", {"SecretId": "doomed/name", "ForceDeleteWithoutRecovery": True})
    assert (out["ARN"], out["Name"]) == (arn, "doomed/name") and "DeletionDate" in out
    assert sm.create("doomed/name", "v2")["ARN"] != arn


# ---- rotation rules as DescribeSecret reports them --------------------------------------------

@pytest.mark.parametrize("expression, days", [
    ("rate(10 hours)", 1),       # AWS's own answer, quoted below
    ("rate(10 days)", 10),
    ("cron(0 16 L * ? *)", 28),  # the last days of January and February 2026
])
def test_a_schedule_expression_is_reported_with_the_days_calculated_from_it(sm, expression, days):
    """AutomaticallyAfterDays: "In DescribeSecret and ListSecrets, this value is calculated from
    the rotation schedule". For rate(10 hours) AWS answers
    {"AutomaticallyAfterDays": 1, "ScheduleExpression": "rate(10 hours)"} (quoted from the API in
    hashicorp/terraform-provider-aws#31915); for rate(10 days), 10 (#34188).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotationRulesType.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-secretsmanager-rotationschedule-rotationrules.html"""
    sm.create("rules/reported", "v1")
    sm.ok("RotateSecret", {"SecretId": "rules/reported", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                           "RotationRules": {"ScheduleExpression": expression}, "RotateImmediately": False})
    expected = {"AutomaticallyAfterDays": days, "ScheduleExpression": expression}
    assert sm.ok("DescribeSecret", {"SecretId": "rules/reported"})["RotationRules"] == expected
    assert sm.ok("ListSecrets")["SecretList"][0]["RotationRules"] == expected


def test_rules_set_by_days_are_reported_as_set(sm):
    """A schedule set with AutomaticallyAfterDays (and a Duration) comes back as it was set.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    sm.create("rules/days", "v1")
    rules = {"AutomaticallyAfterDays": 30, "Duration": "3h"}
    sm.ok("RotateSecret", {"SecretId": "rules/days", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                           "RotationRules": rules, "RotateImmediately": False})
    assert sm.ok("DescribeSecret", {"SecretId": "rules/days"})["RotationRules"] == rules


def test_the_reported_rules_sent_back_are_refused_as_aws_refuses_them(sm):
    """Sending DescribeSecret's RotationRules back unchanged names both a frequency and an
    expression: AWS answers InvalidParameterException "You cannot specify both rotation frequency
    and schedule expression together." (quoted in hashicorp/terraform-provider-aws#31915 and
    #33329); the schedule is unchanged.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"""
    sm.create("rules/echo", "v1")
    sm.ok("RotateSecret", {"SecretId": "rules/echo", "ClientRequestToken": token(), "RotationLambdaARN": ROTATOR,
                           "RotationRules": {"ScheduleExpression": "rate(10 hours)"}, "RotateImmediately": False})
    described = sm.ok("DescribeSecret", {"SecretId": "rules/echo"})
    answer = sm("RotateSecret", {"SecretId": "rules/echo", "ClientRequestToken": token(),
                                 "RotationRules": described["RotationRules"], "RotateImmediately": False})
    assert_error(answer, "InvalidParameterException",
                 "You cannot specify both rotation frequency and schedule expression together.")
    assert sm.ok("DescribeSecret", {"SecretId": "rules/echo"})["RotationRules"] == described["RotationRules"]


def test_rotate_secret_checks_its_schedule_before_the_function_it_names(sm):
    """With both a bad schedule and a rotation function keyplane cannot run, the schedule is the
    refusal: RotationRules is the request's own input; the function is looked at after it (AWS's
    refusals about the function — "Secrets Manager cannot invoke the specified Lambda function" —
    come from trying it).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"""
    sm.create("rules/order", "v1")
    answer = sm("RotateSecret", {"SecretId": "rules/order", "ClientRequestToken": token(),
                                 "RotationLambdaARN": "arn:aws:lambda:us-east-1:111122223333:function:rotator",
                                 "RotationRules": {"AutomaticallyAfterDays": 2, "ScheduleExpression": "rate(2 days)"}})
    assert_error(answer, "InvalidParameterException",
                 "You cannot specify both rotation frequency and schedule expression together.")
    assert "RotationEnabled" not in sm.ok("DescribeSecret", {"SecretId": "rules/order"})
