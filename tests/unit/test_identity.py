"""The identities file: schema, loading and saving, access key lookup, identity policies."""
from __future__ import annotations

import copy
import os
import re
import stat
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from keyplane.engine.errors import UnrecognizedClientException
from keyplane.engine.identity import (
    ADMIN_POLICY,
    ExpiredTokenException,
    Identities,
    IdentitiesFileError,
    Principal,
    TemporaryCredentials,
)

ACCOUNT, OTHER = "111122223333", "444455556666"
READ_ONLY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Describe*", "Resource": "*"}]}
TRUST = {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "sts:AssumeRole"}]}


def document():
    return copy.deepcopy({"version": 1, "accounts": [
        {"id": ACCOUNT, "users": [
            {"name": "alice", "path": "/team/", "policies": [{"name": "ro", "document": READ_ONLY}],
             "access_keys": [{"id": "AKIAALICE00000000001", "secret": "a" * 40},
                             {"id": "AKIAALICE00000000002", "secret": "b" * 40, "status": "Inactive"}]}],
         "roles": [{"name": "deployer", "path": "/ci/", "trust_policy": TRUST,
                    "policies": [{"name": "admin", "document": ADMIN_POLICY}]}]},
        {"id": OTHER, "root_access_keys": [{"id": "AKIAOTHERROOT0000001", "secret": "c" * 40}]},
    ]})


def test_user_access_key_resolves_to_the_user_with_its_path():
    ids = Identities(document())
    principal, secret, token = ids.lookup_access_key("AKIAALICE00000000001")
    assert principal.arn == f"arn:aws:iam::{ACCOUNT}:user/team/alice"
    assert (principal.type, principal.name, principal.account) == ("IAMUser", "alice", ACCOUNT)
    assert (secret, token) == ("a" * 40, None)


def test_root_access_key_resolves_to_the_account_root():
    principal, _, _ = Identities(document()).lookup_access_key("AKIAOTHERROOT0000001")
    assert principal.is_root and principal.arn == f"arn:aws:iam::{OTHER}:root"


def test_inactive_and_unknown_keys_get_the_same_invalid_token_error():
    ids = Identities(document())
    for akid in ("AKIAALICE00000000002", "AKIANOSUCHKEY0000000"):
        with pytest.raises(UnrecognizedClientException) as e:
            ids.lookup_access_key(akid)
        assert e.value.message == "The security token included in the request is invalid."


def test_identity_policies_of_a_user_are_its_inline_documents():
    ids = Identities(document())
    alice = ids.lookup_access_key("AKIAALICE00000000001")[0]
    assert ids.identity_policies_for(alice) == [READ_ONLY]
    assert ids.identity_policies_for(Principal.root(ACCOUNT)) == []


