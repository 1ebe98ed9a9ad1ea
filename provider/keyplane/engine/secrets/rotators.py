"""Rotators: what RotationLambdaARN names, and how each receives the rotation Lambda's event.

- `keyplane:postgres-single-user`: changes the user's own password (AWS's single-user template).
- `keyplane:postgres-alternating-users`: keeps two users, `<name>` and `<name>_clone`, and changes
  the one not in use with the superuser named by `masterarn` (AWS's alternating-users template).
- `python:package.module:function`: called as a Lambda handler, `fn(event, context)`; the context
  gives `context.client("secretsmanager")`, a boto3 client for the secret's account and Region.
- `https://...` / `http://...`: a webhook; the event is POSTed as JSON, any 2xx is success. The
  receiver calls keyplane's endpoint with its own credentials, as a Lambda would.

The managed PostgreSQL rotators are written against a boto3 Secrets Manager client like AWS's
Lambda templates, so they go through the same API (authorisation, audit, labels) as any rotator.
They read the connection from the secret's JSON with AWS's field names (engine, host, port,
dbname, username, password, masterarn).
"""
from __future__ import annotations

import importlib
import json
import logging
import re

from .errors import InvalidParameterException

log = logging.getLogger("keyplane.secrets.rotators")
PYTHON_RE = re.compile(r"^python:([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")
MANAGED = ("keyplane:postgres-single-user", "keyplane:postgres-alternating-users")
EXCLUDE_CHARACTERS = "/@\"'\\"
WEBHOOK_TIMEOUT = 30


class RotatorError(Exception):
    """A step failed; the message is what the failure record says (never a secret value)."""


def validate_rotator(name: str) -> None:
    if name in MANAGED or PYTHON_RE.match(name) or name.startswith(("https://", "http://")):
        return
    if name.startswith("arn:aws:lambda:"):
        raise InvalidParameterException(
            "keyplane runs no Lambda functions: name a rotator (keyplane:postgres-single-user, "
            "keyplane:postgres-alternating-users, python:module:function or an https:// webhook).")
    raise InvalidParameterException(f"Invalid RotationLambdaARN: {name}")


class LambdaContext:
    """What a Lambda handler gets as `context`, plus a way to reach Secrets Manager."""

    def __init__(self, engine, ctx):
        self._engine, self._ctx = engine, ctx
        self.function_name = "keyplane-rotator"
        self.aws_request_id = ctx.request_id

    def client(self, service: str = "secretsmanager"):
        from keyplane.client import Connection
        return Connection(self._engine, principal=self._ctx.principal, region=self._ctx.region).client(service)


class Rotator:
    def invoke(self, engine, ctx, event: dict) -> None:
        raise NotImplementedError

    def rollback(self, engine, ctx, event: dict) -> None:
        """Undo a completed setSecret after a later step failed (only if the rotator can)."""

    def close(self) -> None:
        pass


class PythonRotator(Rotator):
    def __init__(self, module: str, function: str):
        self.module, self.function = module, function

    def invoke(self, engine, ctx, event):
        try:
            fn = getattr(importlib.import_module(self.module), self.function)
        except (ImportError, AttributeError) as exc:
            raise RotatorError(f"cannot load rotator python:{self.module}:{self.function}: {exc}") from None
        fn(dict(event), LambdaContext(engine, ctx))


class WebhookRotator(Rotator):
    def __init__(self, url: str):
        self.url = url

    def invoke(self, engine, ctx, event):
        import urllib.error
        import urllib.request
        req = urllib.request.Request(self.url, data=json.dumps(event).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "keyplane-secretsmanager-rotation"})
        try:
            with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (urllib.error.URLError, OSError) as exc:
            raise RotatorError(f"{event['Step']}: webhook {self.url} unreachable: {exc}") from None
        if not 200 <= status < 300:
            raise RotatorError(f"{event['Step']}: webhook {self.url} answered HTTP {status}")


# ---- PostgreSQL ----------------------------------------------------------------------------------

def _get(sm, arn: str, stage: str, token: str | None = None) -> dict:
    kwargs = {"SecretId": arn, "VersionStage": stage}
    if token:
        kwargs["VersionId"] = token
    return json.loads(sm.get_secret_value(**kwargs)["SecretString"])


def _connect(d: dict, password_key: str = "password"):
    import psycopg
    if d.get("engine", "postgres") not in ("postgres", "aurora-postgresql"):
        raise RotatorError(f"the secret's engine is {d.get('engine')!r}; this rotator handles postgres")
    try:
        return psycopg.connect(host=d["host"], port=int(d.get("port", 5432)), dbname=d.get("dbname", "postgres"),
                               user=d["username"], password=d[password_key], connect_timeout=5,
                               autocommit=True)
    except psycopg.Error as exc:
        raise RotatorError(f"cannot log in to {d['host']}:{d.get('port', 5432)} as {d['username']}: "
                           f"{str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}") from None
    except KeyError as exc:
        raise RotatorError(f"the secret's JSON has no {exc.args[0]!r} field") from None


