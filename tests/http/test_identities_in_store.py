"""Identities in the store, shared by every server on one PostgreSQL database: a user and key added
with `keyplane identities` are accepted by two running servers within a second, and a deactivated key
is refused by both, with no file copied between them (the identities file is removed once imported).

AWS: an access key made inactive "can't be used for API calls" (IAM user guide, managing access
keys: https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_access-keys.html); a request
signed with it is refused with UnrecognizedClientException, "The security token included in the
request is invalid" (KMS common errors: https://docs.aws.amazon.com/kms/latest/APIReference/CommonErrors.html).
"""
from __future__ import annotations

import json
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


def test_identities_changes_are_in_the_audit_trail_as_iam_records_them(tmp_path):
    """Each change made with `keyplane identities` is recorded, in the transaction that stores it,
    as CloudTrail records the IAM call that makes the same change on AWS: CreateUser, PutUserPolicy,
    CreateAccessKey (its responseElements name the key, never its secret), UpdateAccessKey with
    status Inactive; eventSource iam.amazonaws.com, awsRegion us-east-1.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/cloudtrail-integration.html
    A refused change records nothing; the trail still verifies."""
    from keyplane.engine.core import Engine
    state = str(tmp_path / "st")
    assert keyplane("init", "--state", state).returncode == 0
    _identities(tmp_path, state, "import", str(tmp_path / "st" / "identities.yaml"))
    _identities(tmp_path, state, "add-user", "carol", "--admin")
    added = _identities(tmp_path, state, "add-key", "carol")
    akid, secret = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", added).groups()
    _identities(tmp_path, state, "deactivate-key", akid)
    assert keyplane("identities", "--state", state, "add-user", "CAROL", cwd=tmp_path).returncode == 2

    engine = Engine(state)
    try:
        store = engine.default_store()
        records = list(reversed(engine.audit.query(store, limit=20)))
        iam = [r for r in records if r["eventSource"] == "iam.amazonaws.com"]
        assert [r["eventName"] for r in iam] == ["ImportIdentities", "ImportIdentities", "CreateUser",
                                                  "PutUserPolicy", "CreateAccessKey", "UpdateAccessKey"]
        create_user, put_policy, create_key, update_key = iam[2:]
        account = create_user["recipientAccountId"]
        assert create_user["requestParameters"] == {"userName": "carol"}
        assert create_user["resources"] == [{"accountId": account, "type": "AWS::IAM::User",
                                             "ARN": f"arn:aws:iam::{account}:user/carol"}]
        assert put_policy["requestParameters"]["policyName"] == "AdministratorAccess"
        assert create_key["responseElements"]["accessKey"]["accessKeyId"] == akid
        assert update_key["requestParameters"] == {"accessKeyId": akid, "status": "Inactive", "userName": "carol"}
        assert all(r["awsRegion"] == "us-east-1" and r["userIdentity"]["invokedBy"] == "keyplane identities"
                   for r in iam)
        assert secret not in json.dumps(records)
        assert engine.audit.verify(store)[0]
    finally:
        engine.close()
