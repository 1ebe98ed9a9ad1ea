"""Cross-account replicas on the wire: account B creates a replica of account A's secret
(CreateSecret CrossAccountPrimaryARN), A associates it (AssociateCrossAccountReplica) and its
values follow the primary; either side ends replication (DisassociateCrossAccountReplica,
StopReplicationToReplica); what a replica refuses; who needs which permission.
https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-secrets.html"""
from __future__ import annotations

import json

import pytest

from keyplane.engine.core import Engine, RequestContext
from keyplane.engine.identity import Identities, Principal
from keyplane.wire import dispatch

from .sm_wire import InProcess, assert_error, token

A, B = "111111111111", "222222222222"
OUTSIDER = "999999999999"          # an account the identities file does not list
REGION = "us-east-1"
OPERATOR = f"arn:aws:iam::{A}:user/operator"      # may manage secrets and pass the role, no KMS rights
WRITER = f"arn:aws:iam::{A}:user/writer"          # may write A's secrets and use A's key only
ROLE = f"arn:aws:iam::{A}:role/replicator"
UNTRUSTING_ROLE = f"arn:aws:iam::{A}:role/untrusting"
ROTATOR = "python:conformance.secretsmanager.sm_rotator:rotate"


def _doc(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


@pytest.fixture
def world(tmp_path, clock):
    trust_sm = _doc({"Effect": "Allow", "Principal": {"Service": "secretsmanager.amazonaws.com"},
                     "Action": "sts:AssumeRole"})
    trust_a = _doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "sts:AssumeRole"})
    ids = Identities({"accounts": [
        {"id": A,
         "users": [
             {"name": "operator", "policies": [{"name": "p", "document": _doc(
                 _allow("secretsmanager:*"), _allow("iam:PassRole", ROLE))}]},
             {"name": "writer", "policies": [{"name": "p", "document": _doc(
                 _allow("secretsmanager:*"), _allow(["kms:Decrypt", "kms:GenerateDataKey"]))}]}],
         "roles": [
             {"name": "replicator", "trust_policy": trust_sm, "policies": [{"name": "p", "document": _doc(
                 _allow(["kms:Decrypt", "kms:Encrypt"]))}]},
             {"name": "untrusting", "trust_policy": trust_a}]},
        {"id": B}]})
    engine = Engine(str(tmp_path / "state"), clock=clock, identities=ids, default_account=A)
    yield World(engine)
    engine.close()


