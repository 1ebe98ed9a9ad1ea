"""KMS tables: keys, their key material (sealed), aliases."""
import sqlalchemy as sa

from ..store import add_column, create_tables, metadata

keys = sa.Table(
    "kms_keys", metadata,
    sa.Column("arn", sa.String(256), primary_key=True),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("key_usage", sa.String(32), nullable=False),
    sa.Column("key_spec", sa.String(32), nullable=False),
    sa.Column("origin", sa.String(32), nullable=False),
    sa.Column("key_manager", sa.String(16), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("creation_date", sa.Float, nullable=False),
    sa.Column("deletion_date", sa.Float),
    sa.Column("pending_window_days", sa.Integer),
    sa.Column("policy", sa.Text),
    sa.Column("custom_key_store_id", sa.String(64)),
    sa.Column("multi_region", sa.Boolean, nullable=False, default=False),
    sa.Column("primary_region", sa.String(32)),       # multi-Region: where the primary is
    sa.Column("rotation_enabled", sa.Boolean, nullable=False, default=False),
    sa.Column("rotation_period_days", sa.Integer),
    sa.Column("next_rotation_date", sa.Float),
    sa.Column("on_demand_rotation_start", sa.Float),
    sa.Column("expiration_model", sa.String(32)),
    sa.Column("valid_to", sa.Float),
    sa.Column("current_material_id", sa.String(64)),
    sa.Column("attrs", sa.Text, nullable=False, default="{}"),   # JSON: per-feature extras
    sa.Index("ix_kms_keys_account_region", "account", "region", "key_id"),
)

materials = sa.Table(
    "kms_key_materials", metadata,
    sa.Column("key_arn", sa.String(256), primary_key=True),
    sa.Column("material_id", sa.String(64), primary_key=True),
    sa.Column("sealed", sa.LargeBinary),                 # None while imported material is absent
    sa.Column("public_key", sa.LargeBinary),             # DER SubjectPublicKeyInfo (asymmetric)
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("state", sa.String(48), nullable=False),   # CURRENT | NON_CURRENT | PENDING_ROTATION ...
    sa.Column("rotation_type", sa.String(16)),
    sa.Column("rotation_date", sa.Float),
    sa.Column("import_state", sa.String(16)),
    sa.Column("expiration_model", sa.String(32)),
    sa.Column("valid_to", sa.Float),
    sa.Column("description", sa.String(256)),
    sa.Column("attrs", sa.Text, nullable=False, default="{}"),
)

aliases = sa.Table(
    "kms_aliases", metadata,
    sa.Column("account", sa.String(12), primary_key=True),
    sa.Column("region", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("target_key_id", sa.String(64), nullable=False),
    sa.Column("creation_date", sa.Float, nullable=False),
    sa.Column("last_updated_date", sa.Float, nullable=False),
    sa.Index("ix_kms_aliases_target", "account", "region", "target_key_id"),
)


# Grants (engine/kms/grants.py). Looked up by key on the authorisation path, by retiring principal
# for ListRetirableGrants.
grants = sa.Table(
    "kms_grants", metadata,
    sa.Column("grant_id", sa.String(64), primary_key=True),
    sa.Column("key_arn", sa.String(256), nullable=False),
    sa.Column("name", sa.String(256)),
    sa.Column("grantee_principal", sa.String(256), nullable=False),
    sa.Column("retiring_principal", sa.String(256)),
    sa.Column("issuing_account", sa.String(12), nullable=False),
    sa.Column("operations", sa.Text, nullable=False),        # JSON list of grant operations
    sa.Column("constraints", sa.Text),                       # JSON GrantConstraints, or NULL
    sa.Column("creation_date", sa.Float, nullable=False),
    # whether grantee_principal / retiring_principal came as GranteeServicePrincipal /
    # RetiringServicePrincipal (an AWS service principal, listed under that name)
    sa.Column("grantee_service", sa.Boolean, nullable=False, default=False),
    sa.Column("retiring_service", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_kms_grants_key", "key_arn"),
    sa.Index("ix_kms_grants_retiring", "retiring_principal"),
)


# GetParametersForImport: each wrapping key pair, its private half sealed, valid 24 hours
import_parameters = sa.Table(
    "kms_import_parameters", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),   # sha256 of the import token
    sa.Column("key_arn", sa.String(256), nullable=False),
    sa.Column("wrapping_algorithm", sa.String(32), nullable=False),
    sa.Column("wrapping_key_spec", sa.String(16), nullable=False),
    sa.Column("sealed_private_key", sa.LargeBinary, nullable=False),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("valid_to", sa.Float, nullable=False),
    sa.Index("ix_kms_import_parameters_key", "key_arn"),
)


# Custom key stores (AWS_CLOUDHSM semantics on a PKCS#11 token); the PIN sealed
custom_key_stores = sa.Table(
    "kms_custom_key_stores", metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(12), nullable=False),
    sa.Column("region", sa.String(32), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("store_type", sa.String(32), nullable=False),
    sa.Column("cluster_id", sa.String(64)),            # the token's label
    sa.Column("trust_anchor", sa.Text),                # the PKCS#11 URI naming the module
    sa.Column("sealed_password", sa.LargeBinary),
    sa.Column("connection_state", sa.String(16), nullable=False),
    sa.Column("connection_error_code", sa.String(64)),
    sa.Column("creation_date", sa.Float, nullable=False),
    sa.Column("attrs", sa.Text, nullable=False, default="{}"),
    sa.Index("ix_kms_custom_key_stores_account", "account", "region", "name"),
)

# name -> migration, applied once per database in name order (store/base.py)
MIGRATIONS = {
    "kms.0001_keys_materials_aliases": create_tables(keys, materials, aliases),
    "kms.0002_grants": create_tables(grants),
    "kms.0003_grant_grantee_service": add_column(grants, "grantee_service"),
    "kms.0004_grant_retiring_service": add_column(grants, "retiring_service"),
    "kms.0100_import_parameters": create_tables(import_parameters),
    "kms.0101_custom_key_stores": create_tables(custom_key_stores),
}
