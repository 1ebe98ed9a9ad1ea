"""Managed rotation against the machine's MariaDB, which checks every password: the password
really changes in the server, the old one is refused, alternating users take turns, and a failed
rotation leaves AWSCURRENT working. The secret's JSON uses the field names of AWS's managed
rotation for Amazon RDS MySQL/MariaDB:
https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html
Strategies (single user, alternating users):
https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html"""
from __future__ import annotations

import json
import uuid
from datetime import timedelta

import botocore.exceptions
import pytest

SINGLE = "keyplane:mysql-single-user"
ALTERNATING = "keyplane:mysql-alternating-users"


def _db_secret(server, user: str, password: str, engine: str = "mysql", **extra) -> str:
    return json.dumps({"engine": engine, "host": server.host, "port": server.port, "username": user,
                       "password": password, **extra})


def _value(sm, secret_id, stage="AWSCURRENT") -> dict:
    return json.loads(sm.get_secret_value(SecretId=secret_id, VersionStage=stage)["SecretString"])


# AWS's MySQL/MariaDB secret: port optional (3306) and shown as a string, dbname optional (None)
@pytest.mark.parametrize("db_engine,rotator,port", [("mysql", SINGLE, None),
                                                     ("mariadb", "keyplane:mariadb-single-user", "3306")])
def test_single_user_rotation_changes_the_password_and_refuses_the_old_one(sm, mariadb, mysql_user, db_engine, rotator,
                                                                          port, rotation_failure):
    """Single user strategy (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html)
    on a secret of AWS's MySQL / MariaDB structure, port left out or given as a string
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html).
    The new password follows GetRandomPassword's defaults (32 characters, each included type)
    less the characters AWS's rotation templates exclude (/@"'\\), and the server takes it
    (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html)."""
    mariadb.create_user(mysql_user, "initial-pw-1")
    value = json.loads(_db_secret(mariadb, mysql_user, "initial-pw-1", db_engine))
    if port is None:
        del value["port"]
    else:
        value["port"] = port
    arn = sm.create_secret(Name=f"db/{mysql_user}", SecretString=json.dumps(value))["ARN"]

    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=rotator, RotationRules={"AutomaticallyAfterDays": 30})

    current = _value(sm, arn)
    assert current["username"] == mysql_user and current["password"] != "initial-pw-1"
    assert current["engine"] == db_engine and current.get("port") == value.get("port")   # kept as given
    password = current["password"]
    assert len(password) == 32 and not set(password) & set("/@\"'\\")
    assert any(c.islower() for c in password) and any(c.isupper() for c in password)
    assert any(c.isdigit() for c in password) and any(not c.isalnum() for c in password)
    assert mariadb.can_login(mysql_user, password)
    assert not mariadb.can_login(mysql_user, "initial-pw-1")
    assert _value(sm, arn, "AWSPREVIOUS")["password"] == "initial-pw-1"
    described = sm.describe_secret(SecretId=arn)
    assert described["VersionIdsToStages"][out["VersionId"]] == ["AWSCURRENT"]
    assert described["RotationLambdaARN"] == rotator and "ExternalSecretRotationMetadata" not in described
    assert rotation_failure(arn) is None


