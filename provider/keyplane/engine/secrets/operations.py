"""Secrets Manager's secret and version operations: create, read, write, labels, list, delete and
restore (with the recovery window run by the scheduler), tags.

Every write of a value goes through `model.put_version` (envelope encryption, label moves,
idempotent ClientRequestToken) and is then pushed to the secret's Region replicas.
"""
from __future__ import annotations

from datetime import timedelta

from ..registry import operation
from ..tagging import get_tags, remove_tags, set_tags
from . import access, cross_account, rekey, replication, search
from .errors import (CURRENT_NOT_REMOVABLE, DEFAULT_KEY_CROSS_ACCOUNT, VALUE_REQUIRED, InvalidParameterException,
                     InvalidRequestException, ResourceExistsException, ResourceNotFoundException)
from .model import (CURRENT, Secret, all_secrets, as_output, attach_labels, changed, decode_token,
                    decrypt_version, delete_secret_rows, dt, due, encode_token, find_by_name, find_version,
                    holder, insert_secret, load_versions, mutating, put_version, require_not_deleted,
                    require_primary, require_token, required_members, resolve_secret, save_secret,
                    save_stages, secret_arn, tags_out, ts, validate_name, validate_secret_id, value_of, view)
from .schedule import interval_days, window_end
from .tables import secrets as secrets_table

DEFAULT_RECOVERY_DAYS = 30


def _tags_dict(tags) -> dict:
    return {t["Key"]: t.get("Value", "") for t in required_members(tags, "Tags", "Key")}


def _touch_changed(call, secret: Secret) -> None:
    secret.last_changed = ts(call.now)


def _check_key_access(call, secret: Secret) -> str:
    """AWS checks a newly set key once, with SecretVersionId=RequestToValidateKeyAccess; the
    key's ARN."""
    from .model import encrypt_value
    return encrypt_value(call, secret.arn, secret.key_id, "RequestToValidateKeyAccess", b"")[2]


def _after_manual_write(call, secret: Secret) -> None:
    """A manual new current value counts as a rotation for AutomaticallyAfterDays schedules."""
    from .rotation import reschedule_after_write
    reschedule_after_write(call, secret)


# ---- create / describe ----------------------------------------------------------------------

@mutating("CreateSecret")
def create_secret(call, p):
    name = p["Name"]
    validate_name(name)
    token = require_token(p)
    value = value_of(p)
    tags = _tags_dict(p.get("Tags"))
    required_members(p.get("AddReplicaRegions"), "AddReplicaRegions", "Region")
    access.authorize_account(call, "secretsmanager:CreateSecret",
                             extra={"secretsmanager:Name": name,
                                    **{f"aws:RequestTag/{k}": v for k, v in tags.items()},
                                    "aws:TagKeys": list(tags)})
    primary_arn = p.get("CrossAccountPrimaryARN")
    arn = secret_arn(call.region, call.account, name)
    if primary_arn:
        cross_account.check_new_replica(call, p, arn)
    with call.store.write() as conn:
        existing = find_by_name(conn, call.account, call.region, name)
        if existing is not None:
            if existing.scheduled_for_deletion:
                raise InvalidRequestException(
                    "You can't create this secret because a secret with this name is already "
                    "scheduled for deletion.")
            versions = load_versions(conn, existing.arn)
            same = any(v.version_id == token for v in versions)
            if same and value is not None:
                v = next(v for v in versions if v.version_id == token)
                if v.kind == value[1] and decrypt_version(call, v) == value[0]:
                    return {"ARN": existing.arn, "Name": existing.name, "VersionId": token}
            raise ResourceExistsException(f"The operation failed because the secret {name} already exists.")
        now = ts(call.now)
        secret = Secret(arn=arn, account=call.account,
                        region=call.region, name=name, created=now, last_changed=now,
                        description=p.get("Description"), kms_key_id=p.get("KmsKeyId") or None,
                        secret_type=p.get("Type") or None)
        call.resource(secret.arn, "AWS::SecretsManager::Secret")
        if p.get("Tags") is not None:
            secret.set_attrs(tagged=True)    # AWS keeps the Tags member once a list was given
        insert_secret(conn, secret)
        if secret.kms_key_id:
            key_arn = _check_key_access(call, secret)
            if primary_arn:
                cross_account.link_new_replica(secret, primary_arn, key_arn)
        set_tags(conn, secret.arn, tags)
        out = {"ARN": secret.arn, "Name": name}
        if value is not None:
            v, _ = put_version(call, conn, secret, token, value[0], value[1], None)
            out["VersionId"] = v.version_id
        save_secret(conn, secret)
    if p.get("AddReplicaRegions"):
        out["ReplicationStatus"] = replication.add_replicas(
            call, secret, p["AddReplicaRegions"], bool(p.get("ForceOverwriteReplicaSecret")))
    return out


