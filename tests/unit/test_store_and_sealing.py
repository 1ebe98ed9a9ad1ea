"""The store: named migrations upgrade old databases, PostgreSQL works like SQLite, key material
and plaintext never reach the disk, and a store refuses the wrong root key."""
import os
import base64

import pytest
import sqlalchemy as sa

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.kms.tables import keys as keys_table
from keyplane.engine.kms.tables import materials
from keyplane.engine.sealing import RootKeyError, material_aad
from keyplane.engine import services
from keyplane.engine.store import base as store_base
from keyplane.engine.store import add_column


def test_a_database_made_by_an_older_version_upgrades_when_opened(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    eng = sa.create_engine(f"sqlite:///{path}")
    # an "older keyplane": kms_keys without the attrs column, and only the migrations it knew
    with eng.begin() as conn:
        cols = [c._copy() for c in keys_table.columns if c.name != "attrs"]
        old = sa.Table("kms_keys", sa.MetaData(), *cols)
        old.create(conn)
        store_base.migrations_table.create(conn)
        conn.execute(store_base.migrations_table.insert().values(name="kms.0001_keys_materials_aliases", applied_at=0))
        conn.execute(old.insert().values(arn="arn:aws:kms:us-east-1:111122223333:key/x", key_id="x",
                                         account="111122223333", region="us-east-1", description="legacy",
                                         key_usage="ENCRYPT_DECRYPT", key_spec="SYMMETRIC_DEFAULT",
                                         origin="AWS_KMS", key_manager="CUSTOMER", state="Enabled",
                                         creation_date=0, multi_region=False, rotation_enabled=False))
    eng.dispose()
    migrations = {**services.MIGRATIONS, "kms.0002_attrs": add_column(keys_table, "attrs")}
    store = store_base.Store(f"sqlite:///{path}", migrations)
    applied = store.applied_migrations()
    assert "kms.0002_attrs" in applied and "core.0001_meta_tags_audit" in applied
    with store.read() as conn:
        row = conn.execute(sa.select(keys_table.c.description, keys_table.c.attrs)).one()
    assert row.description == "legacy" and row.attrs == "{}"
    store.dispose()
    # opening again applies nothing new
    assert store_base.Store(f"sqlite:///{path}", migrations).migrate() == []


def test_key_material_and_plaintext_never_reach_the_disk(tmp_path):
    state = tmp_path / "state"
    engine = Engine(str(state))
    kms = keyplane.connect(engine=engine).client("kms")
    marker = b"PLAINTEXT-MARKER-" + os.urandom(8).hex().encode()
    key = kms.create_key(Description="disk")["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=marker, EncryptionContext={"c": "d"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"c": "d"})["Plaintext"] == marker
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["Plaintext"]
    engine.audit.flush()
    store = engine.store_for("us-east-1")
    root = engine.root_key_for(store)
    with store.read() as conn:
        sealed = conn.execute(sa.select(materials.c.key_arn, materials.c.material_id, materials.c.sealed)).all()
    secrets = [root.unseal(s, material_aad(arn, mid)) for arn, mid, s in sealed]
    assert secrets and all(len(s) == 32 for s in secrets)
    root_key_bytes = base64.b64decode((state / "root.key").read_bytes().strip())
    needles = [marker, data_key, root_key_bytes, base64.b64encode(marker), base64.b64encode(data_key)]
    needles += secrets + [base64.b64encode(s) for s in secrets] + [s.hex().encode() for s in secrets]
    files = [p for p in state.iterdir() if p.name.startswith("state.db")]
    assert any(p.name == "state.db-wal" for p in files) or files
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path.name} contains secret bytes"
    engine.close()


def test_a_store_refuses_a_root_key_that_is_not_its_own(tmp_path):
    state = tmp_path / "state"
    Engine(str(state)).close()
    os.replace(state / "root.key", tmp_path / "stolen.key")
    with pytest.raises(RootKeyError):
        Engine(str(state))     # a fresh root key file would be created: it must not match


def test_root_key_file_is_owner_only_and_a_world_readable_one_is_refused(tmp_path):
    state = tmp_path / "state"
    Engine(str(state)).close()
    assert (state / "root.key").stat().st_mode & 0o077 == 0
    os.chmod(state / "root.key", 0o644)
    with pytest.raises(RootKeyError):
        Engine(str(state))


def test_root_key_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KEYPLANE_ROOT_KEY", base64.b64encode(os.urandom(32)).decode())
    engine = Engine(str(tmp_path / "s"))
    assert not (tmp_path / "s" / "root.key").exists()
    kms = keyplane.connect(engine=engine).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    engine.close()
    engine = Engine(str(tmp_path / "s"))
    assert keyplane.connect(engine=engine).client("kms").decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    engine.close()


def test_kms_works_the_same_on_postgresql(postgres_url, clock):
    engine = Engine(postgres_url, clock=clock, root_key=None)
    kms = keyplane.connect(engine=engine).client("kms")
    key = kms.create_key(Description="pg")["KeyMetadata"]
    kms.create_alias(AliasName="alias/pg", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/pg", Plaintext=b"on postgres", EncryptionContext={"db": "pg"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"db": "pg"})["Plaintext"] == b"on postgres"
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    clock.advance(days=8)
    assert engine.run_due()["kms.delete-keys"] == 1
    ok, n, _ = engine.audit.verify(engine.store_for("us-east-1"))
    assert ok and n >= 5
    engine.close()
    # a second engine (another server) on the same database sees the same state
    other = Engine(postgres_url, clock=clock)
    assert keyplane.connect(engine=other).client("kms").list_keys()["Keys"] == []
    other.close()