def test_role_session_gets_its_roles_policies():
    ids = Identities(document())
    session = Principal.from_arn(f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/build-7")
    assert ids.identity_policies_for(session) == [ADMIN_POLICY]
    assert ids.role(f"arn:aws:iam::{ACCOUNT}:role/ci/deployer").trust_policy == TRUST
    assert ids.role(f"arn:aws:iam::{ACCOUNT}:role/nobody") is None


@pytest.mark.parametrize("mutate, where", [
    (lambda d: d["accounts"][0].update(id="12345"), "$.accounts[0].id"),
    (lambda d: d["accounts"][0]["users"][0]["access_keys"][0].update(id="ASIAALICE00000000001"),
     "$.accounts[0].users[0].access_keys[0].id"),
    (lambda d: d["accounts"][0]["users"][0]["access_keys"][0].update(status="Enabled"),
     "$.accounts[0].users[0].access_keys[0].status"),
    (lambda d: d["accounts"][0]["roles"][0].pop("trust_policy"), "$.accounts[0].roles[0]"),
    (lambda d: d["accounts"][0]["users"][0].update(colour="blue"), "$.accounts[0].users[0]"),
    (lambda d: d["accounts"][1].update(id=ACCOUNT), "$.accounts[1].id"),
    (lambda d: d["accounts"][1]["root_access_keys"][0].update(id="AKIAALICE00000000001"),
     "$.accounts[1].root_access_keys[0].id"),
    (lambda d: d["accounts"][0]["users"].append({"name": "ALICE"}), "$.accounts[0].users[1].name"),
    (lambda d: d["accounts"][0]["users"][0]["policies"][0]["document"]["Statement"][0].update(Principal="*"),
     "$.accounts[0].users[0].policies[0].document.Statement[0].Principal"),
    (lambda d: d["accounts"][0]["roles"][0]["trust_policy"]["Statement"][0].pop("Principal"),
     "$.accounts[0].roles[0].trust_policy.Statement[0]"),
])
def test_invalid_identities_document_is_rejected_with_its_json_path(mutate, where):
    doc = document()
    mutate(doc)
    with pytest.raises(IdentitiesFileError) as e:
        Identities(doc)
    assert f"{where}:" in str(e.value)


def test_malformed_secret_is_rejected_without_echoing_it():
    doc = document()
    doc["accounts"][0]["users"][0]["access_keys"][0]["secret"] = "s3cr3t-value-that-is-too-short"
    with pytest.raises(IdentitiesFileError) as e:
        Identities(doc)
    assert "s3cr3t" not in str(e.value) and ".secret:" in str(e.value)


def test_create_default_writes_an_admin_with_a_fresh_key_readable_by_owner_only(tmp_path):
    path = tmp_path / "state" / "identities.yaml"
    ids = Identities.create_default(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    akid, secret = ids.default_credentials()
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", akid) and len(secret) == 40
    again = Identities.load(path)
    principal, loaded_secret, _ = again.lookup_access_key(akid)
    assert loaded_secret == secret and principal.arn == "arn:aws:iam::111122223333:user/admin"
    assert again.identity_policies_for(principal) == [ADMIN_POLICY]
    # each default is its own key
    other = Identities.create_default(tmp_path / "other.yaml")
    assert other.default_credentials()[0] != akid


def test_save_and_load_round_trip(tmp_path):
    path = tmp_path / "ids.yaml"
    Identities(document()).save(path)
    assert yaml.safe_load(path.read_text()) == document()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_load_reports_unreadable_and_non_yaml_files(tmp_path):
    with pytest.raises(IdentitiesFileError, match="No such file"):
        Identities.load(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("accounts: [unclosed")
    with pytest.raises(IdentitiesFileError, match="not valid YAML"):
        Identities.load(tmp_path / "bad.yaml")


def test_edit_of_the_file_is_picked_up_and_a_broken_edit_keeps_the_last_good_one(tmp_path):
    path = tmp_path / "ids.yaml"
    ids = Identities(document(), path=path)
    ids.save()
    doc = document()
    doc["accounts"][0]["users"][0]["access_keys"][0]["status"] = "Inactive"
    path.write_text(yaml.safe_dump(doc) + "\n# edited\n")
    assert ids.refresh(force=True)
    with pytest.raises(UnrecognizedClientException):
        ids.lookup_access_key("AKIAALICE00000000001")
    path.write_text("accounts: 7\n")
    assert not ids.refresh(force=True)
    assert ids.lookup_access_key("AKIAOTHERROOT0000001")[0].is_root


def _creds(expiration, role="deployer"):
    return TemporaryCredentials(access_key_id="ASIASESSION000000001", secret_access_key="d" * 40,
                                session_token="token", expiration=expiration, account=ACCOUNT,
                                role_name=role, role_arn=f"arn:aws:iam::{ACCOUNT}:role/ci/{role}",
                                session_name="s1", source_arn=f"arn:aws:iam::{ACCOUNT}:user/team/alice")


class _Clock:
    def __init__(self, now):
        self.now_ = now

    def now(self):
        return self.now_


def test_session_keys_come_from_the_second_source_until_they_expire():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock = _Clock(start)
    creds = _creds(start + timedelta(hours=1))
    ids = Identities(document(), sessions={creds.access_key_id: creds}.get, clock=clock)
    principal, secret, token = ids.lookup_access_key(creds.access_key_id)
    assert principal.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/deployer/s1"
    assert (secret, token) == ("d" * 40, "token")
    assert ids.identity_policies_for(principal) == [ADMIN_POLICY]
    clock.now_ = start + timedelta(hours=1)
    with pytest.raises(ExpiredTokenException):
        ids.lookup_access_key(creds.access_key_id)


def test_session_of_a_role_removed_from_the_file_is_invalid():
    creds = _creds(datetime.now(timezone.utc) + timedelta(hours=1), role="gone")
    ids = Identities(document(), sessions={creds.access_key_id: creds}.get)
    with pytest.raises(UnrecognizedClientException):
        ids.lookup_access_key(creds.access_key_id)


def test_session_policy_of_a_role_session_is_available_to_authorisation():
    import dataclasses
    creds = dataclasses.replace(_creds(datetime.now(timezone.utc) + timedelta(hours=1)), session_policy=READ_ONLY)
    ids = Identities(document(), sessions={creds.access_key_id: creds}.get)
    principal = ids.lookup_access_key(creds.access_key_id)[0]
    assert ids.session_policies_for(principal) == [READ_ONLY]
    alice = ids.lookup_access_key("AKIAALICE00000000001")[0]
    assert ids.session_policies_for(alice) == []
