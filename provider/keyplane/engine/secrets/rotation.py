"""Rotation: RotateSecret / CancelRotateSecret, the four-step run, and the schedule that drives it.

A run calls the secret's rotator (named in RotationLambdaARN, see `rotators.py`) with the Lambda
event for createSecret → setSecret → testSecret → finishSecret, then drops AWSPENDING from the new
AWSCURRENT. It runs as the service, after the transaction that asked for it has committed, so a
failing step never takes the request down with it. A failed run leaves AWSCURRENT where it was
(a rotator that can undo its setSecret does so), records the failure — a `RotationFailed` service
event in the audit trail (its step and message) and the same event on the bus, as CloudTrail and
EventBridge carry it on AWS — keeps AWSPENDING for the retry, and is retried with the same token
when the schedule next comes due (`secretsmanager.rotate-secrets`).

A managed external secret (CreateSecret Type: the partner that holds it) is rotated without a
Lambda, with the partner's ExternalSecretRotationMetadata and the ExternalSecretRotationRoleArn
Secrets Manager assumes; keyplane stores and returns that configuration as given, and its runs go
to the partner's rotator (`rotators.resolve_partner`).
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime

from . import access, replication
from .errors import InvalidParameterException, InvalidRequestException
from .model import (CURRENT, PENDING, Secret, changed, holder, load_secret, load_versions, mutating,
                    require_not_deleted, require_primary, require_token, required_members, resolve_secret,
                    save_secret, save_stages, ts, validate_secret_id)
from .replication import service_context
from .rotators import RotatorError, resolve_partner, resolve_rotator, validate_rotator
from .schedule import next_window, validate_rules
from .tables import secrets as secrets_table

log = logging.getLogger("keyplane.secrets.rotation")
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def _emit(engine, store, secret: Secret, name: str, details: dict) -> None:
    """A service event in the audit trail, and the same on the event bus, shaped as EventBridge
    delivers Secrets Manager's CloudTrail service events."""
    engine.service_event(store, "secretsmanager", name, secret.region, secret.account,
                         [("AWS::SecretsManager::Secret", secret.arn)], details)
    from .. import events
    now = engine.clock.now()
    evt = events.event("AWS Service Event via CloudTrail", "aws.secretsmanager", account=secret.account,
                       region=secret.region, time=now, resources=[secret.arn],
                       detail={"eventSource": "secretsmanager.amazonaws.com", "eventName": name,
                               "eventType": "AwsServiceEvent", "awsRegion": secret.region,
                               "additionalEventData": {"SecretId": secret.arn, **details}})
    with store.write() as conn:
        events.emit(engine, conn, evt, now)


def in_progress(versions) -> bool:
    pending, current = holder(versions, PENDING), holder(versions, CURRENT)
    return pending is not None and pending is not current


@mutating("RotateSecret")
def rotate_secret(call, p):
    validate_secret_id(p["SecretId"])
    token = require_token(p)
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    rules = p.get("RotationRules")
    lambda_arn = p.get("RotationLambdaARN") or None
    immediate = p.get("RotateImmediately", True)
    access.authorize_secret(call, "secretsmanager:RotateSecret", secret, {
        k: v for k, v in (("secretsmanager:RotationLambdaARN", lambda_arn),
                          ("secretsmanager:ModifyRotationRules", rules is not None),
                          ("secretsmanager:RotateImmediately", bool(immediate))) if v is not None})
    require_not_deleted(secret, "RotateSecret")
    require_primary(secret)
    # the schedule is the request's own input, checked before what it names (the rotator)
    rules = validate_rules(rules) if rules is not None else None
    external = check_external_rotation(call, secret, lambda_arn, p.get("ExternalSecretRotationMetadata"),
                                       p.get("ExternalSecretRotationRoleArn"))
    if lambda_arn is not None:
        validate_rotator(lambda_arn)
    with call.store.write() as conn:
        versions = load_versions(conn, secret.arn)
        if in_progress(versions):
            raise InvalidRequestException(
                "A previous rotation isn't complete. That rotation will be reattempted.")
        lambda_arn = lambda_arn or secret.rotation_lambda
        if not lambda_arn and external is None:
            raise InvalidRequestException(
                "No Lambda rotation function ARN is associated with this secret.")
        rules = rules or secret.rules()
        if immediate and holder(versions, CURRENT) is None:
            raise InvalidRequestException("You can't rotate a secret that has no AWSCURRENT version.")
        if external is not None:
            secret.set_attrs(**external)
        secret.rotation_lambda = lambda_arn
        secret.rotation_enabled = True
        secret.rotation_rules = json.dumps(rules) if rules else None
        if rules:
            secret.next_rotation = ts(next_window(rules, call.now))
        save_secret(conn, secret)
    out = {"ARN": secret.arn, "Name": secret.name}
    engine, store, region = call.engine, call.store, call.region
    # after commit: the run writes versions through the API, in its own transactions
    if immediate:
        store.after_commit(lambda: _start(lambda: run_rotation(engine, store, region, secret.arn, token)))
        out["VersionId"] = token
    elif holder(versions, CURRENT) is not None:
        store.after_commit(lambda: _start(lambda: check_rotation(engine, store, region, secret.arn, token)))
    return out