def describe(call, conn, secret: Secret) -> dict:
    versions = load_versions(conn, secret.arn)
    out = {"ARN": secret.arn, "Name": secret.name, "CreatedDate": dt(secret.created),
           "LastChangedDate": dt(secret.last_changed)}
    optional = {"Description": secret.description, "KmsKeyId": secret.kms_key_id, "Type": secret.secret_type,
                "RotationLambdaARN": secret.rotation_lambda, "LastRotatedDate": dt(secret.last_rotated),
                "DeletedDate": dt(secret.deleted_date),
                "LastAccessedDate": dt(_day(secret.last_accessed))}
    out.update({k: v for k, v in optional.items() if v is not None})
    if secret.rotation_enabled is not None:
        out["RotationEnabled"] = bool(secret.rotation_enabled)
    if secret.rotation_rules:
        out["RotationRules"] = reported_rules(secret.rules(), dt(secret.next_rotation) or call.now)
    if secret.rotation_enabled and secret.next_rotation is not None:
        # rotation runs when the window opens; AWS reports the window's last second
        out["NextRotationDate"] = window_end(secret.rules(), dt(secret.next_rotation))
    tags = tags_out(conn, secret.arn)
    if tags or secret.get_attrs().get("tagged"):
        out["Tags"] = tags          # once tagged, AWS keeps the member: [] after the last untag
    stages = {v.version_id: list(v.stages) for v in versions if v.stages}
    if stages:
        out["VersionIdsToStages"] = stages
    if secret.primary_region:
        out["PrimaryRegion"] = secret.primary_region
    replicas = secret.replica_list()
    if replicas:
        out["PrimaryRegion"] = secret.region
        out["ReplicationStatus"] = replicas
    if secret.cross_account_primary is not None:
        out["CrossAccountPrimary"] = secret.cross_account_primary
    if secret.cross_account_replicas:
        out["CrossAccountReplicas"] = secret.cross_account_replicas
    from .rotation import external_rotation_members
    out.update(external_rotation_members(secret))
    attrs = secret.get_attrs()
    if attrs.get("owning_service"):
        out["OwningService"] = attrs["owning_service"]
    return out


def reported_rules(rules: dict, after) -> dict:
    """RotationRules as DescribeSecret and ListSecrets show them: a ScheduleExpression comes with
    the AutomaticallyAfterDays Secrets Manager calculates from it (AWS answers
    {"AutomaticallyAfterDays": 1, "ScheduleExpression": "rate(10 hours)"}), which RotateSecret
    would refuse beside it."""
    if rules.get("ScheduleExpression") is None:
        return rules
    return {"AutomaticallyAfterDays": interval_days(rules, after), **rules}


def _day(value: float | None) -> float | None:
    """LastAccessedDate is kept to the day, as AWS keeps it."""
    return None if value is None else value - value % 86400


@operation("secretsmanager", "DescribeSecret", readonly=True)
def describe_secret(call, p):
    secret = resolve_secret(call, p["SecretId"])
    access.authorize_secret(call, "secretsmanager:DescribeSecret", secret)
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    with call.store.read() as conn:
        out = describe(call, conn, secret)
    return out


# ---- reading values ---------------------------------------------------------------------------

