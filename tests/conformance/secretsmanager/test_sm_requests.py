"""Secrets Manager request checks as AWS makes them, seen on the sm: the ClientRequestToken a raw
client must send, SecretIds that cannot be names, version tokens reused, VersionId and VersionStage
that disagree, tags on a secret scheduled for deletion, and another account reading a secret under
the AWS managed key."""
from __future__ import annotations

import pytest

from keyplane.engine.identity import Principal

from .sm_wire import assert_error, token

TOKEN_REQUIRED = "You must provide a ClientRequestToken value. We recommend a UUID-type value."
INVALID_NAME = ("Invalid name. Must be a valid name containing alphanumeric characters, or any of the "
                "following: -/_+=.@!")

# one request per operation that takes a SecretId, with every other required member filled in
REPLICA_ARN = "arn:aws:secretsmanager:us-east-1:222233334444:secret:replica-AbCdEf"
SECRET_ID_OPERATIONS = {
    "AssociateCrossAccountReplica": {"CrossAccountReplicaARN": REPLICA_ARN},
    "DisassociateCrossAccountReplica": {"CrossAccountReplicaARN": REPLICA_ARN},
    "ListResourcePolicies": {},
    "CancelRotateSecret": {}, "DeleteResourcePolicy": {}, "DeleteSecret": {}, "DescribeSecret": {},
    "GetResourcePolicy": {}, "GetSecretValue": {}, "ListSecretVersionIds": {},
    "PutResourcePolicy": {"ResourcePolicy": '{"Version":"2012-10-17","Statement":[]}'},
    "PutSecretValue": {"SecretString": "x", "ClientRequestToken": "t" * 36},
    "RemoveRegionsFromReplication": {"RemoveReplicaRegions": ["us-west-2"]},
    "ReplicateSecretToRegions": {"AddReplicaRegions": [{"Region": "us-west-2"}]},
    "RestoreSecret": {}, "RotateSecret": {"ClientRequestToken": "t" * 36},
    "StopReplicationToReplica": {}, "TagResource": {"Tags": [{"Key": "k", "Value": "v"}]},
    "UntagResource": {"TagKeys": ["k"]}, "UpdateSecret": {"Description": "d"},
    "UpdateSecretVersionStage": {"VersionStage": "AWSCURRENT", "MoveToVersionId": "t" * 36},
    "ValidateResourcePolicy": {"ResourcePolicy": '{"Version":"2012-10-17","Statement":[]}'},
}


def test_every_operation_that_takes_a_secret_id_is_listed_here():
    """The list above covers the whole botocore model, so a new operation cannot be missed."""
    import botocore.session
    model = botocore.session.get_session().get_service_model("secretsmanager")
    taking = {op for op in model.operation_names
              if "SecretId" in (model.operation_model(op).input_shape.members
                                if model.operation_model(op).input_shape else {})}
    assert taking == set(SECRET_ID_OPERATIONS)


@pytest.mark.parametrize("operation", sorted(SECRET_ID_OPERATIONS))
@pytest.mark.parametrize("secret_id", ["has space", "semi;colon", "quote'd", "caf\u00e9"])
def test_a_secret_id_that_cannot_be_a_name_is_a_validation_exception(sm, operation, secret_id):
    """A SecretId that is neither an ARN nor a possible secret name is ValidationException with
    AWS's "Invalid name" text on every operation, before any lookup — not ResourceNotFound.
    SecretId: "the ARN or name of the secret"; names are ASCII letters, digits and /_+=.@- (and
    `!` in the names of secrets other services manage).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html"""
    answer = sm(operation, {"SecretId": secret_id, **SECRET_ID_OPERATIONS[operation]})
    assert_error(answer, "ValidationException", INVALID_NAME)


def test_a_service_linked_name_with_an_exclamation_mark_is_looked_up(sm):
    """Secrets other services manage are named `<service>!<id>`; such a SecretId is a name, so a
    missing one is ResourceNotFoundException, not a validation error.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/service-linked-secrets.html"""
    assert_error(sm("DescribeSecret", {"SecretId": "rds!cluster-0123"}), "ResourceNotFoundException",
                 "Secrets Manager can't find the specified secret.")


