"""Cross-account replicas: a secret in account B that receives the values of a primary secret in
account A, in the same Region and partition
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-secrets.html).

1. B creates the replica: CreateSecret with CrossAccountPrimaryARN and a customer managed key
   (`check_new_replica`, `link_new_replica`). It has no value, its CrossAccountPrimary status is
   Pending, and Secrets Manager attaches the resource policy `cross-account-replication`, which
   lets A's account accept replication into it.
2. A associates it with the primary (AssociateCrossAccountReplica): A's caller needs
   GetSecretValue on the primary and AcceptCrossAccountReplication on the replica, kms:Decrypt
   on the primary's key and kms:Encrypt on the replica's (checked by KMS dry runs) and, for a
   replication role, iam:PassRole. Only then do both secrets change, and replication starts.
3. Every later change of the primary reaches the replica through `replication.sync_all`.
4. Either side ends it: A with DisassociateCrossAccountReplica (the replica stays a replica,
   Detached), B with StopReplicationToReplica (the replica becomes standalone, the primary's entry
   Detached). Neither secret can be deleted while its own side still holds the link.
"""
from __future__ import annotations

import json
import re

from ..errors import AccessDeniedException, AwsError
from . import access, replication
from .errors import (InvalidParameterException, InvalidRequestException, LimitExceededException,
                     ResourceNotFoundException)
from .model import (MANAGED_POLICY, Secret, encryption_context, kms, load_secret, mutating,
                    require_not_deleted, resolve_secret, save_secret)

_SECRET_ARN = re.compile(r"^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")
# the members a cross-account replica cannot be created with (its value and description come
# from nowhere but its primary)
NOT_ON_A_REPLICA = ("SecretString", "SecretBinary", "Description", "AddReplicaRegions", "Type")
KEY_CHECK_VERSION = "RequestToValidateKeyAccess"


def check_other_account_arn(own_arn: str, arn: str, member: str) -> None:
    """`arn` names a secret of another account in the Region and partition of the secret `own_arn`."""
    m = _SECRET_ARN.match(arn)
    if m is None:
        raise InvalidParameterException(f"{member} must be the ARN of a secret.")
    partition, region, account, _ = m.groups()
    _, own_partition, _, own_region, own_account, _ = own_arn.split(":", 5)
    if partition != own_partition or region != own_region:
        raise InvalidParameterException(
            f"{member} must name a secret in the same Region and partition ({own_region}).")
    if account == own_account:
        raise InvalidParameterException(f"{member} must name a secret in a different AWS account.")


# ---- the replica's side: CreateSecret with CrossAccountPrimaryARN --------------------------------

def check_new_replica(call, p: dict, replica_arn: str) -> None:
    """CreateSecret's rules for a cross-account replica, before anything is created: none of the
    members a replica can't have, a customer managed key, a primary of another account in the
    same Region and partition, and secretsmanager:PutResourcePolicy for the policy it gets.
    https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"""
    given = [m for m in NOT_ON_A_REPLICA if p.get(m) is not None]
    if given:
        raise InvalidParameterException(
            f"You can't specify {', '.join(given)} when you create a cross-account replica secret.")
    key = p.get("KmsKeyId") or ""
    if not key or "alias/aws/" in key:
        raise InvalidParameterException(
            "A cross-account replica secret must be encrypted with a customer managed KMS key. "
            "Specify it in KmsKeyId.")
    check_other_account_arn(replica_arn, p["CrossAccountPrimaryARN"], "CrossAccountPrimaryARN")
    access.authorize_account(call, "secretsmanager:PutResourcePolicy",
                             extra={"secretsmanager:PolicyName": MANAGED_POLICY})


def managed_policy(primary_arn: str, replica_arn: str) -> str:
    """The `cross-account-replication` policy: the primary's account may accept replication into
    this replica (AcceptCrossAccountReplication, which AssociateCrossAccountReplica calls)."""
    partition, account = primary_arn.split(":")[1], primary_arn.split(":")[4]
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowCrossAccountReplication", "Effect": "Allow",
        "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
        "Action": "secretsmanager:AcceptCrossAccountReplication", "Resource": replica_arn}]})


def link_new_replica(replica: Secret, primary_arn: str, key_arn: str) -> None:
    """A new replica: Pending until its primary's account associates it; `key_arn` (its key's
    full ARN) is how the other account's writers name its key."""
    policies = dict(replica.get_attrs().get("managed_policies") or {})
    policies[MANAGED_POLICY] = managed_policy(primary_arn, replica.arn)
    replica.set_attrs(cross_account_primary=replication.cross_account_link(primary_arn, "Pending"),
                      managed_policies=policies, key_arn=key_arn)


# ---- the primary's side ----------------------------------------------------------------------

def _check_restriction(call, primary: Secret, replica: Secret, restriction: str) -> None:
    """SameOrg (the default): the replica's account belongs to the primary's organization.
    keyplane has no AWS Organizations: the accounts its identities file lists are one
    organization (without a file, every account is)."""
    if restriction == "NoRestriction":
        return
    registry = getattr(call.engine, "identities", None)
    if registry is None:
        return
    members = set(registry.account_ids())
    if primary.account not in members or replica.account not in members:
        raise InvalidRequestException(
            f"The replica secret's account {replica.account} isn't in the same organization as the "
            "primary secret's account. To replicate outside the organization, use ReplicaRestriction NoRestriction.")