class World:
    def __init__(self, engine):
        self.engine = engine
        self.a = InProcess(engine, Principal.root(A))
        self.b = self.a.as_(Principal.root(B))
        self.a_key = self.kms(self.a, "CreateKey", {})["KeyMetadata"]["Arn"]
        self.b_key = self.kms(self.b, "CreateKey", {"Policy": json.dumps(self.b_key_policy(True))})["KeyMetadata"]["Arn"]

    @staticmethod
    def b_key_policy(a_may_encrypt: bool) -> dict:
        statements = [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "kms:*",
                       "Resource": "*"}]
        if a_may_encrypt:
            statements.append({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                               "Action": "kms:Encrypt", "Resource": "*"})
        return _doc(*statements)

    def kms(self, who: InProcess, operation: str, body: dict) -> dict:
        ctx = RequestContext(principal=who.principal, region=REGION)
        resp = dispatch(self.engine, "kms", {"X-Amz-Target": f"TrentService.{operation}"}, json.dumps(body).encode(), ctx)
        assert resp.status == 200, resp.body
        return json.loads(resp.body or b"{}")

    def primary(self, name="app/db", value="v1") -> str:
        return self.a.create(name, value, KmsKeyId=self.a_key)["ARN"]

    def replica(self, primary_arn: str, name="mirror/db", **extra) -> str:
        body = {"Name": name, "ClientRequestToken": token(), "KmsKeyId": self.b_key,
                "CrossAccountPrimaryARN": primary_arn, **extra}
        return self.b.ok("CreateSecret", body)["ARN"]

    def linked(self, name="app/db", value="v1") -> tuple[str, str]:
        primary = self.primary(name, value)
        replica = self.replica(primary)
        self.a.ok("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
        return primary, replica

    def value(self, who: InProcess, arn: str) -> str:
        return who.ok("GetSecretValue", {"SecretId": arn})["SecretString"]


CREATE_DOC = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"


def test_a_new_replica_is_pending_empty_and_carries_the_replication_policy(world):
    """"Secrets Manager creates the replica with no secret value"; its ReplicationStatus is
    Pending ("Only the replica secret shows this status"); "Secrets Manager attaches a managed
    resource policy named cross-account-replication to the replica".
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-create.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-status.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_cross-account-replication.html"""
    primary = world.primary()
    replica = world.replica(primary)
    described = world.b.ok("DescribeSecret", {"SecretId": replica})
    assert described["CrossAccountPrimary"] == {"PrimarySecretARN": primary, "ReplicationStatus": "Pending"}
    assert "VersionIdsToStages" not in described and "CrossAccountReplicas" not in described
    assert_error(world.b("GetSecretValue", {"SecretId": replica}), "ResourceNotFoundException")
    assert world.b.ok("ListResourcePolicies", {"SecretId": replica}) == {
        "ResourcePolicies": [{"PolicyName": "cross-account-replication"}]}
    policy = json.loads(world.b.ok("GetResourcePolicy", {"SecretId": replica,
                                                         "PolicyName": "cross-account-replication"})["ResourcePolicy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{A}:root"}
    assert policy["Statement"][0]["Action"] == "secretsmanager:AcceptCrossAccountReplication"
    # the primary knows nothing of it until its account associates it
    assert "CrossAccountReplicas" not in world.a.ok("DescribeSecret", {"SecretId": primary})


def test_list_resource_policies_lists_default_first_and_pages(world):
    """"Secrets Manager lists default first, followed by any other policies in alphabetical
    order"; MaxResults / NextToken page through them; only default can be changed.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_ListResourcePolicies.html"""
    replica = world.replica(world.primary())
    own = json.dumps(_doc({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                           "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
    world.b.ok("PutResourcePolicy", {"SecretId": replica, "ResourcePolicy": own})
    assert world.b.ok("ListResourcePolicies", {"SecretId": replica})["ResourcePolicies"] == [
        {"PolicyName": "default"}, {"PolicyName": "cross-account-replication"}]
    first = world.b.ok("ListResourcePolicies", {"SecretId": replica, "MaxResults": 1})
    assert first["ResourcePolicies"] == [{"PolicyName": "default"}] and first["NextToken"]
    second = world.b.ok("ListResourcePolicies", {"SecretId": replica, "MaxResults": 1, "NextToken": first["NextToken"]})
    assert second == {"ResourcePolicies": [{"PolicyName": "cross-account-replication"}]}
    assert_error(world.b("DeleteResourcePolicy", {"SecretId": replica, "PolicyName": "cross-account-replication"}),
                 "InvalidParameterException")
    assert_error(world.b("PutResourcePolicy", {"SecretId": replica, "PolicyName": "cross-account-replication",
                                               "ResourcePolicy": own}), "InvalidParameterException")
    world.b.ok("DeleteResourcePolicy", {"SecretId": replica})
    assert world.b.ok("ListResourcePolicies", {"SecretId": replica})["ResourcePolicies"] == [
        {"PolicyName": "cross-account-replication"}]


@pytest.mark.parametrize("extra", [{"SecretString": "x"}, {"SecretBinary": "eA=="}, {"Description": "d"},
                                   {"Type": "SalesforceClientSecret"}, {"AddReplicaRegions": [{"Region": "us-west-2"}]}])
def test_a_replica_cannot_be_created_with_a_value_description_type_or_regions(world, extra):
    """"To create a cross-account replica secret, include CrossAccountPrimaryARN. The replica must
    use a customer managed KMS key, and can't include AddReplicaRegions, Description,
    SecretBinary, SecretString, or Type." — InvalidParameterException, nothing created.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    primary = world.primary()
    answer = world.b("CreateSecret", {"Name": "mirror/bad", "ClientRequestToken": token(), "KmsKeyId": world.b_key,
                                      "CrossAccountPrimaryARN": primary, **extra})
    assert_error(answer, "InvalidParameterException")
    assert_error(world.b("DescribeSecret", {"SecretId": "mirror/bad"}), "ResourceNotFoundException")


@pytest.mark.parametrize("key", [None, "alias/aws/secretsmanager"])
def test_a_replica_needs_a_customer_managed_key(world, key):
    """"you must specify a customer managed KMS key in KmsKeyId" — "The AWS managed key
    aws/secretsmanager does not support cross-account access."
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-create.html"""
    body = {"Name": "mirror/managed", "ClientRequestToken": token(), "CrossAccountPrimaryARN": world.primary()}
    if key:
        body["KmsKeyId"] = key
    assert_error(world.b("CreateSecret", body), "InvalidParameterException")
    assert_error(world.b("DescribeSecret", {"SecretId": "mirror/managed"}), "ResourceNotFoundException")


@pytest.mark.parametrize("primary_arn", [
    f"arn:aws:secretsmanager:us-west-2:{A}:secret:app/db-AbCdEf",          # another Region
    f"arn:aws-cn:secretsmanager:{REGION}:{A}:secret:app/db-AbCdEf",        # another partition
    f"arn:aws:secretsmanager:{REGION}:{B}:secret:app/db-AbCdEf",           # the replica's own account
    f"arn:aws:kms:{REGION}:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab",  # not a secret
])
def test_a_replica_primary_must_be_another_accounts_secret_in_the_same_region(world, primary_arn):
    """"The primary secret must be in the same AWS Region and partition as the replica".
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    answer = world.b("CreateSecret", {"Name": "mirror/far", "ClientRequestToken": token(), "KmsKeyId": world.b_key,
                                      "CrossAccountPrimaryARN": primary_arn})
    assert_error(answer, "InvalidParameterException")


def test_association_replicates_the_value_and_every_later_version(world):
    """AssociateCrossAccountReplica "starts replication"; "when you call PutSecretValue on the
    primary secret, Secrets Manager creates the new version, moves the AWSCURRENT staging label to
    it, and then replicates the version to the replica" — same version ids and labels; both
    sides report InSync.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-permissions.html"""
    primary = world.primary(value="v1")
    replica = world.replica(primary)
    out = world.a.ok("AssociateCrossAccountReplica", {"SecretId": "app/db", "CrossAccountReplicaARN": replica})
    assert out == {"ARN": primary, "CrossAccountReplicaARN": replica, "ReplicationStatus": "InSync"}
    assert world.value(world.b, replica) == "v1"
    second = world.a.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2",
                                           "ClientRequestToken": token()})["VersionId"]
    assert world.value(world.b, replica) == "v2"
    stages = world.b.ok("DescribeSecret", {"SecretId": replica})["VersionIdsToStages"]
    assert stages == world.a.ok("DescribeSecret", {"SecretId": primary})["VersionIdsToStages"]
    assert stages[second] == ["AWSCURRENT"]
    first = next(v for v, s in stages.items() if s == ["AWSPREVIOUS"])
    world.a.ok("UpdateSecretVersionStage", {"SecretId": primary, "VersionStage": "AWSCURRENT",
                                            "MoveToVersionId": first, "RemoveFromVersionId": second})
    assert world.value(world.b, replica) == "v1"
    assert world.a.ok("DescribeSecret", {"SecretId": primary})["CrossAccountReplicas"] == [
        {"ReplicaSecretARN": replica, "ReplicationStatus": "InSync"}]
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"] == {
        "PrimarySecretARN": primary, "ReplicationStatus": "InSync"}
    # the replica's versions are under B's own key
    listed = world.b.ok("ListSecretVersionIds", {"SecretId": replica})["Versions"]
    assert {k for v in listed for k in v["KmsKeyIds"]} == {world.b_key}


def test_list_secrets_entries_have_no_cross_account_members(world):
    """SecretListEntry has no CrossAccountPrimary / CrossAccountReplicas (DescribeSecret has).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_SecretListEntry.html"""
    world.linked()
    for who in (world.a, world.b):
        for entry in who.ok("ListSecrets")["SecretList"]:
            assert "CrossAccountPrimary" not in entry and "CrossAccountReplicas" not in entry


@pytest.mark.parametrize("operation,body", [
    ("PutSecretValue", {"SecretString": "mine", "ClientRequestToken": "t" * 36}),
    ("UpdateSecret", {"Description": "mine"}),
    ("UpdateSecretVersionStage", {"VersionStage": "AWSCURRENT", "MoveToVersionId": "t" * 36}),
    ("RotateSecret", {"ClientRequestToken": "t" * 36, "RotationLambdaARN": ROTATOR}),
    ("ReplicateSecretToRegions", {"AddReplicaRegions": [{"Region": "us-west-2"}]}),
])
def test_a_replica_refuses_changes_of_its_value_and_configuration(world, operation, body):
    """A replica is changed only through its primary, as a Region replica is ("Operation is not
    permitted on a replica secret"): InvalidRequestException, its value unchanged — even once
    Detached, since "Disassociating the replica from the primary does not ... convert the replica
    secret to a standalone secret".
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DisassociateCrossAccountReplica.html"""
    primary, replica = world.linked()
    assert_error(world.b(operation, {"SecretId": replica, **body}), "InvalidRequestException")
    world.a.ok("DisassociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert_error(world.b(operation, {"SecretId": replica, **body}), "InvalidRequestException")
    assert world.value(world.b, replica) == "v1"


def test_a_failed_association_changes_neither_secret(world):
    """"If the association fails, Secrets Manager does not modify either the primary or replica
    secret": a replica key whose policy doesn't let A encrypt (the dry-run kms:Encrypt check) is
    AccessDeniedException; the replica stays Pending and empty, the primary lists no replica.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-associate.html"""
    primary = world.primary()
    replica = world.replica(primary)
    world.kms(world.b, "PutKeyPolicy", {"KeyId": world.b_key, "PolicyName": "default",
                                        "Policy": json.dumps(world.b_key_policy(False))})
    answer = world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert_error(answer, "AccessDeniedException")
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"
    assert "CrossAccountReplicas" not in world.a.ok("DescribeSecret", {"SecretId": primary})
    assert_error(world.b("GetSecretValue", {"SecretId": replica}), "ResourceNotFoundException")


def test_association_checks_the_replica_it_names(world):
    """The replica "must already exist in the other AWS account" (ResourceNotFoundException), must
    have been created as a replica of this primary (InvalidRequestException), in the same Region
    and another account (InvalidParameterException); "A primary secret can have at most one
    cross-account replica" (LimitExceededException).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html"""
    primary = world.primary()
    other_primary = world.primary("app/other")
    missing = f"arn:aws:secretsmanager:{REGION}:{B}:secret:mirror/none-AbCdEf"
    assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": missing}),
                 "ResourceNotFoundException")
    of_other = world.replica(other_primary, "mirror/other")
    assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": of_other}),
                 "InvalidRequestException")
    plain = world.b.create("plain/secret", "b-owned", KmsKeyId=world.b_key)["ARN"]
    assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": plain}),
                 "InvalidRequestException")
    for arn in (f"arn:aws:secretsmanager:us-west-2:{B}:secret:mirror/db-AbCdEf",
                f"arn:aws:secretsmanager:{REGION}:{A}:secret:app/other-AbCdEf"):
        assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": arn}),
                     "InvalidParameterException")
    first = world.replica(primary, "mirror/one")
    second = world.replica(primary, "mirror/two")
    world.a.ok("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": first})
    assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": second}),
                 "LimitExceededException")
    assert world.b.ok("DescribeSecret", {"SecretId": second})["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"


def test_association_is_idempotent_and_repairs_a_failed_replication(world):
    """"This operation is idempotent, so you can call it again for the same replica to repair
    replication." A change of the primary whose replication fails (B's key no longer lets A
    encrypt) still succeeds; both sides say Failed with a StatusMessage and the replica keeps its
    last value; associating again once the key allows it brings the replica InSync.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-status.html"""
    primary, replica = world.linked()
    world.kms(world.b, "PutKeyPolicy", {"KeyId": world.b_key, "PolicyName": "default",
                                        "Policy": json.dumps(world.b_key_policy(False))})
    world.a.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2", "ClientRequestToken": token()})
    entry = world.a.ok("DescribeSecret", {"SecretId": primary})["CrossAccountReplicas"][0]
    assert entry["ReplicationStatus"] == "Failed" and "KMS" in entry["StatusMessage"]
    link = world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]
    assert link["ReplicationStatus"] == "Failed" and link["StatusMessage"]
    assert world.value(world.b, replica) == "v1"
    world.kms(world.b, "PutKeyPolicy", {"KeyId": world.b_key, "PolicyName": "default",
                                        "Policy": json.dumps(world.b_key_policy(True))})
    again = world.a.ok("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert again["ReplicationStatus"] == "InSync"
    assert world.value(world.b, replica) == "v2"
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"] == {
        "PrimarySecretARN": primary, "ReplicationStatus": "InSync"}