def _note_access(call, secret: Secret, version) -> None:
    """LastAccessedDate is a date, kept for the secret and for the version actually read: each
    is written at most once a day, outside the hot path."""
    today = _day(ts(call.now))
    if _day(secret.last_accessed) == today and _day(version.last_accessed) == today:
        return
    from .tables import versions as versions_table
    # the cached view too: one write a day, not one per read
    secret.last_accessed = version.last_accessed = today
    with call.store.write() as conn:
        conn.execute(secrets_table.update().where(secrets_table.c.arn == secret.arn).values(last_accessed=today))
        conn.execute(versions_table.update().where(versions_table.c.secret_arn == secret.arn,
                                                   versions_table.c.version_id == version.version_id)
                     .values(last_accessed=today))


def read_value(call, secret: Secret, version_id=None, stage=None, versions=None) -> dict:
    if call.principal.account != secret.account and secret.kms_key_id is None:
        # the AWS managed key's policy admits its own account only; AWS says so before trying
        raise InvalidRequestException(DEFAULT_KEY_CROSS_ACCOUNT)
    if versions is None:
        with call.store.read() as conn:
            versions = load_versions(conn, secret.arn)
    v = find_version(versions, version_id, stage)
    value = decrypt_version(call, v)
    _note_access(call, secret, v)
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": v.version_id,
            **as_output(value, v.kind), "VersionStages": list(v.stages), "CreatedDate": dt(v.created)}


@operation("secretsmanager", "GetSecretValue", readonly=True)
def get_secret_value(call, p):
    secret, versions, tags = view(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:GetSecretValue", secret,
                            {k: v for k, v in (("secretsmanager:VersionId", p.get("VersionId")),
                                               ("secretsmanager:VersionStage", p.get("VersionStage"))) if v},
                            tags=tags)
    require_not_deleted(secret, "GetSecretValue")
    return read_value(call, secret, p.get("VersionId"), p.get("VersionStage"), versions)


@operation("secretsmanager", "BatchGetSecretValue", readonly=True)
def batch_get_secret_value(call, p):
    # https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html:
    # secretsmanager:BatchGetSecretValue, then GetSecretValue for each secret (ListSecrets with filters)
    access.authorize_account(call, "secretsmanager:BatchGetSecretValue")
    ids, filters = p.get("SecretIdList"), p.get("Filters")
    if ids and filters:
        raise InvalidParameterException("Either 'SecretIdList' or 'Filters' must be provided, but not both.")
    if not ids and not filters:
        raise InvalidParameterException("Either 'SecretIdList' or 'Filters' must be provided.")
    if ids and p.get("MaxResults"):
        raise InvalidParameterException("'MaxResults' can only be used with 'Filters'.")
    search.validate_filters(filters)
    values, errors = [], []
    next_token = None
    if ids:
        for secret_id in ids:
            try:
                secret = resolve_secret(call, secret_id, action="secretsmanager:GetSecretValue")
                access.authorize_secret(call, "secretsmanager:GetSecretValue", secret)
                require_not_deleted(secret, "GetSecretValue")
                values.append(read_value(call, secret))
            except Exception as err:   # noqa: BLE001 - each failure is reported per secret
                code = getattr(err, "code", "InternalServiceError")
                errors.append({"SecretId": secret_id, "ErrorCode": code,
                               "Message": getattr(err, "message", "An internal error occurred.")})
    else:
        access.authorize_account(call, "secretsmanager:ListSecrets")
        listed, next_token = _list(call, filters, False, p.get("MaxResults") or 20, p.get("NextToken"),
                                   "created-date", "asc")
        for secret in listed:
            try:
                access.authorize_secret(call, "secretsmanager:GetSecretValue", secret)
                values.append(read_value(call, secret))
            except Exception as err:   # noqa: BLE001
                errors.append({"SecretId": secret.arn, "ErrorCode": getattr(err, "code", "InternalServiceError"),
                               "Message": getattr(err, "message", "An internal error occurred.")})
    out = {"SecretValues": values, "Errors": errors}
    if next_token:
        out["NextToken"] = next_token
    return out


# ---- writing values ---------------------------------------------------------------------------