def test_alternating_users_rotation_clones_the_user_with_its_grants_and_switches_back(sm, mariadb, mysql_user):
    mariadb.create_user(mysql_user, "initial-pw-2", "SELECT, INSERT ON `test`.*")
    mariadb.create_user(mysql_user + "_admin", "admin-pw-2", "ALL PRIVILEGES ON *.* WITH GRANT OPTION")
    master = sm.create_secret(Name=f"db/master-{mysql_user}", SecretString=_db_secret(
        mariadb, mysql_user + "_admin", "admin-pw-2"))["ARN"]
    arn = sm.create_secret(Name=f"db/{mysql_user}", SecretString=_db_secret(
        mariadb, mysql_user, "initial-pw-2", masterarn=master))["ARN"]

    sm.rotate_secret(SecretId=arn, RotationLambdaARN=ALTERNATING, RotationRules={"AutomaticallyAfterDays": 7})

    first = _value(sm, arn)
    assert first["username"] == mysql_user + "_clone"
    assert mariadb.can_login(first["username"], first["password"])
    assert mariadb.can_login(mysql_user, "initial-pw-2")             # the user in use keeps working
    clone_grants = " ".join(mariadb.grants(first["username"]))
    assert "GRANT SELECT, INSERT ON `test`.*" in clone_grants        # the clone has the original's rights
    assert "initial-pw-2" not in clone_grants

    sm.rotate_secret(SecretId=arn)                                   # the configured rotator again

    second = _value(sm, arn)
    assert second["username"] == mysql_user and second["password"] != "initial-pw-2"
    assert mariadb.can_login(mysql_user, second["password"])
    assert not mariadb.can_login(mysql_user, "initial-pw-2")
    assert mariadb.can_login(first["username"], first["password"])   # now AWSPREVIOUS, untouched
    assert _value(sm, arn, "AWSPREVIOUS")["username"] == mysql_user + "_clone"


def _delivered(engine, path) -> list[dict]:
    """The events delivered to the JSON-lines sink (the scheduler's delivery job runs first)."""
    engine.run_due()
    return [json.loads(line) for line in open(path)] if path.exists() else []


def test_rotation_whose_test_step_fails_keeps_the_old_password_and_is_retried_on_schedule(
        sm, mariadb, mysql_user, engine, clock, rotation_failure, tmp_path):
    """A failed testSecret leaves AWSPENDING on the new version and AWSCURRENT where it was
    (https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html), so a
    second RotateSecret is refused until the run completes; the failure is a RotationFailed event
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/monitoring-eventbridge.html) and
    the next rotation window retries with the same token."""
    from keyplane.engine import events
    events_file = tmp_path / "events.jsonl"
    events.configure(engine, file=str(events_file))
    # MAX_USER_CONNECTIONS 1: setSecret's session is still open, so testSecret cannot log in
    mariadb.create_user(mysql_user, "initial-pw-3", limits="MAX_USER_CONNECTIONS 1")
    arn = sm.create_secret(Name=f"db/{mysql_user}",
                           SecretString=_db_secret(mariadb, mysql_user, "initial-pw-3", "mariadb"))["ARN"]

    out = sm.rotate_secret(SecretId=arn, RotationLambdaARN=SINGLE, RotationRules={"AutomaticallyAfterDays": 1})

    assert _value(sm, arn)["password"] == "initial-pw-3"
    assert mariadb.can_login(mysql_user, "initial-pw-3")             # rolled back through the held session
    described = sm.describe_secret(SecretId=arn)
    failure = rotation_failure(arn)
    assert failure["step"] == "testSecret" and "initial-pw-3" not in failure["message"]
    assert "ExternalSecretRotationMetadata" not in described      # a managed external secret's member
    assert described["VersionIdsToStages"][out["VersionId"]] == ["AWSPENDING"]
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sm.rotate_secret(SecretId=arn)
    assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
    failed = [e for e in _delivered(engine, events_file) if e["detail"]["eventName"] == "RotationFailed"]
    assert failed and failed[0]["source"] == "aws.secretsmanager" and failed[0]["resources"] == [arn]

    mariadb.execute("ALTER USER %s@'%%' WITH MAX_USER_CONNECTIONS 0", (mysql_user,))
    clock.advance(timedelta(days=2))
    assert engine.run_due()["secretsmanager.rotate-secrets"] == 1

    current = sm.get_secret_value(SecretId=arn)
    assert current["VersionId"] == out["VersionId"]                  # the retry used the same token
    password = json.loads(current["SecretString"])["password"]
    assert mariadb.can_login(mysql_user, password)
    assert not mariadb.can_login(mysql_user, "initial-pw-3")
    assert "ExternalSecretRotationMetadata" not in sm.describe_secret(SecretId=arn)
    assert engine.audit.query(engine.store_for("us-east-1"), event_name="RotationSucceeded")
    assert _delivered(engine, events_file)[-1]["detail"]["eventName"] == "RotationSucceeded"


