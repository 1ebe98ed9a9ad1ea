"""Tables every service shares: store metadata, tags, the audit trail, its writers and its signed digests."""
import sqlalchemy as sa

from .base import create_tables, metadata, migration

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

audit = sa.Table(
    "audit_events", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_time", sa.Float, nullable=False, index=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("account", sa.String(12)),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("event_name", sa.String(64), nullable=False, index=True),
    sa.Column("principal_arn", sa.String(2048)),
    sa.Column("resource", sa.String(2048), index=True),
    sa.Column("error_code", sa.String(128)),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

migration("core.0001_meta_tags_audit")(create_tables(meta, tags, audit))

# signed digests of the audit trail (see engine/audit_digests.py)
audit_digests = sa.Table(
    "audit_digests", metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("signature", sa.String(1024), nullable=False),
)

migration("core.0002_audit_digests")(create_tables(audit_digests))

# the identities document every server on this store shares (see engine/identity_store.py): one
# row, its `version` bumped by every change so a server notices one with a one-column read
identities = sa.Table(
    "identities", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("document", sa.Text, nullable=False),
)

migration("identity.0001_document")(create_tables(identities))

# processes that buffer audit records, how far each got and whether it closed (engine/audit_writers.py)
audit_writers = sa.Table(
    "audit_writers", metadata,
    sa.Column("writer", sa.String(36), primary_key=True),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("written", sa.Integer, nullable=False),      # last record number written
    sa.Column("max_pending", sa.Integer, nullable=False),  # the most an unclean stop can lose
    sa.Column("closed", sa.Boolean, nullable=False),
)

migration("core.0003_audit_writers")(create_tables(audit_writers))
