"""Identities kept in the store, so every server on one database shares them.

The document is the identities file's (same schema, same rules), held in one row with a version
that each change bumps; `Identities` re-reads it when the version moves (checked at most once a
second), as it re-reads a changed file. An access key's secret never reaches the store in
plaintext: it is sealed under the store's root key, the associated data binding the access key id,
so a sealed secret cannot be moved onto another key.
"""
from __future__ import annotations

import base64
import copy
import json
import uuid
from datetime import datetime
from typing import Callable

import sqlalchemy as sa

from keyplane.engine.identity import validate_document
from keyplane.engine.sealing import RootKey
from keyplane.engine.store.base import Store
from keyplane.engine.store.tables import identities as table

ROW = 1


def secret_aad(access_key_id: str) -> bytes:
    return f"keyplane:v1:access-key:{access_key_id}".encode()


def _access_keys(data: dict):
    """Every access key entry of a document (root, user), as the dicts themselves."""
    for account in data.get("accounts", []):
        yield from account.get("root_access_keys", [])
        for user in account.get("users", []):
            yield from user.get("access_keys", [])


def seal_document(data: dict, root: RootKey) -> str:
    sealed = copy.deepcopy(data)
    for key in _access_keys(sealed):
        secret = key.pop("secret")
        key["sealed_secret"] = base64.b64encode(root.seal(secret.encode(), secret_aad(key["id"]))).decode()
    return json.dumps(sealed, sort_keys=True)


def unseal_document(text: str, root: RootKey) -> dict:
    data = json.loads(text)
    for key in _access_keys(data):
        sealed = base64.b64decode(key.pop("sealed_secret"))
        key["secret"] = root.unseal(sealed, secret_aad(key["id"])).decode()
    return data


class StoredIdentities:
    """The identities document of one store: read, replace, or change it under the store's write
    lock (a read-modify-write from two processes cannot lose either change)."""

    def __init__(self, store: Store, root: RootKey):
        self.store = store
        self.root = root

    @classmethod
    def of(cls, engine) -> "StoredIdentities":
        """The identities of an engine's default store (where `keyplane serve` looks)."""
        store = engine.default_store()
        return cls(store, engine.root_key_for(store))

    def version(self) -> int | None:
        """The document's version, or None when the store holds no identities."""
        with self.store.read() as conn:
            return conn.execute(sa.select(table.c.version).where(table.c.id == ROW)).scalar()

    def load(self) -> tuple[int, dict] | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(table.c.version, table.c.document).where(table.c.id == ROW)).first()
        return None if row is None else (row.version, unseal_document(row.document, self.root))

    def replace(self, data: dict) -> int:
        """Make `data` the identities of this store; returns the new version."""
        return self.change(lambda _current: data, create=True)

    def change(self, edit: Callable[[dict | None], dict], create: bool = False, dev: bool = False,
               record: Callable[[dict], None] | None = None) -> int:
        """Apply `edit` to the current document (None when there is none and `create`) and store
        what it returns; the document is validated first (`dev`: as a dev-mode server takes it), so a
        bad change stores nothing. `record(data)` audits the change in the same transaction."""
        with self.store.write() as conn:
            row = conn.execute(sa.select(table.c.version, table.c.document).where(table.c.id == ROW)).first()
            if row is None and not create:
                raise LookupError("the store holds no identities; run `keyplane identities import FILE` first")
            current = None if row is None else unseal_document(row.document, self.root)
            data = edit(current)
            validate_document(data, dev=dev)
            if record is not None:
                record(data)
            document = seal_document(data, self.root)
            if row is None:
                conn.execute(table.insert().values(id=ROW, version=1, document=document))
                return 1
            conn.execute(table.update().where(table.c.id == ROW).values(version=row.version + 1, document=document))
            return row.version + 1


def change_event(now: datetime, account: str, name: str, request: dict, response: dict | None = None,
                 resources: list[tuple[str, str]] = ()) -> dict:
    """The audit record of a change made with `keyplane identities`, shaped as CloudTrail records
    the IAM call that makes the same change on AWS (CreateUser, PutUserPolicy, CreateAccessKey,
    UpdateAccessKey; IAM's events are recorded in us-east-1). It is made by whoever holds the store,
    not through a signed call: the account's root acting outside the API, so its eventType is
    AwsConsoleAction ("an action ... that was not an API call"). No secret is ever in it.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html"""
    return {
        "eventVersion": "1.08",
        "userIdentity": {"type": "Root", "principalId": account, "arn": f"arn:aws:iam::{account}:root",
                         "accountId": account, "invokedBy": "keyplane identities"},
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "iam.amazonaws.com",
        "eventName": name, "awsRegion": "us-east-1", "sourceIPAddress": "keyplane identities",
        "userAgent": "keyplane identities", "requestParameters": request, "responseElements": response,
        "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
        "resources": [{"accountId": account, "type": t, "ARN": arn} for t, arn in resources],
        "eventType": "AwsConsoleAction", "managementEvent": True, "eventCategory": "Management",
        "recipientAccountId": account, "_time": now.timestamp(),
    }