def test_alternating_rotation_whose_test_step_fails_keeps_the_user_in_use_and_is_retried(
        sm, mariadb, mysql_user, engine, clock, rotation_failure):
    """Alternating users (https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotation-strategy.html):
    the second rotation sets the original user's password; when that user cannot log in (its
    account locked), testSecret fails, AWSCURRENT stays on the clone, which still logs in, the
    failure is recorded (RotationFailed; AWSPENDING left on the new version, as RotateSecret's
    reference describes: https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_RotateSecret.html)
    and the next window finishes the run with the same token."""
    mariadb.create_user(mysql_user, "initial-pw-7", "SELECT ON `test`.*")
    mariadb.create_user(mysql_user + "_admin", "admin-pw-7", "ALL PRIVILEGES ON *.* WITH GRANT OPTION")
    master = sm.create_secret(Name=f"db/master-{mysql_user}", SecretString=_db_secret(
        mariadb, mysql_user + "_admin", "admin-pw-7", "mariadb"))["ARN"]
    arn = sm.create_secret(Name=f"db/{mysql_user}", SecretString=_db_secret(
        mariadb, mysql_user, "initial-pw-7", "mariadb", masterarn=master))["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN="keyplane:mariadb-alternating-users",
                     RotationRules={"AutomaticallyAfterDays": 7})
    clone = _value(sm, arn)
    assert clone["username"] == mysql_user + "_clone" and rotation_failure(arn) is None

    mariadb.execute("ALTER USER %s@'%%' ACCOUNT LOCK", (mysql_user,))
    out = sm.rotate_secret(SecretId=arn)

    failure = rotation_failure(arn)
    assert failure["step"] == "testSecret" and "locked" in failure["message"]
    assert clone["password"] not in failure["message"]
    assert _value(sm, arn) == clone                                  # AWSCURRENT: the clone, unchanged
    assert mariadb.can_login(clone["username"], clone["password"])
    described = sm.describe_secret(SecretId=arn)
    assert described["VersionIdsToStages"][out["VersionId"]] == ["AWSPENDING"]

    mariadb.execute("ALTER USER %s@'%%' ACCOUNT UNLOCK", (mysql_user,))
    clock.advance(timedelta(days=8))
    assert engine.run_due()["secretsmanager.rotate-secrets"] == 1

    current = sm.get_secret_value(SecretId=arn)
    assert current["VersionId"] == out["VersionId"]                  # the retry used the same token
    back = json.loads(current["SecretString"])
    assert back["username"] == mysql_user and back["password"] not in ("initial-pw-7", clone["password"])
    assert mariadb.can_login(mysql_user, back["password"]) and not mariadb.can_login(mysql_user, "initial-pw-7")
    assert mariadb.can_login(clone["username"], clone["password"])   # now AWSPREVIOUS, untouched


HOSTILE_NAME = "kp_q'b\\%\"`x" + uuid.uuid4().hex[:6]     # unique: test runs may share the server
HOSTILE_PASSWORD = "pw'\\%\"`;DROP USER root--"