def _try_connect(d: dict):
    try:
        return _connect(d)
    except RotatorError:
        return None


class PostgresRotator(Rotator):
    """The four steps shared by both strategies; `_new_username` and `_set` differ."""

    def __init__(self):
        self._held = None       # the session setSecret logged in with, kept to undo it

    def invoke(self, engine, ctx, event):
        sm = LambdaContext(engine, ctx).client("secretsmanager")
        arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
        try:
            getattr(self, "_" + {"createSecret": "create", "setSecret": "set", "testSecret": "test",
                                 "finishSecret": "finish"}[step])(sm, arn, token, event)
        except RotatorError as exc:
            raise RotatorError(f"{step}: {exc}") from None
        except json.JSONDecodeError:
            raise RotatorError(f"{step}: the secret's value is not JSON") from None
        except Exception as exc:   # boto3 ClientError et al.
            raise RotatorError(f"{step}: {type(exc).__name__}: {exc}") from None

    def _new_username(self, current: dict) -> str:
        return current["username"]

    def _create(self, sm, arn, token, event):
        current = _get(sm, arn, "AWSCURRENT")
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

    def _test(self, sm, arn, token, event):
        pending = _get(sm, arn, "AWSPENDING", token)
        conn = _connect(pending)
        try:
            conn.execute("SELECT now()")
        finally:
            conn.close()

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
                self._held.close()
            except Exception:   # noqa: BLE001
                pass
            self._held = None


class PostgresSingleUser(PostgresRotator):
    def _set(self, sm, arn, token, event):
        pending = _get(sm, arn, "AWSPENDING", token)
        conn = _try_connect(pending)
        if conn is not None:
            conn.close()
            return                       # already set (a retry after setSecret succeeded)
        current = _get(sm, arn, "AWSCURRENT")
        conn = _try_connect(current)
        if conn is None:
            try:
                conn = _connect(_get(sm, arn, "AWSPREVIOUS"))
            except Exception:   # noqa: BLE001
                conn = _connect(current)     # raises with the real reason
        from psycopg import sql
        conn.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(
            sql.Identifier(pending["username"]), sql.Literal(pending["password"])))
        # keep the session: if testSecret then fails, it can put the current password back
        self._held, self._restore = conn, current

    def rollback(self, engine, ctx, event):
        if self._held is None or event["Step"] in ("createSecret", "setSecret"):
            return
        from psycopg import sql
        self._held.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(
            sql.Identifier(self._restore["username"]), sql.Literal(self._restore["password"])))


class PostgresAlternatingUsers(PostgresRotator):
    def _new_username(self, current):
        name = current["username"]
        return name[:-len("_clone")] if name.endswith("_clone") else name + "_clone"

    def _set(self, sm, arn, token, event):
        pending = _get(sm, arn, "AWSPENDING", token)
        conn = _try_connect(pending)
        if conn is not None:
            conn.close()
            return
        current = _get(sm, arn, "AWSCURRENT")
        if "masterarn" not in current:
            raise RotatorError("the alternating-users strategy needs 'masterarn' in the secret's JSON")
        master = _get(sm, current["masterarn"], "AWSCURRENT")
        if (master.get("host"), int(master.get("port", 5432))) != (current["host"], int(current.get("port", 5432))):
            raise RotatorError("the master secret is for another database host")
        master = {**master, "dbname": current.get("dbname", master.get("dbname", "postgres"))}
        from psycopg import sql
        conn = _connect(master)
        try:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (pending["username"],)).fetchone()
            if exists:
                conn.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(
                    sql.Identifier(pending["username"]), sql.Literal(pending["password"])))
            else:
                conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                    sql.Identifier(pending["username"]), sql.Literal(pending["password"])))
                # the clone gets everything the original has, by membership
                conn.execute(sql.SQL("GRANT {} TO {}").format(
                    sql.Identifier(current["username"]), sql.Identifier(pending["username"])))
        finally:
            conn.close()


def resolve_rotator(name: str) -> Rotator:
    if name == "keyplane:postgres-single-user":
        return PostgresSingleUser()
    if name == "keyplane:postgres-alternating-users":
        return PostgresAlternatingUsers()
    m = PYTHON_RE.match(name)
    if m:
        return PythonRotator(m.group(1), m.group(2))
    if name.startswith(("https://", "http://")):
        return WebhookRotator(name)
    raise RotatorError(f"unknown rotator {name}")