def _write_value(call, secret: Secret, token: str, value, labels) -> dict:
    with call.store.write() as conn:
        v, created = put_version(call, conn, secret, token, value[0], value[1], labels)
        if created:
            _touch_changed(call, secret)
            if CURRENT in v.stages:
                _after_manual_write(call, secret)
            abandoned = secret.get_attrs().get("rotation_abandoned")
            if abandoned:
                secret.set_attrs(rotation_abandoned=None)
                call.engine.service_event(call.store, "secretsmanager", "RotationAbandoned", secret.region,
                                          secret.account, [("AWS::SecretsManager::Secret", secret.arn)],
                                          {"versionId": abandoned})
            save_secret(conn, secret)
    if created:
        replication.sync_all(call, secret)
    return {"ARN": secret.arn, "Name": secret.name, "VersionId": v.version_id, "VersionStages": list(v.stages)}


@mutating("PutSecretValue")
def put_secret_value(call, p):
    validate_secret_id(p["SecretId"])
    token = require_token(p)
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:PutSecretValue", secret)
    require_not_deleted(secret, "PutSecretValue")
    require_primary(secret)
    value = value_of(p)
    if value is None:
        raise InvalidRequestException(VALUE_REQUIRED)
    return _write_value(call, secret, token, value, p.get("VersionStages"))


@mutating("UpdateSecret")
def update_secret(call, p):
    validate_secret_id(p["SecretId"])
    value = value_of(p)
    token = require_token(p) if value is not None else None
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:UpdateSecret", secret,
                            {"secretsmanager:KmsKeyId": p["KmsKeyId"]} if p.get("KmsKeyId") else None)
    require_not_deleted(secret, "UpdateSecret")
    require_primary(secret)
    with call.store.write() as conn:
        changed = False
        if "Description" in p:
            secret.description = p["Description"]
            changed = True
        if p.get("Type") is not None:
            secret.secret_type = p["Type"] or None
            changed = True
        if p.get("KmsKeyId") is not None and (p["KmsKeyId"] or None) != secret.kms_key_id:
            secret.kms_key_id = p["KmsKeyId"] or None
            _check_key_access(call, secret)
            rekey.reencrypt_labelled_versions(call, conn, secret)
            changed = True
        if changed:
            _touch_changed(call, secret)
        save_secret(conn, secret)
        out = {"ARN": secret.arn, "Name": secret.name}
        if value is not None:
            # the same token with the same value is a retry and succeeds; with another value,
            # put_version refuses it (a version is never modified)
            out["VersionId"] = _write_value(call, secret, token, value, None)["VersionId"]
    if changed and value is None:
        replication.sync_all(call, secret)
    return out