def test_create_secret_with_an_invalid_name_is_a_validation_exception_and_creates_nothing(sm):
    """Name: "The secret name can contain ASCII letters, numbers, and the following characters:
    /_+=.@-". https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    answer = sm("CreateSecret", {"Name": "bad name", "SecretString": "x", "ClientRequestToken": token()})
    assert_error(answer, "ValidationException", INVALID_NAME)
    assert sm.ok("ListSecrets")["SecretList"] == []


@pytest.mark.parametrize("operation,body", [
    ("CreateSecret", {"Name": "raw/create", "SecretString": "x"}),
    ("CreateSecret", {"Name": "raw/create-empty"}),
    ("PutSecretValue", {"SecretId": "raw/existing", "SecretString": "x"}),
    ("UpdateSecret", {"SecretId": "raw/existing", "SecretString": "x"}),
    ("RotateSecret", {"SecretId": "raw/existing", "RotationLambdaARN": "keyplane:random-password"}),
])
def test_a_raw_request_without_client_request_token_is_refused(sm, operation, body):
    """"If you don't use the SDK and instead generate a raw HTTP request to the Secrets Manager
    service endpoint, then you must generate a ClientRequestToken yourself" — without one the
    request is InvalidRequestException and nothing is written.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html"""
    sm.create("raw/existing", "v1")
    before = sm.ok("ListSecretVersionIds", {"SecretId": "raw/existing", "IncludeDeprecated": True})
    assert_error(sm(operation, body), "InvalidRequestException", TOKEN_REQUIRED)
    after = sm.ok("ListSecretVersionIds", {"SecretId": "raw/existing", "IncludeDeprecated": True})
    assert after["Versions"] == before["Versions"]
    assert [s["Name"] for s in sm.ok("ListSecrets")["SecretList"]] == ["raw/existing"]


def test_update_secret_without_a_value_needs_no_token(sm):
    """Only a new version needs the token: UpdateSecret of the description alone writes none.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html"""
    sm.create("raw/meta", "v1")
    out = sm.ok("UpdateSecret", {"SecretId": "raw/meta", "Description": "new"})
    assert "VersionId" not in out


def test_update_secret_repeated_with_the_same_token_and_value_is_a_retry(sm):
    """"If a version with this value already exists and that version's SecretString and
    SecretBinary values are the same as those in the request, then the request is ignored" — the
    answer names that version; AWSCURRENT stays on it.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html"""
    sm.create("retry/update", "v1")
    t = token()
    first = sm.ok("UpdateSecret", {"SecretId": "retry/update", "SecretString": "v2", "ClientRequestToken": t})
    again = sm.ok("UpdateSecret", {"SecretId": "retry/update", "SecretString": "v2", "ClientRequestToken": t})
    assert first["VersionId"] == again["VersionId"] == t
    got = sm.ok("GetSecretValue", {"SecretId": "retry/update"})
    assert (got["VersionId"], got["SecretString"]) == (t, "v2")
    versions = sm.ok("ListSecretVersionIds", {"SecretId": "retry/update"})["Versions"]
    assert len(versions) == 2


@pytest.mark.parametrize("operation", ["UpdateSecret", "PutSecretValue"])
def test_a_token_in_use_with_another_value_is_resource_exists(sm, operation):
    """"...if the version's SecretString and SecretBinary values are different from those in the
    request, then the request fails because you can't modify a secret version" — with AWS's text
    naming the token and the secret's ARN; the version keeps its value.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html"""
    arn = sm.create("retry/conflict", "v1")["ARN"]
    t = token()
    sm.ok(operation, {"SecretId": "retry/conflict", "SecretString": "v2", "ClientRequestToken": t})
    answer = sm(operation, {"SecretId": "retry/conflict", "SecretString": "other", "ClientRequestToken": t})
    assert_error(answer, "ResourceExistsException",
                 f"You can't use ClientRequestToken {t} because that value is already in use for a "
                 f"version of secret {arn}.")
    got = sm.ok("GetSecretValue", {"SecretId": "retry/conflict", "VersionId": t})
    assert got["SecretString"] == "v2"


def test_version_id_and_version_stage_that_disagree_are_an_invalid_request(sm):
    """"If you include both [VersionId and VersionStage] they must refer to the same version";
    AWS answers InvalidRequestException with its own text.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html"""
    first = sm.create("pair/v", "a")["VersionId"]
    sm.ok("PutSecretValue", {"SecretId": "pair/v", "SecretString": "b", "ClientRequestToken": token()})
    answer = sm("GetSecretValue", {"SecretId": "pair/v", "VersionId": first, "VersionStage": "AWSCURRENT"})
    assert_error(answer, "InvalidRequestException",
                 "You provided a VersionStage that is not associated to the provided VersionId.")
    got = sm.ok("GetSecretValue", {"SecretId": "pair/v", "VersionId": first, "VersionStage": "AWSPREVIOUS"})
    assert got["SecretString"] == "a"


