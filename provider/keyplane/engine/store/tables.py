"""Tables every service shares: store metadata, tags, the audit trail, its writers, its signed
digests and its delivery to log files, the identities document, and the event outbox."""
import sqlalchemy as sa

from .base import add_column, create_tables, drop_columns, metadata

meta = sa.Table(
    "keyplane_meta", metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

tags = sa.Table(
    "tags", metadata,
    sa.Column("resource_arn", sa.String(2048), primary_key=True),
    sa.Column("tag_key", sa.String(128), primary_key=True),
    sa.Column("tag_value", sa.String(256), nullable=False),
)

# one row per call: the CloudTrail record (`record`, compact JSON) and its hash in the chain
# (SHA-256 of the previous row's hash and this record). Besides them only what `keyplane audit`
# filters on and what delivery groups files by; the rest lives in the record alone.
audit = sa.Table(
    "audit_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_time", sa.Float, nullable=False, index=True),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("account", sa.String(12)),
    sa.Column("event_name", sa.String(64), nullable=False, index=True),
    sa.Column("resource", sa.String(2048), index=True),
    sa.Column("error_code", sa.String(128)),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


# signed digests of the audit trail (see engine/audit_digests.py)
audit_digests = sa.Table(
    "audit_digests", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("signature", sa.String(1024), nullable=False),
)


# the event outbox and its pending deliveries, per sink (see engine/events.py)
outbox = sa.Table(
    "event_outbox", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("detail_type", sa.String(128), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
)

deliveries = sa.Table(
    "event_deliveries", metadata,
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("sink", sa.String(2048), primary_key=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("dead_at", sa.Float),      # set: given up on (the dead-letter list)
    sa.Index("ix_event_deliveries_due", "next_attempt_at"),
)

# the identities document every server on this store shares (see engine/identity_store.py): one
# row, its `version` bumped by every change so a server notices one with a one-column read
identities = sa.Table(
    "identities", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

# processes that buffer audit records, how far each got and whether it closed (engine/audit_writers.py)
audit_writers = sa.Table(
    "audit_writers", metadata,
    sa.Column("writer", sa.String(36), primary_key=True),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("written", sa.Integer, nullable=False),      # last record number written
    sa.Column("max_pending", sa.Integer, nullable=False),  # the most an unclean stop can lose
    sa.Column("closed", sa.Boolean, nullable=False),
)

# the last successful use of each resource by an operation that counts uses (registry
# `tracks_use`): written with the audit records that show it (engine/audit.py), so it holds the
# newest use whichever server answered the call. `keyplane_meta` row RESOURCE_USES_SINCE says from
# when: 0 for a store that had this table from its first call, else the time of the last call
# audited before it was added (earlier uses are only in the audit trail).
resource_uses = sa.Table(
    "resource_uses", metadata,
    sa.Column("resource", sa.String(2048), primary_key=True),
    sa.Column("event_name", sa.String(64), nullable=False),
    sa.Column("event_time", sa.Float, nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("request_id", sa.String(64)),
)
RESOURCE_USES_SINCE = "resource_uses_since"


def _create_resource_uses(conn) -> None:
    resource_uses.create(conn, checkfirst=True)
    if conn.execute(meta.select().where(meta.c.name == RESOURCE_USES_SINCE)).first() is None:
        latest = conn.execute(sa.select(sa.func.max(audit.c.event_time))).scalar()
        conn.execute(meta.insert().values(name=RESOURCE_USES_SINCE, value=repr(float(latest or 0.0))))


# how far the trail has been delivered to log files, signed into digests and pruned from the
# store (engine/audit_delivery.py, audit_pruning.py): one row. `*_hash` is the chain hash of the
# record at that seq, where the chain goes on after it.
audit_delivery = sa.Table(
    "audit_delivery", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("delivered_seq", sa.Integer, nullable=False),
    sa.Column("delivered_hash", sa.String(64), nullable=False),
    sa.Column("delivered_until", sa.Float, nullable=False),   # the period end delivery last ran for
    sa.Column("digested_seq", sa.Integer, nullable=False),     # delivered and listed in a digest
    sa.Column("pruned_seq", sa.Integer, nullable=False),
    sa.Column("pruned_hash", sa.String(64), nullable=False),
)

# log files delivered but not yet listed in a signed digest (the next digest lists and removes them)
audit_log_files = sa.Table(
    "audit_log_files", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("object", sa.String(1024), nullable=False),
    sa.Column("hash_value", sa.String(64), nullable=False),
    sa.Column("records", sa.Text, nullable=False),          # JSON [[first seq, last seq], ...]
    sa.Column("record_count", sa.Integer, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),          # compressed bytes
    sa.Column("oldest_event_time", sa.Float, nullable=False),
    sa.Column("newest_event_time", sa.Float, nullable=False),
)

# name -> migration, applied once per database in name order (store/base.py)
MIGRATIONS = {
    "core.0001_meta_tags_audit": create_tables(meta, tags, audit),
    "core.0002_audit_digests": create_tables(audit_digests),
    "core.0003_audit_writers": create_tables(audit_writers),
    # columns that repeated what the record holds (and the previous row's hash): ~200 bytes a call
    "core.0004_audit_compact_rows": drop_columns(audit, "event_id", "request_id", "source", "principal_arn",
                                                 "prev_hash"),
    "core.0005_resource_uses": _create_resource_uses,
    "core.0006_audit_delivery": create_tables(audit_delivery, audit_log_files),
    "events.0001_outbox_deliveries": create_tables(outbox, deliveries),
    "events.0002_dead_letters": add_column(deliveries, "dead_at"),
    "identity.0001_document": create_tables(identities),
}
