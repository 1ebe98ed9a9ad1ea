"""Managed rotation of database credentials: AWS's single-user and alternating-users strategies,
the same four steps (createSecret, setSecret, testSecret, finishSecret) for every database, each
database's SQL in its dialect (`db_postgres.py`, `db_mysql.py`).

The secret's JSON uses AWS's field names: engine, host, port, dbname, username, password and, for
alternating users, masterarn (the ARN of a secret holding an admin user of the same server).

- Single user: setSecret logs in as the user (with AWSCURRENT, or AWSPREVIOUS if a half-finished
  run already changed it) and changes its own password. The session is kept: if testSecret then
  fails, rollback puts the current password back through it, so AWSCURRENT keeps working.
- Alternating users: `<name>` and `<name>_clone` take turns; the admin user from `masterarn`
  creates the clone on the first run (with the original's rights) and sets the password of the
  one not in use, so the user applications hold keeps working until finishSecret moves AWSCURRENT.
"""
from __future__ import annotations

import json

from . import db_mysql, db_postgres
from .rotator_base import LambdaContext, Rotator, RotatorError

# GetRandomPassword's default rules, less what breaks a connection string or a quoted literal
EXCLUDE_CHARACTERS = "/@\"'\\"
CLONE_SUFFIX = "_clone"


def _get(sm, arn: str, stage: str, token: str | None = None) -> dict:
    kwargs = {"SecretId": arn, "VersionStage": stage}
    if token:
        kwargs["VersionId"] = token
    return json.loads(sm.get_secret_value(**kwargs)["SecretString"])


class DatabaseRotator(Rotator):
    """The four steps shared by both strategies; `_new_username` and `_set` differ."""

    def __init__(self, dialect):
        self.db = dialect
        self._held = None       # the session setSecret logged in with, kept to undo it
        self._restore = None

    def invoke(self, engine, ctx, event):
        sm = LambdaContext(engine, ctx).client("secretsmanager")
        arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
        steps = {"createSecret": self._create, "setSecret": self._set, "testSecret": self._test,
                 "finishSecret": self._finish}
        try:
            steps[step](sm, arn, token, event)
        except RotatorError as exc:
            raise RotatorError(f"{step}: {exc}") from None
        except json.JSONDecodeError:
            raise RotatorError(f"{step}: the secret's value is not JSON") from None
        except Exception as exc:   # boto3 ClientError et al.
            raise RotatorError(f"{step}: {type(exc).__name__}: {exc}") from None

    def _connect(self, d: dict):
        self.db.check_engine(d)
        return self.db.connect(d)

    def _try_connect(self, d: dict):
        try:
            return self._connect(d)
        except RotatorError:
            return None

    def _new_username(self, current: dict) -> str:
        return current["username"]

    def _create(self, sm, arn, token, event):
        current = _get(sm, arn, "AWSCURRENT")
        self.db.check_engine(current)
        try:
            _get(sm, arn, "AWSPENDING", token)
            return                      # a retry: the pending value already exists
        except sm.exceptions.ResourceNotFoundException:
            pass
        pending = dict(current)
        pending["username"] = self._new_username(current)
        pending["password"] = sm.get_random_password(ExcludeCharacters=EXCLUDE_CHARACTERS)["RandomPassword"]
        kwargs = {"SecretId": arn, "ClientRequestToken": token, "SecretString": json.dumps(pending),
                  "VersionStages": ["AWSPENDING"]}
        if event.get("RotationToken"):
            kwargs["RotationToken"] = event["RotationToken"]
        sm.put_secret_value(**kwargs)

    def _set(self, sm, arn, token, event):
        raise NotImplementedError

    def _test(self, sm, arn, token, event):
        conn = self._connect(_get(sm, arn, "AWSPENDING", token))
        try:
            self.db.ping(conn)
        finally:
            self.db.close(conn)

    def _finish(self, sm, arn, token, event):
        described = sm.describe_secret(SecretId=arn)
        current = next((v for v, stages in described["VersionIdsToStages"].items() if "AWSCURRENT" in stages), None)
        if current == token:
            return
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                       RemoveFromVersionId=current)

    def close(self):
        if self._held is not None:
            try:
                self.db.close(self._held)
            except Exception:   # noqa: BLE001
                pass
            self._held = None


class SingleUser(DatabaseRotator):
    def _set(self, sm, arn, token, event):
        pending = _get(sm, arn, "AWSPENDING", token)
        conn = self._try_connect(pending)
        if conn is not None:
            self.db.close(conn)
            return                       # already set (a retry after setSecret succeeded)
        current = _get(sm, arn, "AWSCURRENT")
        conn = self._try_connect(current)
        if conn is None:
            try:
                conn = self._connect(_get(sm, arn, "AWSPREVIOUS"))
            except Exception:   # noqa: BLE001
                conn = self._connect(current)     # raises with the real reason
        self.db.set_own_password(conn, pending["username"], pending["password"])
        # keep the session: if testSecret then fails, it can put the current password back
        self._held, self._restore = conn, current

    def rollback(self, engine, ctx, event):
        if self._held is None or event["Step"] in ("createSecret", "setSecret"):
            return
        self.db.set_own_password(self._held, self._restore["username"], self._restore["password"])


class AlternatingUsers(DatabaseRotator):
    def _new_username(self, current):
        name = current["username"]
        return name[:-len(CLONE_SUFFIX)] if name.endswith(CLONE_SUFFIX) else name + CLONE_SUFFIX

    def _set(self, sm, arn, token, event):
        pending = _get(sm, arn, "AWSPENDING", token)
        conn = self._try_connect(pending)
        if conn is not None:
            self.db.close(conn)
            return
        current = _get(sm, arn, "AWSCURRENT")
        if "masterarn" not in current:
            raise RotatorError("the alternating-users strategy needs 'masterarn' in the secret's JSON")
        master = _get(sm, current["masterarn"], "AWSCURRENT")
        port = self.db.default_port
        if (master.get("host"), int(master.get("port", port))) != (current["host"], int(current.get("port", port))):
            raise RotatorError("the master secret is for another database host")
        master = {**master, "dbname": current.get("dbname", master.get("dbname", self.db.default_dbname))}
        conn = self._connect(master)
        try:
            if self.db.user_exists(conn, pending["username"]):
                self.db.set_password(conn, pending["username"], pending["password"])
            else:
                self.db.create_clone(conn, current["username"], pending["username"], pending["password"])
        finally:
            self.db.close(conn)


# RotationLambdaARN -> (strategy, database dialect): the managed rotators keyplane runs
MANAGED_ROTATORS = {
    "keyplane:postgres-single-user": (SingleUser, db_postgres),
    "keyplane:postgres-alternating-users": (AlternatingUsers, db_postgres),
    "keyplane:mysql-single-user": (SingleUser, db_mysql),
    "keyplane:mysql-alternating-users": (AlternatingUsers, db_mysql),
    "keyplane:mariadb-single-user": (SingleUser, db_mysql),
    "keyplane:mariadb-alternating-users": (AlternatingUsers, db_mysql),
}
