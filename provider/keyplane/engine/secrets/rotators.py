"""Rotators: what RotationLambdaARN names, and how each receives the rotation Lambda's event.

- `keyplane:postgres-single-user`, `keyplane:mysql-single-user` (also `keyplane:mariadb-single-user`):
  change the user's own password (AWS's single-user strategy).
- `keyplane:postgres-alternating-users`, `keyplane:mysql-alternating-users` (`keyplane:mariadb-...`):
  keep two users, `<name>` and `<name>_clone`, and change the one not in use with the admin user
  named by `masterarn` (AWS's alternating-users strategy). See `databases.py`.
- `python:package.module:function`: called as a Lambda handler, `fn(event, context)`; the context
  gives `context.client("secretsmanager")`, a boto3 client for the secret's account and Region.
- `https://...` / `http://...`: a webhook; the event is POSTed as JSON, any 2xx is success. The
  receiver calls keyplane's endpoint with its own credentials, as a Lambda would.

The managed database rotators are written against a boto3 Secrets Manager client like AWS's
Lambda functions, so they go through the same API (authorisation, audit, labels) as any rotator.
"""
from __future__ import annotations

import importlib
import json
import logging
import re

from . import databases
from .errors import InvalidParameterException
from .rotator_base import LambdaContext, Rotator, RotatorError

log = logging.getLogger("keyplane.secrets.rotators")
PYTHON_RE = re.compile(r"^python:([A-Za-z_][\w.]*):([A-Za-z_]\w*)$")
WEBHOOK_TIMEOUT = 30


def validate_rotator(name: str) -> None:
    if name in databases.MANAGED_ROTATORS or PYTHON_RE.match(name) or name.startswith(("https://", "http://")):
        return
    if name.startswith("arn:aws:lambda:"):
        raise InvalidParameterException(
            "keyplane runs no Lambda functions: name a rotator (keyplane:postgres-single-user, "
            "keyplane:postgres-alternating-users, keyplane:mysql-single-user, keyplane:mysql-alternating-users, "
            "python:module:function or an https:// webhook).")
    raise InvalidParameterException(f"Invalid RotationLambdaARN: {name}")


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


def resolve_partner(secret_type: str) -> Rotator:
    """The rotator of a managed external secret's partner (its Type). keyplane reaches no
    partner (Salesforce, Snowflake, ...), so a run fails at createSecret with this reason."""
    raise RotatorError(f"keyplane has no managed external secret integration for the partner type {secret_type}; "
                       "rotate this secret by writing its new value with PutSecretValue.")


def resolve_rotator(name: str) -> Rotator:
    managed = databases.MANAGED_ROTATORS.get(name)
    if managed is not None:
        strategy, dialect = managed
        return strategy(dialect)
    m = PYTHON_RE.match(name)
    if m:
        return PythonRotator(m.group(1), m.group(2))
    if name.startswith(("https://", "http://")):
        return WebhookRotator(name)
    raise RotatorError(f"unknown rotator {name}")