def test_disassociating_detaches_the_replica_without_deleting_it(world):
    """DisassociateCrossAccountReplica: "Disassociating the replica from the primary does not
    delete the replica secret or convert the replica secret to a standalone secret ... its
    replication status changes to Detached. Secrets Manager no longer sends updates"; the primary
    drops it from its list. StopReplicationToReplica then makes it standalone.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DisassociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-remove.html"""
    primary, replica = world.linked()
    out = world.a.ok("DisassociateCrossAccountReplica", {"SecretId": "app/db", "CrossAccountReplicaARN": replica})
    assert out == {"ARN": primary, "CrossAccountReplicaARN": replica}
    assert "CrossAccountReplicas" not in world.a.ok("DescribeSecret", {"SecretId": primary})
    link = world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]
    assert link["PrimarySecretARN"] == primary and link["ReplicationStatus"] == "Detached"
    world.a.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2", "ClientRequestToken": token()})
    assert world.value(world.b, replica) == "v1"
    assert_error(world.a("DisassociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica}),
                 "InvalidParameterException")
    # the replica's own account makes it standalone, and only then may change or delete it
    assert_error(world.b("DeleteSecret", {"SecretId": replica, "ForceDeleteWithoutRecovery": True}),
                 "InvalidRequestException")
    world.b.ok("StopReplicationToReplica", {"SecretId": replica})
    described = world.b.ok("DescribeSecret", {"SecretId": replica})
    assert "CrossAccountPrimary" not in described
    assert world.b.ok("ListResourcePolicies", {"SecretId": replica})["ResourcePolicies"] == []
    world.b.ok("PutSecretValue", {"SecretId": replica, "SecretString": "b's own", "ClientRequestToken": token()})
    world.b.ok("DeleteSecret", {"SecretId": replica, "ForceDeleteWithoutRecovery": True})


def test_stopping_replication_on_the_replica_detaches_it_on_the_primary(world):
    """StopReplicationToReplica on a cross-account replica "promotes the replica in your account to
    a standalone secret ... Secrets Manager updates the primary secret's replication status to
    Detached for this replica"; it also removes the cross-account-replication policy. The primary
    can't be deleted until its account disassociates ("Secrets Manager blocks you from deleting a
    secret until that account has stopped replication from its own side").
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_StopReplicationToReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-remove.html"""
    primary, replica = world.linked()
    assert_error(world.a("DeleteSecret", {"SecretId": primary}), "InvalidRequestException")
    assert world.b.ok("StopReplicationToReplica", {"SecretId": replica}) == {"ARN": replica}
    entry = world.a.ok("DescribeSecret", {"SecretId": primary})["CrossAccountReplicas"][0]
    assert entry["ReplicaSecretARN"] == replica and entry["ReplicationStatus"] == "Detached"
    world.a.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2", "ClientRequestToken": token()})
    assert world.value(world.b, replica) == "v1"
    assert world.a.ok("DescribeSecret", {"SecretId": primary})["CrossAccountReplicas"][0]["ReplicationStatus"] == "Detached"
    assert_error(world.a("DeleteSecret", {"SecretId": primary}), "InvalidRequestException")
    world.a.ok("DisassociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    world.a.ok("DeleteSecret", {"SecretId": primary, "RecoveryWindowInDays": 7})


def test_stopping_replication_needs_delete_resource_policy_too(world, tmp_path, clock):
    """"To stop replication, the replica-account owner needs secretsmanager:StopReplicationToReplica
    and secretsmanager:DeleteResourcePolicy" (qualifiable with secretsmanager:PolicyName).
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_cross-account-replication.html"""
    primary, replica = world.linked()
    deny = _doc({"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{B}:root"},
                 "Action": "secretsmanager:DeleteResourcePolicy", "Resource": "*",
                 "Condition": {"StringEquals": {"secretsmanager:PolicyName": "cross-account-replication"}}})
    world.b.ok("PutResourcePolicy", {"SecretId": replica, "ResourcePolicy": json.dumps(deny)})
    assert_error(world.b("StopReplicationToReplica", {"SecretId": replica}), "AccessDeniedException")
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]["ReplicationStatus"] == "InSync"


