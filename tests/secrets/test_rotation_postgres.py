"""Managed rotation against a PostgreSQL that checks passwords (scram-sha-256): the password really
changes in the database, the old one is refused, and a failed rotation leaves AWSCURRENT working."""
from __future__ import annotations

import json
from datetime import timedelta

SINGLE = "keyplane:postgres-single-user"
ALTERNATING = "keyplane:postgres-alternating-users"


def _db_secret(cluster, user: str, password: str, **extra) -> str:
    return json.dumps({"engine": "postgres", "host": cluster.host, "port": cluster.port,
                       "dbname": "postgres", "username": user, "password": password, **extra})


def _value(sm, secret_id, stage="AWSCURRENT") -> dict:
    return json.loads(sm.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])


def test_single_user_rotation_changes_the_password_and_refuses_the_old_one(sm, scram_postgres, role_name):
    scram_postgres.create_role(role_name, "initial-pw-1")
    arn = sm.create_secret(Name=f"db/{role_name}",
                           SecretString=_db_secret(scram_postgres, role_name, "initial-pw-1"))["ARN"]

    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=SINGLE, RotationRules={"AutomaticallyAfterDays": 30})

    current = _value(sm, arn)
    assert current["username"] == role_name and current["password"] != "initial-pw-1"
    assert scram_postgres.can_login(role_name, current["password"])
    assert not scram_postgres.can_login(role_name, "initial-pw-1")
    assert _value(sm, arn, "AWSPREVIOUS")["password"] == "initial-pw-1"
    described = sm.describe_secret(SecretId=arn)
    assert described["VersionIdsToStages"][out["VersionId"]] == ["AWSCURRENT"]   # AWSPENDING dropped
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == SINGLE
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30
    assert "LastRotatedDate" in described and "NextRotationDate" in described
    assert "ExternalSecretRotationMetadata" not in described


def test_alternating_users_rotation_switches_to_the_clone_and_back(sm, scram_postgres, role_name):
    scram_postgres.create_role(role_name, "initial-pw-2")
    master = sm.create_secret(Name=f"db/master-{role_name}", SecretString=_db_secret(
        scram_postgres, scram_postgres.superuser, scram_postgres.superuser_password))["ARN"]
    arn = sm.create_secret(Name=f"db/{role_name}", SecretString=_db_secret(
        scram_postgres, role_name, "initial-pw-2", masterarn=master))["ARN"]

    sm.rotate_secret(SecretId=arn, RotationLambdaARN=ALTERNATING, RotationRules={"AutomaticallyAfterDays": 7})

    first = _value(sm, arn)
    assert first["username"] == role_name + "_clone"
    assert scram_postgres.can_login(first["username"], first["password"])
    assert scram_postgres.can_login(role_name, "initial-pw-2")      # the previous user still works
    with scram_postgres.connect() as conn:                           # the clone has the original's rights
        member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (first["username"], role_name)).fetchone()[0]
    assert member is True

    sm.rotate_secret(SecretId=arn)                                   # the configured rotator again

    second = _value(sm, arn)
    assert second["username"] == role_name and second["password"] != "initial-pw-2"
    assert scram_postgres.can_login(role_name, second["password"])
    assert not scram_postgres.can_login(role_name, "initial-pw-2")
    assert scram_postgres.can_login(first["username"], first["password"])   # now AWSPREVIOUS, untouched
    assert _value(sm, arn, "AWSPREVIOUS")["username"] == role_name + "_clone"


def test_rotation_whose_test_step_fails_keeps_the_old_password_and_is_retried_on_schedule(
        sm, scram_postgres, role_name, engine, clock, tmp_path, rotation_failure):
    from keyplane.engine import events
    events.configure(engine, file=str(tmp_path / "events.jsonl"))
    # CONNECTION LIMIT 1: setSecret's session is still open, so testSecret cannot log in
    scram_postgres.create_role(role_name, "initial-pw-3", "CONNECTION LIMIT 1")
    arn = sm.create_secret(Name=f"db/{role_name}",
                           SecretString=_db_secret(scram_postgres, role_name, "initial-pw-3"))["ARN"]

    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=SINGLE, RotationRules={"AutomaticallyAfterDays": 1})

    assert _value(sm, arn)["password"] == "initial-pw-3"
    assert scram_postgres.can_login(role_name, "initial-pw-3")
    described = sm.describe_secret(SecretId=arn)
    failure = rotation_failure(arn)
    assert failure["step"] == "testSecret" and "initial-pw-3" not in failure["message"]
    assert "ExternalSecretRotationMetadata" not in described      # a managed external secret's member
    assert described["VersionIdsToStages"][out["VersionId"]] == ["AWSPENDING"]
    events = engine.audit.query(engine.store_for("us-east-1"), event_name="RotationFailed")
    assert events and events[0]["resources"][0]["ARN"] == arn
    assert events[0]["serviceEventDetails"]["step"] == "testSecret"
    # a second request while the failed run is pending is refused, as AWS refuses it
    import botocore.exceptions
    try:
        sm.rotate_secret(SecretId=arn)
        raise AssertionError("RotateSecret accepted a second rotation")
    except botocore.exceptions.ClientError as err:
        assert err.response["Error"]["Code"] == "InvalidRequestException"

    engine.run_due()                                                 # delivers the events
    delivered = [json.loads(line) for line in open(tmp_path / "events.jsonl")]
    failed = [e for e in delivered if e["detail"]["eventName"] == "RotationFailed"]
    assert failed and failed[0]["source"] == "aws.secretsmanager" and failed[0]["resources"] == [arn]

    with scram_postgres.connect() as conn:
        conn.execute(f'ALTER ROLE "{role_name}" CONNECTION LIMIT -1')
    clock.advance(timedelta(days=2))
    done = engine.run_due()

    assert done["secretsmanager.rotate-secrets"] == 1
    current = sm.get_secret_value(SecretId=arn)
    assert current["VersionId"] == out["VersionId"]                  # the retry used the same token
    password = json.loads(current["SecretString"])["password"]
    assert scram_postgres.can_login(role_name, password)
    assert not scram_postgres.can_login(role_name, "initial-pw-3")
    assert "ExternalSecretRotationMetadata" not in sm.describe_secret(SecretId=arn)
    engine.run_due()
    names = [json.loads(line)["detail"]["eventName"] for line in open(tmp_path / "events.jsonl")]
    assert names[-1] == "RotationSucceeded"


def test_scheduled_rotation_runs_when_the_window_opens(sm, scram_postgres, role_name, engine, clock):
    scram_postgres.create_role(role_name, "initial-pw-4")
    arn = sm.create_secret(Name=f"db/{role_name}",
                           SecretString=_db_secret(scram_postgres, role_name, "initial-pw-4"))["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=SINGLE, RotateImmediately=False,
                     RotationRules={"ScheduleExpression": "rate(10 days)"})
    assert _value(sm, arn)["password"] == "initial-pw-4"
    next_date = sm.describe_secret(SecretId=arn)["NextRotationDate"]

    clock.advance(timedelta(days=9))
    assert engine.run_due()["secretsmanager.rotate-secrets"] == 0
    clock.set(next_date)
    assert engine.run_due()["secretsmanager.rotate-secrets"] == 1

    password = _value(sm, arn)["password"]
    assert password != "initial-pw-4" and scram_postgres.can_login(role_name, password)
    assert sm.describe_secret(SecretId=arn)["NextRotationDate"] > next_date
