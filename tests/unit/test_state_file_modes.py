"""State files are private to the server's user (issue 17, finding 11): the SQLite database and the
-wal and -shm files SQLite makes beside it are 0600, whatever the umask; older 0644 files are tightened."""
from __future__ import annotations

import os
import stat

import keyplane
from keyplane.engine.core import Engine


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_store_files_are_created_0600_including_wal_and_shm(tmp_path, clock):
    old = os.umask(0o022)
    try:
        eng = Engine(str(tmp_path / "state"), clock=clock)
        kms = keyplane.connect(engine=eng).client("kms")
        kms.create_key(Description="something to write")
        db = tmp_path / "state" / "state.db"
        present = [p for p in (db, db.with_name("state.db-wal"), db.with_name("state.db-shm")) if p.exists()]
        assert db.with_name("state.db-wal") in present  # WAL mode: the files the finding was about
        assert {p.name: _mode(p) for p in present} == {p.name: 0o600 for p in present}
        assert _mode(tmp_path / "state") == 0o700
        eng.close()
    finally:
        os.umask(old)


def test_a_store_file_left_0644_is_tightened_on_open(tmp_path, clock):
    Engine(str(tmp_path / "state"), clock=clock).close()
    db = tmp_path / "state" / "state.db"
    os.chmod(db, 0o644)
    Engine(str(tmp_path / "state"), clock=clock).close()
    assert _mode(db) == 0o600


def test_delivered_audit_files_and_every_folder_above_them_are_private(tmp_path, clock):
    """The audit folder (here outside the 0700 state folder, as --audit-dir allows) and each
    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD folder under it are 0700, the files 0600,
    whatever the umask: their names carry the account and Region, their contents every call."""
    old = os.umask(0o022)
    try:
        eng = Engine(str(tmp_path / "state"), clock=clock)
        eng.audit_dir = str(tmp_path / "trail" / "kms")
        try:
            keyplane.connect(engine=eng).client("kms").create_key()
            clock.advance(minutes=5)
            assert eng.run_due()["audit.deliver"] == 1
        finally:
            eng.close()
        made = [p for p in (tmp_path / "trail").rglob("*")]
        assert any(p.name.endswith(".json.gz") for p in made)
        assert {str(p): _mode(p) for p in made} == \
            {str(p): 0o700 if p.is_dir() else 0o600 for p in made}
        assert _mode(tmp_path / "trail") == 0o700
    finally:
        os.umask(old)


def test_every_folder_made_on_the_way_to_a_private_file_is_0700(tmp_path):
    """make_private_dirs (state folders, identities, audit log files, AWS profiles): os.makedirs'
    mode reaches the last folder only; here each folder made is 0700 and one that existed keeps its
    mode."""
    import os

    from keyplane.engine.private_dirs import make_private_dirs
    from keyplane.engine.identity import write_private
    os.chmod(tmp_path, 0o755)
    write_private(tmp_path / "a" / "b" / "identities.yaml", "x: 1\n")
    make_private_dirs(tmp_path / "c" / "d")
    for made in ("a", "a/b", "c", "c/d"):
        assert (tmp_path / made).stat().st_mode & 0o777 == 0o700, made
    assert tmp_path.stat().st_mode & 0o777 == 0o755
