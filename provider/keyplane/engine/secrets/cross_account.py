"""Cross-account replicas: a secret in account B that receives the values of a primary secret in
account A, in the same Region and partition
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-secrets.html).

B creates the replica (CreateSecret with CrossAccountPrimaryARN); A links it to the primary with
AssociateCrossAccountReplica and unlinks it with DisassociateCrossAccountReplica.
"""
from __future__ import annotations

import re

from . import access
from .errors import InvalidParameterException, InvalidRequestException, ResourceNotFoundException
from .model import Secret, load_secret, mutating, resolve_secret

_SECRET_ARN = re.compile(r"^arn:(aws[a-z-]*):secretsmanager:([a-z0-9-]+):(\d{12}):secret:(.+)$")


def check_other_account_arn(secret: Secret, arn: str, member: str) -> None:
    """`arn` names a secret of another account in `secret`'s Region and partition."""
    m = _SECRET_ARN.match(arn)
    if m is None:
        raise InvalidParameterException(f"{member} must be the ARN of a secret.")
    partition, region, account, _ = m.groups()
    if partition != secret.arn.split(":")[1] or region != secret.region:
        raise InvalidParameterException(
            f"{member} must name a secret in the same Region and partition ({secret.region}).")
    if account == secret.account:
        raise InvalidParameterException(f"{member} must name a secret in a different AWS account.")


@mutating("AssociateCrossAccountReplica")
def associate_cross_account_replica(call, p):
    primary = resolve_secret(call, p["SecretId"])
    call.resource(primary.arn, "AWS::SecretsManager::Secret", primary.account)
    access.authorize_secret(call, "secretsmanager:AssociateCrossAccountReplica", primary)
    replica_arn = p["CrossAccountReplicaARN"]
    check_other_account_arn(primary, replica_arn, "CrossAccountReplicaARN")
    with call.store.read() as conn:
        replica = load_secret(conn, replica_arn)
    if replica is None:
        raise ResourceNotFoundException("Secrets Manager can't find the specified replica secret.")
    raise InvalidRequestException(
        f"The secret {replica_arn} isn't a cross-account replica of {primary.arn}. Create the replica "
        "with CreateSecret and CrossAccountPrimaryARN first.")


@mutating("DisassociateCrossAccountReplica")
def disassociate_cross_account_replica(call, p):
    primary = resolve_secret(call, p["SecretId"])
    call.resource(primary.arn, "AWS::SecretsManager::Secret", primary.account)
    access.authorize_secret(call, "secretsmanager:DisassociateCrossAccountReplica", primary)
    replica_arn = p["CrossAccountReplicaARN"]
    check_other_account_arn(primary, replica_arn, "CrossAccountReplicaARN")
    raise InvalidParameterException(f"The secret {replica_arn} isn't a cross-account replica of this secret.")
