"""What one call costs the store: an audit row holds the CloudTrail record and its chain hash, and
only the columns `keyplane audit` filters on and delivery groups by; a store made before that
upgrades in place, its records and chain intact."""
import hashlib
import json

import sqlalchemy as sa

from keyplane.engine.audit import GENESIS
from keyplane.engine.core import Engine
from keyplane.engine.store.tables import audit

_LEGACY_DDL = """CREATE TABLE audit_events (
    seq INTEGER NOT NULL PRIMARY KEY, event_time FLOAT NOT NULL, event_id VARCHAR(36) NOT NULL,
    request_id VARCHAR(64), region VARCHAR(32) NOT NULL, account VARCHAR(12), source VARCHAR(64) NOT NULL,
    event_name VARCHAR(64) NOT NULL, principal_arn VARCHAR(2048), resource VARCHAR(2048),
    error_code VARCHAR(128), record TEXT NOT NULL, prev_hash VARCHAR(64) NOT NULL, hash VARCHAR(64) NOT NULL)"""


def test_a_row_keeps_the_record_and_its_hash_and_nothing_the_record_repeats(engine, kms):
    key = kms.create_key()["KeyMetadata"]
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    store = engine.store_for("us-east-1")
    engine.audit.flush(store)
    assert [c.name for c in audit.columns] == ["seq", "event_time", "region", "account", "event_name",
                                               "resource", "error_code", "record", "hash"]
    with store.read() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_events")}
        row = conn.execute(audit.select().where(audit.c.event_name == "Encrypt")).one()
    assert columns == {c.name for c in audit.columns}
    record = json.loads(row.record)
    assert (row.region, row.account, row.resource, row.error_code) == (
        "us-east-1", "111122223333", key["Arn"], None)
    # what the dropped columns held is in the record, where CloudTrail users look for it
    assert record["eventID"] and record["requestID"] and record["eventSource"] == "kms.amazonaws.com"
    assert record["userIdentity"]["arn"] == "arn:aws:iam::111122223333:root"
    assert row.record == json.dumps(record, separators=(",", ":"), ensure_ascii=False)   # compact JSON


def test_a_store_with_the_old_wide_rows_upgrades_with_its_records_and_chain(tmp_path, clock):
    """A store written before the compact rows (event_id, request_id, source, principal_arn and
    prev_hash columns) is rebuilt by its migration: every record kept, the chain still verifies,
    and new records chain on from the old ones."""
    state = str(tmp_path / "st")
    Engine(state, clock=clock).close()
    db = sa.create_engine(f"sqlite:///{tmp_path / 'st' / 'state.db'}")
    prev = GENESIS
    with db.begin() as conn:
        conn.exec_driver_sql("DROP TABLE audit_events")
        conn.exec_driver_sql(_LEGACY_DDL)
        conn.exec_driver_sql("CREATE INDEX ix_audit_events_resource ON audit_events (resource)")
        for seq in range(1, 4):
            body = json.dumps({"eventName": "CreateKey", "eventID": f"id-{seq}", "awsRegion": "us-east-1"})
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            conn.exec_driver_sql(
                "INSERT INTO audit_events VALUES (?, ?, ?, NULL, 'us-east-1', '111122223333', "
                "'kms.amazonaws.com', 'CreateKey', NULL, NULL, NULL, ?, ?, ?)",
                (seq, 1.0 * seq, f"id-{seq}", body, prev, digest))
            prev = digest
        conn.exec_driver_sql("DELETE FROM keyplane_migrations WHERE name = 'core.0004_audit_compact_rows'")
    db.dispose()
    engine = Engine(state, clock=clock)
    try:
        import keyplane
        keyplane.connect(engine=engine).client("kms").create_key()
        store = engine.store_for("us-east-1")
        assert engine.audit.verify(store) == (True, 4, None)
        with store.read() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("audit_events")}
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("audit_events")}
        assert columns == {c.name for c in audit.columns}
        assert indexes == {"ix_audit_events_event_time", "ix_audit_events_event_name", "ix_audit_events_resource"}
        assert [r["eventID"] for r in engine.audit.query(store, event_name="CreateKey")][1:] == ["id-3", "id-2", "id-1"]
    finally:
        engine.close()
