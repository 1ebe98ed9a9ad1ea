"""Managed external secrets: a secret's Type (the partner that holds it) on CreateSecret,
UpdateSecret, DescribeSecret and ListSecrets; RotateSecret's ExternalSecretRotationMetadata and
ExternalSecretRotationRoleArn, stored and returned as given and validated as documented.
https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-partners.html
https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-security.html"""
from __future__ import annotations

import json

import pytest

from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities, Principal

from .sm_wire import InProcess, assert_error, token

ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/mes-rotation"
UNTRUSTING = f"arn:aws:iam::{ACCOUNT}:role/untrusting"
OTHER_ACCOUNT_ROLE = "arn:aws:iam::444455556666:role/mes-rotation"
PARTNER = "SalesforceClientSecret"
METADATA = [{"Key": "apiVersion", "Value": "v65.0"}, {"Key": "adminSecretArn", "Value": "arn:aws:secretsmanager:x"}]
VALUE = json.dumps({"consumerKey": "k", "consumerSecret": "s", "baseUri": "https://x.my.salesforce.com",
                    "appId": "0xabc", "consumerId": "c"})
ROTATOR = "python:conformance.secretsmanager.sm_rotator:rotate"


@pytest.fixture
def sm(tmp_path, clock):
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "secretsmanager.amazonaws.com"}}]}
    trust_account = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}
    # the permissions policy the mes-security page shows: rotation access scoped by Type
    by_type = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Resource": "*",
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Condition": {"StringEquals": {"secretsmanager:resource/Type": PARTNER}}}]}
    no_pass = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "secretsmanager:*",
                                                       "Resource": "*"}]}
    ids = Identities({"accounts": [{"id": ACCOUNT,
                                    "users": [{"name": "partner-reader", "policies": [{"name": "p", "document": by_type}]},
                                              {"name": "no-pass", "policies": [{"name": "p", "document": no_pass}]}],
                                    "roles": [{"name": "mes-rotation", "trust_policy": trust},
                                              {"name": "untrusting", "trust_policy": trust_account}]}]})
    engine = Engine(str(tmp_path / "state"), clock=clock, identities=ids, default_account=ACCOUNT)
    yield InProcess(engine, Principal.root(ACCOUNT))
    engine.close()


def test_type_is_stored_shown_and_updated(sm):
    """CreateSecret / UpdateSecret Type: "The exact string that identifies the partner that holds
    the external secret"; DescribeSecret and ListSecrets' SecretListEntry return it.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html"""
    arn = sm.create("mes/salesforce", VALUE, Type=PARTNER)["ARN"]
    assert sm.ok("DescribeSecret", {"SecretId": arn})["Type"] == PARTNER
    assert sm.ok("ListSecrets")["SecretList"][0]["Type"] == PARTNER
    sm.ok("UpdateSecret", {"SecretId": arn, "Type": "SnowflakeKeyPairAuthentication"})
    assert sm.ok("DescribeSecret", {"SecretId": arn})["Type"] == "SnowflakeKeyPairAuthentication"
    assert "Type" not in sm.ok("DescribeSecret", {"SecretId": sm.create("mes/plain", "v")["ARN"]})
    assert_error(sm("CreateSecret", {"Name": "mes/long", "ClientRequestToken": token(), "Type": "x" * 257}),
                 "ValidationException")