def test_user_names_and_passwords_cannot_inject_sql(mariadb):
    """Quotes, backslashes, `%` and backticks in a user name and a password reach the server as
    data: the statements the rotators send are parameterised or quoted as the server quotes."""
    from keyplane.engine.secrets import db_mysql
    name = HOSTILE_NAME + "s"
    mariadb.create_user(name, "plain-pw")
    login = {"engine": "mysql", "host": mariadb.host, "port": mariadb.port, "username": name, "password": "plain-pw"}
    conn = db_mysql.connect(login)
    try:
        db_mysql.set_own_password(conn, name, HOSTILE_PASSWORD)
    finally:
        conn.close()
    assert mariadb.can_login(name, HOSTILE_PASSWORD) and not mariadb.can_login(name, "plain-pw")

    admin = mariadb.admin()
    try:
        db_mysql.set_password(admin, name, HOSTILE_PASSWORD + "2")
        assert db_mysql.user_exists(admin, name) and not db_mysql.user_exists(admin, name + "_clone")
        db_mysql.create_clone(admin, name, name + "_clone", HOSTILE_PASSWORD + "3")
    finally:
        admin.close()
    assert mariadb.can_login(name, HOSTILE_PASSWORD + "2")
    assert mariadb.can_login(name + "_clone", HOSTILE_PASSWORD + "3")
    assert mariadb.execute("SELECT COUNT(*) FROM mysql.user WHERE User = 'root'")[0][0] >= 1


def test_alternating_rotation_of_a_user_with_a_hostile_name(sm, mariadb):
    name = HOSTILE_NAME + "a"
    mariadb.create_user(name, HOSTILE_PASSWORD, "SELECT ON `test`.*")
    mariadb.create_user(name + "_admin", "admin-pw-5", "ALL PRIVILEGES ON *.* WITH GRANT OPTION")
    master = sm.create_secret(Name=f"db/hostile-admin-{uuid.uuid4().hex[:6]}", SecretString=_db_secret(mariadb, name + "_admin", "admin-pw-5"))["ARN"]
    arn = sm.create_secret(Name="db/hostile", SecretString=_db_secret(mariadb, name, HOSTILE_PASSWORD,
                                                                       masterarn=master))["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=ALTERNATING, RotationRules={"AutomaticallyAfterDays": 7})
    current = _value(sm, arn)
    assert current["username"] == name + "_clone"
    assert mariadb.can_login(name + "_clone", current["password"])
    assert "GRANT SELECT ON `test`.*" in " ".join(mariadb.grants(name + "_clone"))


def test_single_user_rotation_of_a_user_with_a_hostile_name_and_password(sm, mariadb):
    """RotateSecret end to end for a user whose name and current password carry quotes,
    backslashes, `%` and backticks (AWS's MySQL secret structure:
    https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html):
    the server sees them as data, the password really changes and nothing else does."""
    name = HOSTILE_NAME + "1"
    mariadb.create_user(name, HOSTILE_PASSWORD)
    arn = sm.create_secret(Name=f"db/hostile-single-{uuid.uuid4().hex[:6]}",
                           SecretString=_db_secret(mariadb, name, HOSTILE_PASSWORD))["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=SINGLE, RotationRules={"AutomaticallyAfterDays": 7})
    current = _value(sm, arn)
    assert current["username"] == name and current["password"] != HOSTILE_PASSWORD
    assert mariadb.can_login(name, current["password"]) and not mariadb.can_login(name, HOSTILE_PASSWORD)
    assert mariadb.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (name,))[0][0] == 1


@pytest.mark.parametrize("db_engine", ["postgres", None])
def test_a_mysql_rotator_refuses_a_secret_not_for_mysql(sm, mariadb, mysql_user, rotation_failure, db_engine):
    """AWS's MySQL / MariaDB secret names its engine
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html):
    a secret for another engine, or naming none, fails at createSecret and the password stays."""
    mariadb.create_user(mysql_user, "initial-pw-6")
    value = json.loads(_db_secret(mariadb, mysql_user, "initial-pw-6", db_engine))
    if db_engine is None:
        del value["engine"]
    arn = sm.create_secret(Name=f"db/{mysql_user}", SecretString=json.dumps(value))["ARN"]
    sm.rotate_secret(SecretId=arn, RotationLambdaARN=SINGLE, RotationRules={"AutomaticallyAfterDays": 1})
    failure = rotation_failure(arn)
    assert failure["step"] == "createSecret" and "handles mysql and mariadb" in failure["message"]
    assert mariadb.can_login(mysql_user, "initial-pw-6")
