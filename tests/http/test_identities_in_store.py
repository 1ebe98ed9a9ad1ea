"""Identities in the store, shared by every server on one PostgreSQL database: a user and key added
with `keyplane identities` are accepted by two running servers within a second, and a deactivated key
is refused by both, with no file copied between them (the identities file is removed once imported).

AWS: an access key made inactive "can't be used for API calls" (IAM user guide, managing access
keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html); a request
signed with it is refused with UnrecognizedClientException, "The security token included in the
request is invalid" (KMS common errors: https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html).
"""
from __future__ import annotations

import re
import time

import boto3
import botocore.config
from botocore.exceptions import ClientError

from keyplane_server import keyplane, start_server

PROPAGATION = 1.0       # the documented bound: every server re-checks the store once a second
SLACK = 2.0             # a loaded 2-core test machine: request and process scheduling on top


def _kms(server, akid, secret):
    return boto3.session.Session(aws_access_key_id=akid, aws_secret_access_key=secret).client(
        "kms", region_name="us-east-1", endpoint_url=server.endpoint,
        config=botocore.config.Config(retries={"total_max_attempts": 1}))


def _accepted(server, akid, secret) -> bool:
    try:
        _kms(server, akid, secret).list_keys(Limit=1)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "UnrecognizedClientException", e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        return False


def _until(servers, akid, secret, want: bool) -> float:
    """Seconds until every server answers `want` for the key; fails past PROPAGATION + SLACK."""
    start = time.monotonic()
    deadline = start + PROPAGATION + SLACK
    pending = list(servers)
    while pending and time.monotonic() < deadline:
        pending = [s for s in pending if _accepted(s, akid, secret) != want]
    assert not pending, f"{len(pending)} server(s) still answer {not want} after {PROPAGATION + SLACK}s"
    return time.monotonic() - start


def _identities(tmp, state, *args):
    out = keyplane("identities", "--state", state, *args, cwd=tmp)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_two_servers_on_one_postgresql_share_identities_from_the_store(postgres_url, tmp_path):
    out = keyplane("init", "--state", postgres_url, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    admin = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out.stdout).groups()
    file = tmp_path / ".keyplane" / "identities.yaml"
    _identities(tmp_path, postgres_url, "import", str(file))
    file.unlink()                                   # the store is now the only source
    servers = [start_server(tmp_path, init=False, store=postgres_url) for _ in range(2)]
    try:
        assert all(_accepted(s, *admin) for s in servers)
        assert "identities: the store" in servers[0].output()

        _identities(tmp_path, postgres_url, "add-user", "carol", "--admin")
        added = _identities(tmp_path, postgres_url, "add-key", "carol")
        carol = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", added).groups()
        took = _until(servers, *carol, want=True)
        # the secret is sealed in the database, never stored as given
        exported = _identities(tmp_path, postgres_url, "export")
        assert carol[1] in exported
        import sqlalchemy as sa
        from keyplane.engine.store.base import normalise_url
        db = sa.create_engine(normalise_url(postgres_url))
        with db.connect() as conn:
            raw = conn.execute(sa.text("SELECT document FROM identities")).scalar()
        db.dispose()
        assert carol[1] not in raw and admin[1] not in raw

        _identities(tmp_path, postgres_url, "deactivate-key", carol[0])
        took = max(took, _until(servers, *carol, want=False))
        assert all(_accepted(s, *admin) for s in servers)   # one key's change leaves the others alone
        print(f"identity change honoured by both servers in {took:.2f}s")
    finally:
        for s in servers:
            s.stop()


def test_a_bad_identities_change_is_refused_and_changes_nothing(tmp_path):
    out = keyplane("init", "--state", str(tmp_path / "st"))
    assert out.returncode == 0, out.stderr
    state = str(tmp_path / "st")
    _identities(tmp_path, state, "import", str(tmp_path / "st" / "identities.yaml"))
    before = _identities(tmp_path, state, "export")
    for args in (["add-user", "ADMIN"], ["add-key", "nobody"], ["deactivate-key", "AKIAAAAAAAAAAAAAAAAA"],
                 ["add-user", "bad name!"]):
        out = keyplane("identities", "--state", state, *args, cwd=tmp_path)
        assert out.returncode == 2 and out.stderr.startswith("keyplane identities: "), (args, out)
        assert "Traceback" not in out.stderr
    assert _identities(tmp_path, state, "export") == before
