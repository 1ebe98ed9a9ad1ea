"""Parameter Store tables: the current state of each parameter and every kept version.

`ssm_parameters.name` is the canonical name (always with a leading `/`, since `/p` and `p` name the
same parameter) so a path query is a range scan on the primary key, and `parent_path` lets a
one-level query read exactly the children it returns: GetParametersByPath costs the page, not the
store (the table is clustered on that key in SQLite). `next_policy_at` is the earliest moment a parameter policy needs the scheduler.
"""
import sqlalchemy as sa

from ..store import create_tables, metadata


def _path_text() -> sa.types.TypeEngine:
    # byte order on PostgreSQL whatever the database's collation: the path range ["/p/", "/p0")
    # and name-ordered paging rely on "/" sorting where its code point says
    return sa.String(2048).with_variant(sa.String(2048, collation="C"), "postgresql")


parameters = sa.Table(
    "ssm_parameters", metadata,
    sa.Column("account", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", _path_text(), primary_key=True),          # canonical: leading "/"
    sa.Column("display_name", sa.String(2048), nullable=False),  # as created
    sa.Column("parent_path", _path_text(), nullable=False),
    sa.Column("arn", sa.String(2200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("value", sa.Text, nullable=False),                 # SecureString: KMS ciphertext (base64)
    sa.Column("key_id", sa.String(256)),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("allowed_pattern", sa.Text, nullable=False, default=""),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("data_type", sa.String(128), nullable=False),
    sa.Column("policies", sa.Text, nullable=False, default="[]"),  # JSON list of policy texts
    sa.Column("policy_state", sa.Text, nullable=False, default="{}"),
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("last_modified_user", sa.String(2048), nullable=False),
    sa.Column("next_policy_at", sa.Float),
    sa.Index("ix_ssm_parameters_parent", "account", "region", "parent_path", "name"),
    sa.Index("ix_ssm_parameters_policy", "next_policy_at"),
    sa.Index("ix_ssm_parameters_tier", "account", "region", "tier"),
    # clustered on the primary key in SQLite: a path range reads neighbouring rows, not one row
    # lookup per name
    sqlite_with_rowid=False,
)

versions = sa.Table(
    "ssm_parameter_versions", metadata,
    sa.Column("account", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", _path_text(), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("key_id", sa.String(256)),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("allowed_pattern", sa.Text, nullable=False, default=""),
    sa.Column("tier", sa.String(16), nullable=False),
    sa.Column("data_type", sa.String(128), nullable=False),
    sa.Column("policies", sa.Text, nullable=False, default="[]"),
    sa.Column("labels", sa.Text, nullable=False, default="[]"),  # JSON list
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("last_modified_user", sa.String(2048), nullable=False),
    sqlite_with_rowid=False,
)


service_settings = sa.Table(
    "ssm_service_settings", metadata,
    sa.Column("account", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("setting_id", sa.String(200), primary_key=True),
    sa.Column("value", sa.String(4096), nullable=False),
    sa.Column("last_modified", sa.Float, nullable=False),
    sa.Column("last_modified_user", sa.String(2048), nullable=False),
)

# name -> migration, applied once per database in name order (store/base.py)
MIGRATIONS = {
    "ssm.0001_parameters_versions": create_tables(parameters, versions),
    "ssm.0002_service_settings": create_tables(service_settings),
}