def test_associating_needs_get_secret_value_on_the_primary_and_kms_rights(world):
    """"Required permissions: secretsmanager:AssociateCrossAccountReplica, secretsmanager:GetSecretValue
    on the primary secret, and secretsmanager:AcceptCrossAccountReplication on the replica secret.
    You must also have kms:Decrypt permission for the ... key that encrypts the primary secret, and
    kms:Encrypt permission for the ... key that encrypts the replica secret": a user of A with every
    Secrets Manager action but no KMS rights is refused, and nothing changes.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html"""
    primary = world.primary()
    replica = world.replica(primary)
    operator = world.a.as_(Principal.from_arn(OPERATOR))
    answer = operator("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert_error(answer, "AccessDeniedException")
    assert "KMS" in answer.message
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"
    no_get = _doc({"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                   "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    world.a.ok("PutResourcePolicy", {"SecretId": primary, "ResourcePolicy": json.dumps(no_get)})
    answer = world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert_error(answer, "AccessDeniedException")
    assert "secretsmanager:GetSecretValue" in answer.message


def test_accepting_replication_needs_the_replicas_policy(world):
    """AcceptCrossAccountReplication "acts on the replica secret using the identity of the
    AssociateCrossAccountReplica caller": cross-account, so the replica's resource policy must allow
    it — a Deny there refuses the association.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-associate.html"""
    primary = world.primary()
    replica = world.replica(primary)
    deny = _doc({"Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                 "Action": "secretsmanager:AcceptCrossAccountReplication", "Resource": "*"})
    world.b.ok("PutResourcePolicy", {"SecretId": replica, "ResourcePolicy": json.dumps(deny)})
    answer = world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert_error(answer, "AccessDeniedException")
    assert "secretsmanager:AcceptCrossAccountReplication" in answer.message


def test_without_a_role_the_caller_who_changes_the_primary_replicates(world):
    """"If you don't include [ReplicationRoleARN], Secrets Manager replicates using the credentials
    of caller who updates the primary secret": a writer without kms:Encrypt on B's key changes the
    primary, and replication fails (Failed, the replica unchanged).
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-permissions.html"""
    primary, replica = world.linked()
    writer = world.a.as_(Principal.from_arn(WRITER))
    writer.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2", "ClientRequestToken": token()})
    assert world.a.ok("DescribeSecret", {"SecretId": primary})["CrossAccountReplicas"][0]["ReplicationStatus"] == "Failed"
    assert world.value(world.b, replica) == "v1"


def test_a_replication_role_replicates_for_callers_without_kms_rights(world):
    """With ReplicationRoleARN "Secrets Manager assumes [the role] to perform replication"; the
    caller needs iam:PassRole for it; the entry names the role. A writer without kms:Encrypt on
    the replica's key then still gets its change replicated.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CrossAccountReplicaEntry.html"""
    primary = world.primary()
    replica = world.replica(primary)
    out = world.a.ok("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica,
                                                      "ReplicationRoleARN": ROLE})
    assert out["ReplicationStatus"] == "InSync"
    assert world.a.ok("DescribeSecret", {"SecretId": primary})["CrossAccountReplicas"] == [
        {"ReplicaSecretARN": replica, "ReplicationRoleARN": ROLE, "ReplicationStatus": "InSync"}]
    writer = world.a.as_(Principal.from_arn(WRITER))
    writer.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2", "ClientRequestToken": token()})
    assert world.value(world.b, replica) == "v2"


def test_a_replication_role_must_be_passable_trusting_and_in_the_primary_account(world):
    """"If you supply ReplicationRoleARN, you also need iam:PassRole for that role"; the role is
    "an IAM role in the primary account that Secrets Manager assumes".
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html"""
    primary = world.primary()
    replica = world.replica(primary)
    writer = world.a.as_(Principal.from_arn(WRITER))      # no iam:PassRole
    assert_error(writer("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica,
                                                         "ReplicationRoleARN": ROLE}), "AccessDeniedException")
    for role in (UNTRUSTING_ROLE, f"arn:aws:iam::{B}:role/replicator", f"arn:aws:iam::{A}:user/operator"):
        assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica,
                                                              "ReplicationRoleARN": role}), "InvalidParameterException")
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]["ReplicationStatus"] == "Pending"