@mutating("UpdateSecretVersionStage")
def update_secret_version_stage(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    stage = p["VersionStage"]
    access.authorize_secret(call, "secretsmanager:UpdateSecretVersionStage", secret,
                            {"secretsmanager:VersionStage": stage})
    require_not_deleted(secret, "UpdateSecretVersionStage")
    require_primary(secret)
    move_to, remove_from = p.get("MoveToVersionId"), p.get("RemoveFromVersionId")
    if not move_to and not remove_from:
        raise InvalidParameterException("You must specify MoveToVersionId or RemoveFromVersionId.")
    with call.store.write() as conn:
        move_stage(call, conn, secret, stage, move_to, remove_from)
        _touch_changed(call, secret)
        save_secret(conn, secret)
    replication.sync_all(call, secret)
    return {"ARN": secret.arn, "Name": secret.name}


def move_stage(call, conn, secret: Secret, stage: str, move_to: str | None, remove_from: str | None) -> None:
    versions = load_versions(conn, secret.arn)
    by_id = {v.version_id: v for v in versions}
    for vid in (move_to, remove_from):
        if vid and vid not in by_id:
            raise ResourceNotFoundException(
                f"Secrets Manager can't find the specified secret value for VersionId: {vid}")
    current = holder(versions, stage)
    if move_to:
        target = by_id[move_to]
        if current is not None and current is not target:
            if remove_from != current.version_id:
                raise InvalidParameterException(
                    f"The parameter RemoveFromVersionId can't be empty. Staging label {stage} is "
                    f"currently attached to version {current.version_id}, so you must explicitly "
                    "reference that version in RemoveFromVersionId.")
        elif remove_from and remove_from != move_to and stage not in by_id[remove_from].stages:
            raise InvalidParameterException(
                f"The staging label {stage} is not attached to the version {remove_from}.")
        attach_labels(versions, target, [stage])
    else:
        source = by_id[remove_from]
        if stage not in source.stages:
            raise InvalidParameterException(
                f"The staging label {stage} is not attached to the version {remove_from}.")
        if stage == CURRENT:
            raise InvalidParameterException(CURRENT_NOT_REMOVABLE)
        source.stages.remove(stage)
    save_stages(conn, versions)


# ---- listing --------------------------------------------------------------------------------

_SORT = {"created-date": lambda s: (s.created, s.name), "name": lambda s: s.name,
         "last-changed-date": lambda s: (s.last_changed or 0, s.name),
         "last-accessed-date": lambda s: (s.last_accessed or 0, s.name)}


def _list(call, filters, include_deleted, limit, token, sort_by, sort_order):
    offset = decode_token(token)
    with call.store.read() as conn:
        secrets = all_secrets(conn, call.account, call.region)
        chosen = []
        for s in secrets:
            if s.scheduled_for_deletion and not include_deleted:
                continue
            tags = get_tags(conn, s.arn)
            if search.matches(filters, s, tags, s.get_attrs().get("owning_service")):
                chosen.append(s)
    chosen.sort(key=_SORT[sort_by or "created-date"], reverse=(sort_order == "desc"))
    page = chosen[offset:offset + limit]
    more = offset + limit < len(chosen)
    return page, (encode_token(offset + limit) if more else None)


@operation("secretsmanager", "ListSecrets", readonly=True)
def list_secrets(call, p):
    search.validate_filters(p.get("Filters"))
    access.authorize_account(call, "secretsmanager:ListSecrets")
    page, token = _list(call, p.get("Filters"), bool(p.get("IncludePlannedDeletion")),
                        p.get("MaxResults") or 100, p.get("NextToken"), p.get("SortBy"), p.get("SortOrder") or "asc")
    entries = []
    with call.store.read() as conn:
        for s in page:
            d = describe(call, conn, s)
            if "VersionIdsToStages" in d:
                d["SecretVersionsToStages"] = d.pop("VersionIdsToStages")
            for member in ("ReplicationStatus", "CrossAccountPrimary", "CrossAccountReplicas"):
                d.pop(member, None)     # DescribeSecret's only
            entries.append(d)
    out = {"SecretList": entries}
    if token:
        out["NextToken"] = token
    return out


@operation("secretsmanager", "ListSecretVersionIds", readonly=True)
def list_secret_version_ids(call, p):
    secret = resolve_secret(call, p["SecretId"])
    access.authorize_secret(call, "secretsmanager:ListSecretVersionIds", secret)
    with call.store.read() as conn:
        versions = load_versions(conn, secret.arn)
    if not p.get("IncludeDeprecated"):
        versions = [v for v in versions if v.stages]
    versions.sort(key=lambda v: (-v.created, v.version_id))
    offset, limit = decode_token(p.get("NextToken")), p.get("MaxResults") or 100
    page = versions[offset:offset + limit]
    entries = []
    for v in page:
        e = {"VersionId": v.version_id, "CreatedDate": dt(v.created), "KmsKeyIds": v.kms_key_ids}
        if v.stages:
            e["VersionStages"] = list(v.stages)
        if v.last_accessed is not None:
            e["LastAccessedDate"] = dt(v.last_accessed)
        entries.append(e)
    out = {"Versions": entries, "ARN": secret.arn, "Name": secret.name}
    if offset + limit < len(versions):
        out["NextToken"] = encode_token(offset + limit)
    return out


# ---- deletion ---------------------------------------------------------------------------------

@mutating("DeleteSecret")
def delete_secret(call, p):
    validate_secret_id(p["SecretId"])
    window, force = p.get("RecoveryWindowInDays"), bool(p.get("ForceDeleteWithoutRecovery"))
    if window is not None and force:
        raise InvalidParameterException(
            "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
    if window is not None and not 7 <= window <= 30:
        raise InvalidParameterException(
            "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
    try:
        secret = resolve_secret(call, p["SecretId"])
    except ResourceNotFoundException:
        if force:       # AWS: force-deleting a missing secret is not an error
            return {"ARN": p["SecretId"] if p["SecretId"].startswith("arn:") else None,
                    "Name": None, "DeletionDate": call.now}
        raise
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:DeleteSecret", secret,
                            {"secretsmanager:RecoveryWindowInDays": window or DEFAULT_RECOVERY_DAYS,
                             "secretsmanager:ForceDeleteWithoutRecovery": force})
    if secret.replica_list():
        raise InvalidRequestException(
            "You can't delete secret " + secret.name + " that has replica regions. Remove the "
            "replicas with RemoveRegionsFromReplication first.")
    if secret.is_replica:
        raise InvalidRequestException(
            "You can't delete a replica secret directly. Remove it from replication in the primary Region.")
    # each account stops cross-account replication from its own side before deleting its secret
    # (https://docs.aws.amazon.com/secretsmanager/latest/userguide/cross-account-replicate-remove.html)
    if secret.cross_account_replicas:
        raise InvalidRequestException(
            f"You can't delete secret {secret.name} because it has a cross-account replica. Call "
            "DisassociateCrossAccountReplica first.")
    if secret.cross_account_primary is not None:
        raise InvalidRequestException(
            f"You can't delete secret {secret.name} because it is a cross-account replica. Call "
            "StopReplicationToReplica first.")
    with call.store.write() as conn:
        if force:
            delete_secret_rows(conn, secret.arn)
            return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": call.now}
        if secret.scheduled_for_deletion:
            raise InvalidRequestException(
                "You can't perform this operation on the secret because it was already scheduled for deletion.")
        secret.deleted_date = ts(call.now)
        secret.deletion_date = ts(call.now + timedelta(days=window or DEFAULT_RECOVERY_DAYS))
        save_secret(conn, secret)
    call.engine.service_event(call.store, "secretsmanager", "StartSecretVersionDelete", secret.region,
                              secret.account, [("AWS::SecretsManager::Secret", secret.arn)])
    return {"ARN": secret.arn, "Name": secret.name, "DeletionDate": dt(secret.deletion_date)}


@mutating("RestoreSecret")
def restore_secret(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:RestoreSecret", secret)
    with call.store.write() as conn:
        secret.deleted_date = secret.deletion_date = None
        save_secret(conn, secret)
    call.engine.service_event(call.store, "secretsmanager", "CancelSecretVersionDelete", secret.region,
                              secret.account, [("AWS::SecretsManager::Secret", secret.arn)])
    return {"ARN": secret.arn, "Name": secret.name}


def delete_due_secrets(engine, store, now) -> int:
    """Secrets whose recovery window has passed are removed for good, versions and tags too."""
    done = 0
    changed(store)
    with store.write() as conn:
        for secret in due(conn, secrets_table.c.deletion_date, now.timestamp()):
            delete_secret_rows(conn, secret.arn)
            engine.service_event(store, "secretsmanager", "EndSecretVersionDelete", secret.region,
                                 secret.account, [("AWS::SecretsManager::Secret", secret.arn)])
            done += 1
    return done


# ---- tags -----------------------------------------------------------------------------------

@mutating("TagResource")
def tag_resource(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    tags = _tags_dict(p["Tags"])
    access.authorize_secret(call, "secretsmanager:TagResource", secret,
                            {**{f"aws:RequestTag/{k}": v for k, v in tags.items()}, "aws:TagKeys": list(tags)})
    require_not_deleted(secret, "TagResource")
    with call.store.write() as conn:
        existing = get_tags(conn, secret.arn)
        if len(set(existing) | set(tags)) > 50:
            raise InvalidParameterException("A secret can have at most 50 tags.")
        for k in tags:
            if k.lower().startswith("aws:"):
                raise InvalidParameterException("Tag keys that start with 'aws:' are reserved for AWS use.")
        set_tags(conn, secret.arn, tags)
        secret.set_attrs(tagged=True)
        save_secret(conn, secret)
    replication.sync_all(call, secret)
    return {}


@mutating("UntagResource")
def untag_resource(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:UntagResource", secret, {"aws:TagKeys": list(p["TagKeys"])})
    require_not_deleted(secret, "UntagResource")
    with call.store.write() as conn:
        remove_tags(conn, secret.arn, p["TagKeys"])
    replication.sync_all(call, secret)
    return {}