def check_external_rotation(call, secret: Secret, lambda_arn: str | None, metadata: list | None,
                            role_arn: str | None) -> dict | None:
    """A managed external secret (one with a Type: the partner that holds it) is rotated by
    Secrets Manager with the partner's ExternalSecretRotationMetadata, assuming the
    ExternalSecretRotationRoleArn — no Lambda ("For secrets that use managed rotation, omit this
    field"). The rotation configuration to store (external_rotation_*), or None for a secret that
    a rotator (RotationLambdaARN) rotates.
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/mes-security.html"""
    if not secret.secret_type:
        if metadata is not None or role_arn:
            raise InvalidParameterException(
                "ExternalSecretRotationMetadata and ExternalSecretRotationRoleArn apply only to managed "
                "external secrets: secrets created with a Type.")
        return None
    if lambda_arn:
        raise InvalidParameterException(
            f"Secrets Manager rotates this managed external secret ({secret.secret_type}) itself: omit RotationLambdaARN.")
    keys = [item["Key"] for item in required_members(metadata, "ExternalSecretRotationMetadata", "Key", "Value")]
    if len(set(keys)) != len(keys):
        raise InvalidParameterException("ExternalSecretRotationMetadata has a Key more than once.")
    attrs = secret.get_attrs()
    role_arn = role_arn or attrs.get("external_rotation_role")
    if not role_arn:
        raise InvalidParameterException(
            "You must specify ExternalSecretRotationRoleArn to rotate a managed external secret.")
    access.check_role_to_pass(call, secret.account, role_arn, "ExternalSecretRotationRoleArn")
    stored = attrs.get("external_rotation_metadata") if metadata is None else metadata
    return {"external_rotation_role": role_arn, "external_rotation_metadata": stored or None}


def external_rotation_members(secret: Secret) -> dict:
    """DescribeSecret's and ListSecrets' view of a managed external secret's rotation: what was
    set, as it was set."""
    attrs = secret.get_attrs()
    out = {}
    if attrs.get("external_rotation_metadata"):
        out["ExternalSecretRotationMetadata"] = attrs["external_rotation_metadata"]
    if attrs.get("external_rotation_role"):
        out["ExternalSecretRotationRoleArn"] = attrs["external_rotation_role"]
    return out


def _rotator(secret: Secret):
    """What rotates the secret: the rotator RotationLambdaARN names, or the partner integration
    of a managed external secret."""
    return resolve_rotator(secret.rotation_lambda) if secret.rotation_lambda else resolve_partner(secret.secret_type)


def _start(run) -> None:
    """Run a rotation now, in this thread — unless this thread is a server's event loop: a webhook
    rotator calls the server back, so the loop must stay free; the run then goes on its own thread
    (RotateSecret is asynchronous on AWS too). Embedded callers get the finished rotation back."""
    import asyncio
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        run()
        return
    threading.Thread(target=run, name="keyplane-rotation", daemon=True).start()


def check_rotation(engine, store, region: str, arn: str, token: str) -> bool:
    """RotateImmediately=false: AWS tests the configuration with the rotator's testSecret step on
    an AWSPENDING copy of the current value, then takes AWSPENDING off again. A failing test is
    recorded as a failed rotation would be; the schedule stands."""
    with store.read() as conn:
        secret = load_secret(conn, arn)
    ctx = service_context(secret, region)
    from keyplane.connection import Connection
    sm = Connection(engine, principal=ctx.principal, region=region).client("secretsmanager")
    rotator = None
    try:
        current = sm.get_secret_value(SecretId=arn)
        value = {k: current[k] for k in ("SecretString", "SecretBinary") if k in current}
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"], **value)
        rotator = _rotator(secret)
        rotator.invoke(engine, ctx, {"SecretId": arn, "ClientRequestToken": token, "Step": "testSecret"})
        ok = True
    except Exception as exc:      # noqa: BLE001 - recorded, never raised
        message = str(exc) if isinstance(exc, RotatorError) else f"{type(exc).__name__}: {exc}"
        _record(engine, store, arn, region, token, "testSecret", _scrub(message, secret))
        ok = False
    finally:
        if rotator is not None:
            rotator.close()
        try:
            sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
        except Exception:         # noqa: BLE001 - nothing was labelled
            pass
    return ok