@pytest.mark.parametrize("operation,body", [
    ("TagResource", {"Tags": [{"Key": "team", "Value": "x"}]}),
    ("UntagResource", {"TagKeys": ["env"]}),
])
def test_tagging_a_secret_scheduled_for_deletion_is_an_invalid_request(sm, operation, body):
    """InvalidRequestException: "The secret is scheduled for deletion." — and the tags stay.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_TagResource.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UntagResource.html"""
    sm.create("gone/soon", "v", Tags=[{"Key": "env", "Value": "prod"}])
    sm.ok("DeleteSecret", {"SecretId": "gone/soon", "RecoveryWindowInDays": 7})
    assert_error(sm(operation, {"SecretId": "gone/soon", **body}), "InvalidRequestException",
                 "You can't perform this operation on the secret because it was marked for deletion.")
    assert sm.ok("DescribeSecret", {"SecretId": "gone/soon"})["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_another_account_reading_a_secret_under_the_aws_managed_key_is_an_invalid_request(clocked):
    """"You can't use the AWS managed key (aws/secretsmanager) for cross-account access": even
    with a resource policy that lets the other account in, GetSecretValue is refused with AWS's
    InvalidRequestException text (DescribeSecret, which reads no value, still works).
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples_cross.html"""
    import json
    other = "222233334444"
    arn = clocked.create("shared/managed", "s3cr3t")["ARN"]
    policy = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
        "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": "*"}]}
    clocked.ok("PutResourcePolicy", {"SecretId": arn, "ResourcePolicy": json.dumps(policy)})
    reader = clocked.as_(Principal.root(other))
    assert reader.ok("DescribeSecret", {"SecretId": arn})["ARN"] == arn
    answer = reader("GetSecretValue", {"SecretId": arn})
    assert_error(answer, "InvalidRequestException",
                 "You can't access a secret from a different AWS account if you encrypt the secret "
                 "with the default KMS service key.")
    assert "s3cr3t" not in str(answer.body)


def test_force_deleting_a_secret_that_does_not_exist_is_not_an_error(sm):
    """"If you forcibly delete an already deleted or nonexistent secret, the operation does not
    return ResourceNotFoundException." (The members of that answer are not documented.)
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html"""
    answer = sm("DeleteSecret", {"SecretId": "never/was", "ForceDeleteWithoutRecovery": True})
    assert answer.status == 200 and "__type" not in answer.body, answer.body
    sm.create("was/once", "v")
    sm.ok("DeleteSecret", {"SecretId": "was/once", "ForceDeleteWithoutRecovery": True})
    again = sm("DeleteSecret", {"SecretId": "was/once", "ForceDeleteWithoutRecovery": True})
    assert again.status == 200 and "__type" not in again.body, again.body
    assert sm("DeleteSecret", {"SecretId": "never/was"}).code == "ResourceNotFoundException"


def test_delete_secret_checks_the_secret_id_before_its_other_parameters(sm):
    """A SecretId that cannot be a name is a ValidationException even when the recovery window is
    also wrong: keyplane checks input validity (ValidationException, "The input fails to satisfy
    the constraints") before the operation's own parameter rules. AWS does not document the order
    of these two; this pins keyplane's.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/CommonErrors.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html"""
    answer = sm("DeleteSecret", {"SecretId": "no such;name", "RecoveryWindowInDays": 3})
    assert_error(answer, "ValidationException", INVALID_NAME)
    answer = sm("DeleteSecret", {"SecretId": "fine/name", "RecoveryWindowInDays": 3})
    assert_error(answer, "InvalidParameterException",
                 "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")


def test_put_secret_value_without_a_value_is_an_invalid_request(sm):
    """PutSecretValue: "You must include SecretBinary or SecretString"; AWS answers a request with
    neither with InvalidRequestException "You must provide either SecretString or SecretBinary."
    (as quoted from AWS in public deployment reports), and writes no version.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html"""
    sm.create("put/none", "v1")
    answer = sm("PutSecretValue", {"SecretId": "put/none", "ClientRequestToken": token()})
    assert_error(answer, "InvalidRequestException", "You must provide either SecretString or SecretBinary.")
    assert len(sm.ok("ListSecretVersionIds", {"SecretId": "put/none"})["Versions"]) == 1


def test_a_refused_update_secret_changes_nothing(sm):
    """A request refused for its token changes nothing it named: the description stays, the
    version keeps its value, AWSCURRENT stays where it was.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecret.html"""
    sm.create("refused/update", "v1", Description="before")
    t = token()
    sm.ok("PutSecretValue", {"SecretId": "refused/update", "SecretString": "v2", "ClientRequestToken": t})
    answer = sm("UpdateSecret", {"SecretId": "refused/update", "Description": "after", "SecretString": "other",
                                 "ClientRequestToken": t})
    assert_error(answer, "ResourceExistsException")
    described = sm.ok("DescribeSecret", {"SecretId": "refused/update"})
    assert described["Description"] == "before"
    assert described["VersionIdsToStages"][t] == ["AWSCURRENT"]
    assert sm.ok("GetSecretValue", {"SecretId": "refused/update"})["SecretString"] == "v2"


def test_create_secret_refused_for_its_key_creates_nothing(sm):
    """A CreateSecret whose KMS key cannot be used fails (EncryptionFailure: "Secrets Manager can't
    encrypt the protected secret text using the provided KMS key") and leaves no secret behind, so
    the name is free for a retry.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    answer = sm("CreateSecret", {"Name": "refused/key", "SecretString": "v", "ClientRequestToken": token(),
                                 "KmsKeyId": "alias/no-such-key", "Tags": [{"Key": "a", "Value": "b"}]})
    assert_error(answer, "EncryptionFailure")
    assert sm.ok("ListSecrets", {"IncludePlannedDeletion": True})["SecretList"] == []
    sm.create("refused/key", "v")