def test_same_org_is_the_default_restriction(world):
    """ReplicaRestriction: "SameOrg, which requires the replica account to be in the same
    organization as the primary account. This is the default. NoRestriction, which allows the
    replica account to be in any organization." (keyplane's organization: the accounts of its
    identities file.)
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html"""
    primary = world.primary()
    outsider = world.a.as_(Principal.root(OUTSIDER))
    key = world.kms(outsider, "CreateKey", {"Policy": json.dumps(_doc(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OUTSIDER}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:Encrypt", "Resource": "*"}))})
    replica = outsider.ok("CreateSecret", {"Name": "mirror/db", "ClientRequestToken": token(),
                                           "KmsKeyId": key["KeyMetadata"]["Arn"], "CrossAccountPrimaryARN": primary})["ARN"]
    assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica}),
                 "InvalidRequestException")
    assert_error(world.a("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica,
                                                          "ReplicaRestriction": "SameOrg"}), "InvalidRequestException")
    out = world.a.ok("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica,
                                                      "ReplicaRestriction": "NoRestriction"})
    assert out["ReplicationStatus"] == "InSync"
    assert world.value(outsider, replica) == "v1"


def test_a_rotation_of_the_primary_reaches_the_replica(world):
    """"If you turn on rotation for your primary secret ... the new secret value propagates" — the
    rotation's new AWSCURRENT is replicated like any other change of the primary.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-permissions.html"""
    primary, replica = world.linked(value="initial")
    world.a.ok("RotateSecret", {"SecretId": primary, "ClientRequestToken": token(),
                                "RotationLambdaARN": ROTATOR})
    rotated = world.value(world.a, primary)
    assert rotated != "initial"
    assert world.value(world.b, replica) == rotated


def test_a_detached_replica_can_be_associated_again(world):
    """A replica its primary's account detached is still that primary's replica (not standalone),
    so associating it again — idempotent, "to repair replication" — resumes replication and brings
    it up to date.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DisassociateCrossAccountReplica.html"""
    primary, replica = world.linked()
    world.a.ok("DisassociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    world.a.ok("PutSecretValue", {"SecretId": primary, "SecretString": "v2", "ClientRequestToken": token()})
    assert world.value(world.b, replica) == "v1"
    out = world.a.ok("AssociateCrossAccountReplica", {"SecretId": primary, "CrossAccountReplicaARN": replica})
    assert out["ReplicationStatus"] == "InSync"
    assert world.value(world.b, replica) == "v2"
    assert world.b.ok("DescribeSecret", {"SecretId": replica})["CrossAccountPrimary"]["ReplicationStatus"] == "InSync"