def test_rotate_secret_stores_and_returns_the_external_rotation_configuration(sm):
    """RotateSecret's ExternalSecretRotationMetadata ("A list of key value pairs ... specified by
    the partner") and ExternalSecretRotationRoleArn come back in DescribeSecret and ListSecrets as
    given; a later RotateSecret without metadata keeps it, one with metadata replaces it.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    arn = sm.create("mes/salesforce", VALUE, Type=PARTNER)["ARN"]
    out = sm.ok("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(), "RotateImmediately": False,
                                 "ExternalSecretRotationMetadata": METADATA, "ExternalSecretRotationRoleArn": ROLE,
                                 "RotationRules": {"AutomaticallyAfterDays": 30}})
    assert out == {"ARN": arn, "Name": "mes/salesforce"}
    described = sm.ok("DescribeSecret", {"SecretId": arn})
    assert described["ExternalSecretRotationMetadata"] == METADATA
    assert described["ExternalSecretRotationRoleArn"] == ROLE
    assert described["RotationEnabled"] is True and "RotationLambdaARN" not in described
    listed = sm.ok("ListSecrets")["SecretList"][0]
    assert listed["ExternalSecretRotationMetadata"] == METADATA and listed["ExternalSecretRotationRoleArn"] == ROLE
    sm.ok("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(), "RotateImmediately": False,
                           "RotationRules": {"AutomaticallyAfterDays": 7}})
    assert sm.ok("DescribeSecret", {"SecretId": arn})["ExternalSecretRotationMetadata"] == METADATA
    sm.ok("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(), "RotateImmediately": False,
                           "ExternalSecretRotationMetadata": METADATA[:1]})
    assert sm.ok("DescribeSecret", {"SecretId": arn})["ExternalSecretRotationMetadata"] == METADATA[:1]


def test_a_managed_external_rotation_keyplane_cannot_run_fails_and_keeps_the_value(sm):
    """Rotation of a managed external secret calls the partner; keyplane reaches none, so the run
    fails (recorded as RotationFailed, as CloudTrail records a failed rotation) and AWSCURRENT
    stays. https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_troubleshoot.html"""
    arn = sm.create("mes/salesforce", VALUE, Type=PARTNER)["ARN"]
    out = sm.ok("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(),
                                 "ExternalSecretRotationMetadata": METADATA, "ExternalSecretRotationRoleArn": ROLE})
    assert out["VersionId"]
    assert sm.ok("GetSecretValue", {"SecretId": arn})["SecretString"] == VALUE
    failed = sm.engine.audit.query(sm.engine.store_for("us-east-1"), event_name="RotationFailed")
    assert failed and failed[0]["resources"][0]["ARN"] == arn
    assert failed[0]["serviceEventDetails"]["step"] == "createSecret"
    assert PARTNER in failed[0]["serviceEventDetails"]["message"]


@pytest.mark.parametrize("body", [
    {"ExternalSecretRotationMetadata": METADATA, "ExternalSecretRotationRoleArn": ROLE},
    {"ExternalSecretRotationRoleArn": ROLE, "RotationLambdaARN": ROTATOR},
])
def test_external_rotation_members_are_for_managed_external_secrets_only(sm, body):
    """ExternalSecretRotationMetadata / RoleArn rotate "a managed external secret" — one created
    with the partner's Type; on any other secret they are an InvalidParameterException.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"""
    arn = sm.create("mes/plain", "v")["ARN"]
    assert_error(sm("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(), **body}),
                 "InvalidParameterException")
    assert "RotationEnabled" not in sm.ok("DescribeSecret", {"SecretId": arn})


@pytest.mark.parametrize("body,code", [
    ({"RotationLambdaARN": ROTATOR, "ExternalSecretRotationRoleArn": ROLE}, "InvalidParameterException"),
    ({"ExternalSecretRotationMetadata": METADATA}, "InvalidParameterException"),             # no role
    ({"ExternalSecretRotationRoleArn": UNTRUSTING}, "InvalidParameterException"),
    ({"ExternalSecretRotationRoleArn": OTHER_ACCOUNT_ROLE}, "InvalidParameterException"),
    ({"ExternalSecretRotationRoleArn": f"arn:aws:iam::{ACCOUNT}:role/none-such"}, "InvalidParameterException"),
    ({"ExternalSecretRotationRoleArn": ROLE, "ExternalSecretRotationMetadata": [{"Key": "apiVersion"}]},
     "InvalidParameterException"),
    ({"ExternalSecretRotationRoleArn": ROLE,
      "ExternalSecretRotationMetadata": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]},
     "InvalidParameterException"),
    ({"ExternalSecretRotationRoleArn": ROLE, "ExternalSecretRotationMetadata": [{"Key": "", "Value": "1"}]},
     "ValidationException"),
])
def test_refused_external_rotation_settings_change_nothing(sm, body, code):
    """Managed rotation takes no Lambda ("For secrets that use managed rotation, omit this field");
    the rotation role "is validated during setup" — a role of the account that trusts
    secretsmanager.amazonaws.com; metadata items are Key/Value pairs (Key 1-256 characters).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-security.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ExternalSecretRotationMetadataItem.html"""
    arn = sm.create("mes/salesforce", VALUE, Type=PARTNER)["ARN"]
    assert_error(sm("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(), "RotateImmediately": False,
                                     **body}), code)
    described = sm.ok("DescribeSecret", {"SecretId": arn})
    assert not {"RotationEnabled", "ExternalSecretRotationMetadata", "ExternalSecretRotationRoleArn"} & set(described)


def test_the_rotation_role_needs_iam_pass_role(sm):
    """Handing Secrets Manager a role to assume takes iam:PassRole, as for any AWS service.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-security.html"""
    arn = sm.create("mes/salesforce", VALUE, Type=PARTNER)["ARN"]
    caller = sm.as_(Principal.from_arn(f"arn:aws:iam::{ACCOUNT}:user/no-pass"))
    assert_error(caller("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(), "RotateImmediately": False,
                                         "ExternalSecretRotationRoleArn": ROLE}), "AccessDeniedException")
    assert "RotationEnabled" not in sm.ok("DescribeSecret", {"SecretId": arn})


def test_the_resource_type_condition_key_scopes_access_by_partner(sm):
    """The mes-security permissions example scopes rotation access with
    `secretsmanager:resource/Type`: a user allowed GetSecretValue for SalesforceClientSecret
    secrets reads those and is refused the others.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-security.html"""
    typed = sm.create("mes/salesforce", VALUE, Type=PARTNER)["ARN"]
    other = sm.create("mes/snowflake", "v", Type="SnowflakeKeyPairAuthentication")["ARN"]
    plain = sm.create("mes/plain", "v")["ARN"]
    reader = sm.as_(Principal.from_arn(f"arn:aws:iam::{ACCOUNT}:user/partner-reader"))
    assert reader.ok("GetSecretValue", {"SecretId": typed})["SecretString"] == VALUE
    for arn in (other, plain):
        assert_error(reader("GetSecretValue", {"SecretId": arn}), "AccessDeniedException")


def test_a_lambda_rotated_secret_never_shows_external_rotation_members(sm):
    """ExternalSecretRotationMetadata belongs to managed external secrets: a secret rotated by a
    rotator has none, even after a failed rotation (that is in the audit trail).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html"""
    arn = sm.create("mes/lambda", "v")["ARN"]
    sm.ok("RotateSecret", {"SecretId": arn, "ClientRequestToken": token(),
                           "RotationLambdaARN": "python:conformance.secretsmanager.no_such_module:rotate"})
    described = sm.ok("DescribeSecret", {"SecretId": arn})
    assert "ExternalSecretRotationMetadata" not in described and "ExternalSecretRotationRoleArn" not in described
    assert sm.engine.audit.query(sm.engine.store_for("us-east-1"), event_name="RotationFailed")
