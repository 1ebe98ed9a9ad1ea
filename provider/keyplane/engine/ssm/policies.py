"""Parameter policies: Expiration, ExpirationNotification, NoChangeNotification.

`parse` checks a PutParameter `Policies` document against `schemas/parameter-policies.schema.json`
and maps each problem to the error AWS gives; `next_due` says when the scheduler must next look at a
parameter (kept in `ssm_parameters.next_policy_at`, indexed, so a tick reads only what is due); the
`ssm.parameter-policies` task acts: it deletes expired parameters and emits "Parameter Store Policy
Action" events on the event bus. Per-policy progress (`policy_state`) is what DescribeParameters and
GetParameterHistory report as PolicyStatus.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from .. import events, tagging
from ..errors import ValidationException
from .errors import (IncompatiblePolicyException, InvalidPolicyAttributeException,
                     InvalidPolicyTypeException, PoliciesLimitExceededException)
from .tables import parameters as params_table
from .tables import versions as versions_table

log = logging.getLogger("keyplane.ssm.policies")
MAX_POLICIES = 10
UNIT_SECONDS = {"Days": 86400, "Hours": 3600}


def parse(text: str) -> list[dict]:
    """The policies in a `Policies` member, validated; each keeps its original text."""
    from keyplane.schemas import validator
    try:
        doc = json.loads(text)
    except ValueError:
        raise ValidationException("Invalid policies input: the policies must be a JSON array of policy objects.") from None
    if not isinstance(doc, list):
        raise ValidationException("Invalid policies input: the policies must be a JSON array of policy objects.")
    # "To remove all policies from an existing parameter, ... apply an empty policy of brackets and
    # curly braces": [{}] (https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-policies.html)
    doc = [p for p in doc if p != {}]
    if len(doc) > MAX_POLICIES:
        raise PoliciesLimitExceededException(
            f"You specified {len(doc)} policies. A parameter can have at most {MAX_POLICIES} policies.")
    errors = sorted(validator("parameter-policies").iter_errors(doc), key=lambda e: list(e.absolute_path))
    for err in errors:
        path = list(err.absolute_path)
        where = "/".join(str(p) for p in path)
        if "Type" in path or (err.validator == "required" and "'Type'" in err.message):
            raise InvalidPolicyTypeException(
                "The policy type is not supported. Parameter Store supports the following policy types: "
                "Expiration, ExpirationNotification, and NoChangeNotification.")
        if "Attributes" in path or (err.validator == "required" and "'Attributes'" in err.message):
            raise InvalidPolicyAttributeException(f"A policy attribute or its value is invalid ({where}: {err.message}).")
        raise ValidationException(f"Invalid policies input ({where or 'policy'}: {err.message}).")
    kinds = [p["Type"] for p in doc]
    if kinds.count("Expiration") > 1:
        raise IncompatiblePolicyException("A parameter can have only one Expiration policy.")
    if kinds.count("ExpirationNotification") and not kinds.count("Expiration"):
        raise IncompatiblePolicyException("An ExpirationNotification policy needs an Expiration policy.")
    for p in doc:
        if p["Type"] == "Expiration":
            expiration_time(p)   # the schema checks the shape; this checks the calendar
    return doc


def expiration_time(policy: dict) -> datetime:
    text = policy["Attributes"]["Timestamp"]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPolicyAttributeException(f"The Expiration timestamp {text} is not a valid date and time.") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _age(policy: dict, member: str) -> timedelta:
    attrs = policy["Attributes"]
    return timedelta(seconds=int(attrs[member]) * UNIT_SECONDS[attrs["Unit"]])


def due_times(policies: list[dict], last_modified: float) -> list[float]:
    """When each policy acts, as epoch seconds."""
    expiry = next((expiration_time(p) for p in policies if p["Type"] == "Expiration"), None)
    out = []
    for p in policies:
        if p["Type"] == "Expiration":
            out.append(expiry.timestamp())
        elif p["Type"] == "ExpirationNotification":
            out.append((expiry - _age(p, "Before")).timestamp())
        else:
            out.append(last_modified + _age(p, "After").total_seconds())
    return out


def finished(state: dict, index: int, policy: dict, last_modified: float) -> bool:
    s = state.get(str(index))
    if not s:
        return False
    # a NoChangeNotification is about the current value: a write makes it pending again
    return policy["Type"] != "NoChangeNotification" or s.get("for") == last_modified


def next_due(policies: list[dict], state: dict, last_modified: float) -> float | None:
    times = [t for i, (p, t) in enumerate(zip(policies, due_times(policies, last_modified)))
             if not finished(state, i, p, last_modified)]
    return min(times) if times else None


def described(policies: list[dict], state: dict, last_modified: float) -> list[dict]:
    """`Policies` as DescribeParameters / GetParameterHistory show them."""
    return [{"PolicyText": json.dumps(p, separators=(",", ":")), "PolicyType": p["Type"],
             "PolicyStatus": "Finished" if finished(state, i, p, last_modified) else "Pending"}
            for i, p in enumerate(policies)]


def policy_action_event(row, policy: dict, now: datetime, status: str, reason: str) -> dict:
    text = json.dumps(policy, separators=(",", ":"))
    return events.event("Parameter Store Policy Action", "aws.ssm", account=row.account, region=row.region,
                        time=now, resources=[row.arn], detail={
                            "parameter-name": row.display_name, "parameter-type": row.type,
                            "policy-type": policy["Type"], "policy-content": text,
                            "policy-content-sha256": hashlib.sha256(text.encode()).hexdigest(),
                            "action-status": status, "action-reason": reason})


def change_event(row, operation: str, now: datetime) -> dict:
    return events.event("Parameter Store Change", "aws.ssm", account=row.account, region=row.region,
                        time=now, resources=[row.arn], detail={
                            "operation": operation, "name": row.display_name, "type": row.type,
                            "description": row.description or ""})


def failed_change_event(account: str, region: str, arn: str, name: str, type_: str, data_type: str,
                        operation: str, exception: str, now: datetime) -> dict:
    """The "Parameter Store Change" event of a write that failed after the call answered (an
    aws:ec2:image value that is not an AMI ID), as
    https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-ec2-aliases.html shows it."""
    return events.event("Parameter Store Change", "aws.ssm", account=account, region=region, time=now,
                        resources=[arn], detail={"exception": exception, "dataType": data_type, "name": name,
                                                 "type": type_, "operation": operation})


def _act(engine, store, conn, row, now: datetime) -> None:
    policies = json.loads(row.policies)
    state = json.loads(row.policy_state)
    at = now.timestamp()
    times = due_times(policies, row.last_modified)
    for i, (policy, due) in enumerate(zip(policies, times)):
        if due > at or finished(state, i, policy, row.last_modified):
            continue
        kind = policy["Type"]
        if kind == "Expiration":
            events.emit(engine, conn, policy_action_event(
                row, policy, now, "Finished", "Parameter expired and was deleted."), now)
            events.emit(engine, conn, change_event(row, "Delete", now), now)
            where = (versions_table.c.account == row.account, versions_table.c.region == row.region,
                     versions_table.c.name == row.name)
            conn.execute(versions_table.delete().where(*where))
            conn.execute(params_table.delete().where(params_table.c.account == row.account,
                                                     params_table.c.region == row.region,
                                                     params_table.c.name == row.name))
            tagging.delete_all(conn, row.arn)
            engine.cache.pop(("ssm-parameter", row.account, row.region, row.name))
            store.after_commit(lambda: engine.cache.pop(("ssm-parameter", row.account, row.region, row.name)))
            engine.service_event(store, "ssm", "DeleteParameter", row.region, row.account,
                                 [("AWS::SSM::Parameter", row.arn)], {"reason": "Expiration policy"})
            return
        if kind == "ExpirationNotification":
            expiry = expiration_time(next(p for p in policies if p["Type"] == "Expiration"))
            reason = f"Parameter will expire at {expiry.strftime('%Y-%m-%dT%H:%M:%SZ')}."
        else:
            age = _age(policy, "After")
            reason = f"Parameter has not been modified for at least {age.days} days {age.seconds // 3600} hours."
        events.emit(engine, conn, policy_action_event(row, policy, now, "Finished", reason), now)
        state[str(i)] = {"at": at, "for": row.last_modified}
    conn.execute(params_table.update().where(
        params_table.c.account == row.account, params_table.c.region == row.region,
        params_table.c.name == row.name).values(
        policy_state=json.dumps(state, sort_keys=True), next_policy_at=next_due(policies, state, row.last_modified)))
    store.after_commit(lambda: engine.cache.pop(("ssm-parameter", row.account, row.region, row.name)))


def enforce_policies(engine, store, now) -> int:
    """Act on every parameter whose next policy moment has come."""
    at = now.timestamp()
    with store.read() as conn:
        keys = conn.execute(sa.select(params_table.c.account, params_table.c.region, params_table.c.name)
                            .where(params_table.c.next_policy_at <= at)
                            .order_by(params_table.c.next_policy_at).limit(1000)).all()
    done = 0
    for account, region, name in keys:
        try:
            with store.write() as conn:
                row = conn.execute(params_table.select().where(
                    params_table.c.account == account, params_table.c.region == region,
                    params_table.c.name == name)).first()
                if row is None or row.next_policy_at is None or row.next_policy_at > at:
                    continue      # changed since we looked
                _act(engine, store, conn, row, now)
                done += 1
        except Exception:
            log.exception("parameter policy of %s failed; it is retried next tick", name)
    return done
