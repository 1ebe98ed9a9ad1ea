"""STS tables: role sessions (temporary credentials) issued by AssumeRole."""
import sqlalchemy as sa

from ..store import create_tables, metadata

sessions = sa.Table(
    "sts_sessions", metadata,
    sa.Column("access_key_id", sa.String(32), primary_key=True),
    sa.Column("sealed", sa.LargeBinary, nullable=False),       # secret key + session token, sealed
    sa.Column("expiration", sa.Float, nullable=False, index=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("role_name", sa.String(64), nullable=False),
    sa.Column("role_arn", sa.String(2048), nullable=False),
    sa.Column("session_name", sa.String(64), nullable=False),
    sa.Column("source_arn", sa.String(2048)),
    sa.Column("session_policy", sa.Text),
    sa.Column("created", sa.Float, nullable=False),
)

# name -> migration, applied once per database in name order (store/base.py)
MIGRATIONS = {
    "sts.0001_sessions": create_tables(sessions),
}
