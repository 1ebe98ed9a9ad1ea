"""Identities kept in the store (engine/identity_store.py): sealed secrets, versioned changes, and
`Identities` re-reading a change with the same once-a-second discipline as the file."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from keyplane.engine.core import Engine
from keyplane.engine.identity import (Identities, IdentitiesFileError, default_document,
                                      new_access_key_id, new_secret_access_key)
from keyplane.engine.identity_store import StoredIdentities
from keyplane.engine.sealing import RootKeyError
from keyplane.engine.store.tables import identities as table


@pytest.fixture
def stored(tmp_path):
    engine = Engine(str(tmp_path / "state"))
    yield StoredIdentities.of(engine)
    engine.close()


def _raw(stored) -> str:
    with stored.store.read() as conn:
        return conn.execute(sa.select(table.c.document)).scalar()


def test_secrets_are_sealed_and_the_document_round_trips(stored):
    doc = default_document()
    secret = doc["accounts"][0]["users"][0]["access_keys"][0]["secret"]
    assert stored.version() is None
    assert stored.replace(doc) == 1
    raw = _raw(stored)
    assert secret not in raw and '"secret"' not in raw and "sealed_secret" in raw
    version, back = stored.load()
    assert version == 1 and back == doc


def test_a_sealed_secret_moved_onto_another_key_does_not_open(stored):
    doc = default_document()
    user = doc["accounts"][0]["users"][0]
    user["access_keys"].append({"id": new_access_key_id(), "secret": new_secret_access_key(), "status": "Active"})
    stored.replace(doc)
    sealed = json.loads(_raw(stored))
    keys = sealed["accounts"][0]["users"][0]["access_keys"]
    keys[0]["sealed_secret"], keys[1]["sealed_secret"] = keys[1]["sealed_secret"], keys[0]["sealed_secret"]
    with stored.store.write() as conn:
        conn.execute(table.update().values(document=json.dumps(sealed)))
    with pytest.raises(RootKeyError):
        stored.load()


def test_a_bad_change_stores_nothing(stored):
    stored.replace(default_document())
    before = _raw(stored)

    def duplicate_user(data):
        data["accounts"][0]["users"].append({"name": "ADMIN"})
        return data
    with pytest.raises(IdentitiesFileError):
        stored.change(duplicate_user)
    assert stored.version() == 1 and _raw(stored) == before
    empty = Engine("memory")
    try:
        with pytest.raises(LookupError):          # a change needs a document to change
            StoredIdentities.of(empty).change(lambda d: d)
    finally:
        empty.close()


def test_identities_on_the_store_see_a_change_at_the_next_check_not_before(stored, monkeypatch):
    stored.replace(default_document())
    ids = Identities.from_store(stored)
    new_key = {"id": new_access_key_id(), "secret": new_secret_access_key(), "status": "Active"}

    def add_key(data):
        data["accounts"][0]["users"][0]["access_keys"].append(new_key)
        return data
    stored.change(add_key)
    # within the interval the version is not even read: a lookup costs no store round trip
    ticks = iter([ids._checked + 0.5, ids._checked + 1.0])
    monkeypatch.setattr("keyplane.engine.identity.time.monotonic", lambda: next(ticks))
    with pytest.raises(Exception, match="security token"):
        ids.lookup_access_key(new_key["id"])
    principal, secret, _ = ids.lookup_access_key(new_key["id"])
    assert secret == new_key["secret"] and principal.name == "admin"