@mutating("CancelRotateSecret")
def cancel_rotate_secret(call, p):
    secret = resolve_secret(call, p["SecretId"])
    call.resource(secret.arn, "AWS::SecretsManager::Secret", secret.account)
    access.authorize_secret(call, "secretsmanager:CancelRotateSecret", secret)
    require_not_deleted(secret, "CancelRotateSecret")
    with call.store.write() as conn:
        versions = load_versions(conn, secret.arn)
        pending = holder(versions, PENDING)
        secret.rotation_enabled = False
        secret.next_rotation = None
        save_secret(conn, secret)
    out = {"ARN": secret.arn, "Name": secret.name}
    if pending is not None:
        out["VersionId"] = pending.version_id   # left for the caller to clean up, as on AWS
    return out


def reschedule_after_write(call, secret: Secret) -> None:
    """A manual new AWSCURRENT counts as a rotation for AutomaticallyAfterDays."""
    rules = secret.rules()
    if secret.rotation_enabled and rules and rules.get("AutomaticallyAfterDays"):
        secret.next_rotation = ts(next_window(rules, call.now))


def run_rotation(engine, store, region: str, arn: str, token: str | None = None) -> bool:
    """One rotation run; True when it succeeded. Never raises: failures are recorded."""
    with store.read() as conn:
        secret = load_secret(conn, arn)
        versions = load_versions(conn, arn) if secret else []
    if secret is None or secret.scheduled_for_deletion or not (secret.rotation_lambda or secret.secret_type):
        return False
    pending = holder(versions, PENDING)
    if in_progress(versions):
        token = pending.version_id       # retry the unfinished rotation with its own token
    token = token or str(uuid.uuid4())
    event_base = {"SecretId": arn, "ClientRequestToken": token,
                  "RotationToken": str(uuid.uuid4())}
    _emit(engine, store, secret, "RotationStarted", {"versionId": token})
    step = "createSecret"
    rotator = None
    try:
        rotator = _rotator(secret)
        ctx = service_context(secret, region)
        for step in STEPS:
            rotator.invoke(engine, ctx, {**event_base, "Step": step})
    except Exception as exc:      # noqa: BLE001 - every failure is recorded, none propagates
        message = str(exc) if isinstance(exc, RotatorError) else f"{type(exc).__name__}: {exc}"
        message = _scrub(message, secret)
        if rotator is not None:
            try:
                rotator.rollback(engine, service_context(secret, region), {**event_base, "Step": step})
            except Exception:     # noqa: BLE001
                log.exception("rollback of a failed rotation of %s failed", arn)
        _record(engine, store, arn, region, token, step, message)
        return False
    finally:
        if rotator is not None:
            rotator.close()
    _finish(engine, store, arn, token)
    return True


def _scrub(message: str, secret: Secret) -> str:
    """A step's error must not carry a credential: connection-string passwords and the userinfo
    of a webhook URL are masked."""
    import re
    message = re.sub(r"password=\S+", "password=***", message)
    return re.sub(r"//[^/@\s]+@", "//***@", message)[:1000]


def _record(engine, store, arn, region, token, step, message) -> None:
    now = engine.clock.now()
    changed(store)
    with store.write() as conn:
        secret = load_secret(conn, arn)
        if secret is None:
            return
        rules = secret.rules()
        if rules:
            secret.next_rotation = ts(next_window(rules, now))
        save_secret(conn, secret)
    _emit(engine, store, secret, "RotationFailed", {"versionId": token, "step": step, "message": message})


def _finish(engine, store, arn, token) -> None:
    now = engine.clock.now()
    changed(store)
    with store.write() as conn:
        secret = load_secret(conn, arn)
        versions = load_versions(conn, arn)
        current = holder(versions, CURRENT)
        if current is None or current.version_id != token:
            ok = False
        else:
            if PENDING in current.stages:
                current.stages.remove(PENDING)
                save_stages(conn, [current])
            secret.last_rotated = ts(now)
            rules = secret.rules()
            if rules:
                secret.next_rotation = ts(next_window(rules, now))
            save_secret(conn, secret)
            ok = True
    replication.sync_stored(engine, store, arn)
    if ok:
        _emit(engine, store, secret, "RotationSucceeded", {"versionId": token})
    else:
        _emit(engine, store, secret, "RotationFailed", {"versionId": token, "step": "finishSecret",
                                                        "message": "finishSecret did not move AWSCURRENT to the new version"})


def rotate_due_secrets(engine, store, now: datetime) -> int:
    """Run every rotation whose window has begun (and retry the ones that failed)."""
    with store.read() as conn:
        rows = conn.execute(secrets_table.select().where(
            secrets_table.c.rotation_enabled.is_(True), secrets_table.c.next_rotation.is_not(None),
            secrets_table.c.next_rotation <= now.timestamp(), secrets_table.c.deleted_date.is_(None)))
        due = [(r.arn, r.region) for r in rows]
    done = 0
    for arn, region in due:
        if run_rotation(engine, store, region, arn):
            done += 1
    return done


