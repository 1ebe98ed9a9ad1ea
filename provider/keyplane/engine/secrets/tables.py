"""Secrets Manager tables: secrets (metadata, policy, rotation, replication) and their versions
(each value envelope-encrypted: a KMS-wrapped data key beside the AES-GCM ciphertext)."""
import sqlalchemy as sa

from ..store import add_column, create_tables, metadata

secrets = sa.Table(
    "sm_secrets", metadata,
    sa.Column("arn", sa.String(2048), primary_key=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("kms_key_id", sa.String(2048)),            # as the caller gave it; None = aws/secretsmanager
    sa.Column("secret_type", sa.String(256)),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("last_changed", sa.Float),
    sa.Column("last_accessed", sa.Float),
    sa.Column("deleted_date", sa.Float),                 # when DeleteSecret was called
    sa.Column("deletion_date", sa.Float),                # when the recovery window ends
    sa.Column("policy", sa.Text),
    sa.Column("rotation_enabled", sa.Boolean),           # None: never configured
    sa.Column("rotation_lambda", sa.String(2048)),
    sa.Column("rotation_rules", sa.Text),                # JSON RotationRules
    sa.Column("last_rotated", sa.Float),
    sa.Column("next_rotation", sa.Float),
    sa.Column("primary_region", sa.String(32)),          # set on replicas only
    sa.Column("replicas", sa.Text, nullable=False, default="[]"),   # JSON ReplicationStatus (primary)
    sa.Column("attrs", sa.Text, nullable=False, default="{}"),      # JSON: rotation failure, attachment
    sa.Index("ix_sm_secrets_name", "account", "region", "name"),
)

versions = sa.Table(
    "sm_secret_versions", metadata,
    sa.Column("secret_arn", sa.String(2048), primary_key=True),
    sa.Column("version_id", sa.String(64), primary_key=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("stages", sa.Text, nullable=False, default="[]"),     # JSON list of staging labels
    sa.Column("kind", sa.String(8), nullable=False),                 # "string" | "binary"
    sa.Column("data_key", sa.LargeBinary, nullable=False),           # KMS ciphertext of the data key
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),         # nonce || AES-GCM(value)
    sa.Column("kms_key_arn", sa.String(2048), nullable=False),
    sa.Column("last_accessed", sa.Float),
    # JSON [[key ARN as listed, base64 KMS ciphertext of the same data key], ...]: the keys a
    # version was encrypted under before the secret's key changed (it stays readable with them)
    sa.Column("earlier_keys", sa.Text),
)

# name -> migration, applied once per database in name order (store/base.py)
MIGRATIONS = {
    "secretsmanager.0001_secrets_versions": create_tables(secrets, versions),
    "secretsmanager.0002_version_earlier_keys": add_column(versions, "earlier_keys"),
}