def _dry_run(call, operation: str, params: dict) -> None:
    """A KMS permission check that changes nothing: DryRunOperationException means allowed."""
    try:
        kms(call, operation, {**params, "DryRun": True})
    except AwsError as err:
        if err.code == "DryRunOperationException":
            return
        if isinstance(err, AccessDeniedException):
            raise AccessDeniedException(f"Access to KMS is not allowed. {err.message}") from None
        raise InvalidRequestException(f"The KMS key can't be used: {err.message or err.code}") from None


def _check_keys(call, primary: Secret, replica: Secret) -> None:
    """kms:Decrypt on the primary's key and kms:Encrypt on the replica's, as the caller. (The AWS
    managed key admits every principal of its account through Secrets Manager: nothing to check.)"""
    if primary.kms_key_id:
        _dry_run(call, "Decrypt", {"KeyId": primary.kms_key_id, "DryRunModifiers": ["IGNORE_CIPHERTEXT"],
                                   "EncryptionContext": encryption_context(primary.arn, KEY_CHECK_VERSION)})
    _dry_run(call, "Encrypt", {"KeyId": replica.get_attrs()["key_arn"], "Plaintext": b"\0",
                               "EncryptionContext": encryption_context(replica.arn, KEY_CHECK_VERSION)})


@mutating("AssociateCrossAccountReplica")
def associate_cross_account_replica(call, p):
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_AssociateCrossAccountReplica.html"""
    primary = resolve_secret(call, p["SecretId"])
    call.resource(primary.arn, "AWS::SecretsManager::Secret", primary.account)
    access.authorize_secret(call, "secretsmanager:AssociateCrossAccountReplica", primary)
    access.authorize_secret(call, "secretsmanager:GetSecretValue", primary)
    require_not_deleted(primary, "AssociateCrossAccountReplica")
    if primary.is_replica or primary.cross_account_primary is not None:
        raise InvalidRequestException("A replica secret can't be the primary of a cross-account replica.")
    replica_arn = p["CrossAccountReplicaARN"]
    check_other_account_arn(primary.arn, replica_arn, "CrossAccountReplicaARN")
    role_arn = p.get("ReplicationRoleARN")
    if role_arn:
        access.check_role_to_pass(call, primary.account, role_arn, "ReplicationRoleARN")
    if any(e["ReplicaSecretARN"] != replica_arn for e in primary.cross_account_replicas):
        raise LimitExceededException(
            "A primary secret can have at most one cross-account replica. Call "
            "DisassociateCrossAccountReplica for the one it has first.")
    with call.store.read() as conn:
        replica = load_secret(conn, replica_arn)
    if replica is None:
        access.deny_unknown_unless_allowed(call, "secretsmanager:AcceptCrossAccountReplication", replica_arn)
        raise ResourceNotFoundException("Secrets Manager can't find the specified replica secret.")
    call.resource(replica.arn, "AWS::SecretsManager::Secret", replica.account)
    link = replica.cross_account_primary
    if link is None or link["PrimarySecretARN"] != primary.arn:
        raise InvalidRequestException(
            f"The secret {replica_arn} isn't a cross-account replica of {primary.arn}. Its account "
            "creates it with CreateSecret and CrossAccountPrimaryARN.")
    require_not_deleted(replica, "AcceptCrossAccountReplication")
    _check_restriction(call, primary, replica, p.get("ReplicaRestriction") or "SameOrg")
    # AcceptCrossAccountReplication: on the replica, as the caller, through its resource policy
    access.authorize_secret(call, "secretsmanager:AcceptCrossAccountReplication", replica)
    _check_keys(call, primary, replica)
    entry = replication.cross_account_entry(replica_arn, role_arn, "InProgress")
    entry = replication.sync_cross_account(call, primary, entry)
    replication.save_cross_account_entries(call, primary, [entry])
    return {"ARN": primary.arn, "CrossAccountReplicaARN": replica_arn, "ReplicationStatus": entry["ReplicationStatus"]}


@mutating("DisassociateCrossAccountReplica")
def disassociate_cross_account_replica(call, p):
    """https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DisassociateCrossAccountReplica.html"""
    primary = resolve_secret(call, p["SecretId"])
    call.resource(primary.arn, "AWS::SecretsManager::Secret", primary.account)
    access.authorize_secret(call, "secretsmanager:DisassociateCrossAccountReplica", primary)
    replica_arn = p["CrossAccountReplicaARN"]
    check_other_account_arn(primary.arn, replica_arn, "CrossAccountReplicaARN")
    entries = primary.cross_account_replicas
    if not any(e["ReplicaSecretARN"] == replica_arn for e in entries):
        raise InvalidParameterException(f"The secret {replica_arn} isn't a cross-account replica of this secret.")
    replication.save_cross_account_entries(call, primary, [e for e in entries if e["ReplicaSecretARN"] != replica_arn])
    with call.store.write() as conn:
        replica = load_secret(conn, replica_arn)
        link = replica.cross_account_primary if replica is not None else None
        if link is not None and link["PrimarySecretARN"] == primary.arn:
            replica.set_attrs(cross_account_primary=replication.cross_account_link(
                primary.arn, replication.DETACHED, "Replication was stopped by the primary secret's account."))
            save_secret(conn, replica)
    return {"ARN": primary.arn, "CrossAccountReplicaARN": replica_arn}

