"""KMS authorisation through real boto3 clients of different principals (issue 4's scenarios).

Two accounts: A (111122223333) owns keys, B (444455556666) uses them. Identity policies come from
an identities file on disk, edited and reloaded the way an operator would. Every test runs twice:
with in-process clients, and with SigV4-signing clients against a real `keyplane serve` (the role
session there comes from a real STS AssumeRole).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.identity import Identities, new_access_key_id, new_secret_access_key, write_private

A, B = "111122223333", "444455556666"
ALICE = f"arn:aws:iam::{A}:user/alice"          # A's key administrator (IAM kms:*)
CAROL = f"arn:aws:iam::{A}:user/carol"          # A's user with no identity policy
BOB = f"arn:aws:iam::{B}:user/bob"              # B's user
DAVE = f"arn:aws:iam::{B}:user/dave"            # B's user who may assume the Ops role
OPS_SESSION = f"arn:aws:sts::{B}:assumed-role/Ops/job-1"
OPS_ROLE = f"arn:aws:iam::{B}:role/Ops"
ROOT_A, ROOT_B = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:root"

KMS_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}
ASSUME_OPS = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Resource": OPS_ROLE}]}

# one access key pair per principal, for the HTTP runs
KEYS = {arn: (new_access_key_id(), new_secret_access_key()) for arn in (ROOT_A, ROOT_B, ALICE, CAROL, BOB, DAVE)}


def _keys(arn):
    key_id, secret = KEYS[arn]
    return [{"id": key_id, "secret": secret, "status": "Active"}]


def identities_data(bob_policies=(), generation: int = 0) -> dict:
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{B}:root"}, "Action": "sts:AssumeRole"}]}
    # carol's GenerateRandom right flips with each edit, so a test can see when a server reloaded
    carol_policies = [{"name": "generation", "document": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:GenerateRandom", "Resource": "*"}]}}] if generation % 2 else []
    return {"version": 1, "accounts": [
        {"id": A, "root_access_keys": _keys(ROOT_A),
         "users": [{"name": "alice", "policies": [{"name": "kms-admin", "document": KMS_ALL}], "access_keys": _keys(ALICE)},
                   {"name": "carol", "policies": carol_policies, "access_keys": _keys(CAROL)}]},
        {"id": B, "root_access_keys": _keys(ROOT_B),
         "users": [{"name": "bob", "policies": list(bob_policies), "access_keys": _keys(BOB)},
                   {"name": "dave", "policies": [{"name": "assume-ops", "document": ASSUME_OPS}],
                    "access_keys": _keys(DAVE)}],
         "roles": [{"name": "Ops", "trust_policy": trust}]},
    ]}


class World:
    """Clients by principal, and the identities file. Clients are made on first use."""

    engine = None

    def __init__(self):
        self._clients = {}

    def kms(self, principal: str):
        if principal not in self._clients:
            self._clients[principal] = self.make_client(principal)
        return self._clients[principal]

    root_a = property(lambda self: self.kms(ROOT_A))
    root_b = property(lambda self: self.kms(ROOT_B))
    alice = property(lambda self: self.kms(ALICE))
    carol = property(lambda self: self.kms(CAROL))
    bob = property(lambda self: self.kms(BOB))
    ops = property(lambda self: self.kms(OPS_SESSION))


class InProcessWorld(World):
    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        path.write_text(yaml.safe_dump(identities_data()))
        self.identities = Identities.load(path)
        self.engine = Engine("memory", identities=self.identities)

    def make_client(self, principal: str):
        return keyplane.connect(engine=self.engine, principal=principal).client("kms", region="us-east-1")

    def set_bob_policies(self, *policies):
        self.path.write_text(yaml.safe_dump(identities_data(policies)))
        st = os.stat(self.path)  # a fresh mtime even within the file system's timestamp granularity
        os.utime(self.path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        assert self.identities.refresh(force=True)

    def close(self):
        self.engine.close()


class HttpWorld(World):
    def __init__(self, server):
        super().__init__()
        self.server = server
        self.path = server.state / "identities.yaml"
        self.generation = 0
        self.bob_policies: tuple = ()
        self._write((), force=True)

    def make_client(self, principal: str):
        if principal == OPS_SESSION:
            creds = self.server.client("sts", aws_access_key_id=KEYS[DAVE][0], aws_secret_access_key=KEYS[DAVE][1]
                                       ).assume_role(RoleArn=OPS_ROLE, RoleSessionName="job-1")["Credentials"]
            assert creds["AccessKeyId"].startswith("ASIA")
            return self.server.client("kms", aws_access_key_id=creds["AccessKeyId"],
                                      aws_secret_access_key=creds["SecretAccessKey"],
                                      aws_session_token=creds["SessionToken"])
        key_id, secret = KEYS[principal]
        return self.server.client("kms", aws_access_key_id=key_id, aws_secret_access_key=secret)

    def _write(self, policies, force=False):
        if not force and tuple(policies) == self.bob_policies:
            return
        self.generation += 1
        self.bob_policies = tuple(policies)
        write_private(self.path, yaml.safe_dump(identities_data(policies, self.generation)))
        # The server re-reads a changed file at most once a second; watch for this edit's mark.
        expect = bool(self.generation % 2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.kms(CAROL).generate_random(NumberOfBytes=1)
                seen = True
            except ClientError as exc:
                seen = False if exc.response["Error"]["Code"] == "AccessDeniedException" else None
            if seen is expect:
                return
            time.sleep(0.1)  # waiting for another process to notice a file, not for domain time
        raise AssertionError("keyplane serve did not reload the identities file")

    def set_bob_policies(self, *policies):
        self._write(policies)

    def reset(self):
        self._write(())
        self._clients.pop(OPS_SESSION, None)


@pytest.fixture(scope="module")
def http_world(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))
    from keyplane_server import start_server
    server = start_server(tmp_path_factory.mktemp("authz-serve"))
    try:
        yield HttpWorld(server)
    finally:
        server.stop()


@pytest.fixture
def local_world(tmp_path):
    w = InProcessWorld(tmp_path / "identities.yaml")
    yield w
    w.close()


@pytest.fixture(params=["in-process", "http"])
def world(request, tmp_path):
    if request.param == "http":
        w = request.getfixturevalue("http_world")
        w.reset()
        yield w
        return
    w = InProcessWorld(tmp_path / "identities.yaml")
    yield w
    w.close()


def error_code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


def key_policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def account_root(account: str, actions="kms:*") -> dict:
    return {"Sid": f"account {account}", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": actions, "Resource": "*"}


def bob_may(actions, resource) -> dict:
    return {"name": "use-a-key", "document": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resource}]}}


# ---- the default key policy and identity policies in the key's account -------------------------

def test_default_policy_lets_users_with_an_iam_allowance_in_and_others_not(world):
    key = world.root_a.create_key()["KeyMetadata"]["Arn"]
    world.alice.encrypt(KeyId=key, Plaintext=b"x")
    with pytest.raises(ClientError) as exc:
        world.carol.encrypt(KeyId=key, Plaintext=b"x")
    assert error_code(exc) == "AccessDeniedException"
    assert exc.value.response["Error"]["Message"] == (
        f"User: {CAROL} is not authorized to perform: kms:Encrypt on resource: {key} "
        "because no identity-based policy allows the kms:Encrypt action")


def test_identity_policy_does_not_count_when_the_key_policy_does_not_trust_the_account(world):
    key = world.root_a.create_key(Policy=key_policy(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
    ))["KeyMetadata"]["Arn"]
    world.alice.put_key_policy(KeyId=key, Policy=key_policy(
        {"Effect": "Allow", "Principal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*"}))
    # carol has no identity policy and the key policy names only alice
    with pytest.raises(ClientError) as exc:
        world.carol.describe_key(KeyId=key)
    assert "because no resource-based policy allows the kms:DescribeKey action" in exc.value.response["Error"]["Message"]


def test_explicit_deny_in_the_key_policy_wins_over_an_iam_allow(world):
    key = world.root_a.create_key(Policy=key_policy(
        account_root(A),
        {"Effect": "Deny", "Principal": {"AWS": ALICE}, "Action": "kms:Decrypt", "Resource": "*"},
    ))["KeyMetadata"]["Arn"]
    blob = world.alice.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        world.alice.decrypt(CiphertextBlob=blob)
    assert exc.value.response["Error"]["Message"].endswith("with an explicit deny in a resource-based policy")


def test_management_operations_and_list_operations_are_authorised(world):
    key = world.root_a.create_key()["KeyMetadata"]["KeyId"]
    for call in (lambda: world.carol.disable_key(KeyId=key), lambda: world.carol.list_keys(),
                 lambda: world.carol.create_key(), lambda: world.carol.get_key_policy(KeyId=key),
                 lambda: world.carol.list_aliases(), lambda: world.carol.list_grants(KeyId=key)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "AccessDeniedException"
    world.alice.disable_key(KeyId=key)
    assert world.alice.list_keys()["Keys"]


# ---- scenario 1: cross-account use needs the key policy and the caller's identity policy --------

def test_scenario_1_cross_account_needs_both_key_policy_and_identity_policy(world):
    key = world.root_a.create_key()["KeyMetadata"]["Arn"]
    world.set_bob_policies(bob_may(["kms:Encrypt", "kms:Decrypt"], key))
    with pytest.raises(ClientError) as exc:          # A's key policy does not know B yet
        world.bob.encrypt(KeyId=key, Plaintext=b"secret")
    assert error_code(exc) == "AccessDeniedException"
    assert "no resource-based policy allows the kms:Encrypt action" in exc.value.response["Error"]["Message"]

    world.root_a.put_key_policy(KeyId=key, Policy=key_policy(
        account_root(A), account_root(B, ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"])))
    blob = world.bob.encrypt(KeyId=key, Plaintext=b"secret", EncryptionContext={"app": "b"})["CiphertextBlob"]
    assert world.bob.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "b"})["Plaintext"] == b"secret"
    # an operation B's identity policy does not allow stays denied, though the key policy allows it
    with pytest.raises(ClientError) as exc:
        world.bob.describe_key(KeyId=key)
    assert "no identity-based policy allows" in exc.value.response["Error"]["Message"]
    # B's root is its account: no identity policy needed on its side
    assert world.root_b.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key

    world.set_bob_policies()                          # B removes bob's allowance
    with pytest.raises(ClientError) as exc:
        world.bob.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "b"})
    assert error_code(exc) == "AccessDeniedException"


def test_cross_account_management_operations_are_never_allowed(world):
    key = world.root_a.create_key(Policy=key_policy(account_root(A), account_root(B)))["KeyMetadata"]["Arn"]
    world.set_bob_policies(bob_may("kms:*", "*"))
    world.bob.describe_key(KeyId=key)
    for call in (lambda: world.bob.disable_key(KeyId=key), lambda: world.bob.get_key_policy(KeyId=key),
                 lambda: world.bob.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "AccessDeniedException"


def test_another_accounts_key_must_be_named_by_arn(world):
    meta = world.root_a.create_key(Policy=key_policy(account_root(A), account_root(B)))["KeyMetadata"]
    with pytest.raises(ClientError) as exc:
        world.root_b.describe_key(KeyId=meta["KeyId"])
    assert error_code(exc) == "NotFoundException"


# ---- scenario 2: a grant to a role in another account -----------------------------------------

def test_scenario_2_grant_to_a_role_with_an_encryption_context_subset_constraint(world):
    key = world.root_a.create_key()["KeyMetadata"]["Arn"]
    good = {"tenant": "acme", "purpose": "backup"}
    blob = world.root_a.encrypt(KeyId=key, Plaintext=b"payload", EncryptionContext=good)["CiphertextBlob"]
    other = world.root_a.encrypt(KeyId=key, Plaintext=b"payload", EncryptionContext={"tenant": "evil"})["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        world.ops.decrypt(CiphertextBlob=blob, EncryptionContext=good)
    assert error_code(exc) == "AccessDeniedException"

    grant = world.root_a.create_grant(KeyId=key, GranteePrincipal=OPS_ROLE, Operations=["Decrypt"],
                                      RetiringPrincipal=OPS_ROLE,
                                      Constraints={"EncryptionContextSubset": {"tenant": "acme"}})
    out = world.ops.decrypt(CiphertextBlob=blob, EncryptionContext=good, GrantTokens=[grant["GrantToken"]])
    assert out["Plaintext"] == b"payload" and out["KeyId"] == key
    with pytest.raises(ClientError) as exc:        # the constraint is not met
        world.ops.decrypt(CiphertextBlob=other, EncryptionContext={"tenant": "evil"})
    assert error_code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:        # the grant allows Decrypt only
        world.ops.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=good)
    assert error_code(exc) == "AccessDeniedException"

    listed = world.root_a.list_grants(KeyId=key)["Grants"]
    assert [g["GrantId"] for g in listed] == [grant["GrantId"]]
    assert listed[0]["Constraints"] == {"EncryptionContextSubset": {"tenant": "acme"}}
    assert listed[0]["IssuingAccount"] == f"arn:aws:iam::{A}:root"
    assert "GrantToken" not in listed[0]

    world.ops.retire_grant(GrantToken=grant["GrantToken"])
    with pytest.raises(ClientError) as exc:
        world.ops.decrypt(CiphertextBlob=blob, EncryptionContext=good)
    assert error_code(exc) == "AccessDeniedException"
    assert world.root_a.list_grants(KeyId=key)["Grants"] == []


def test_grant_name_makes_create_grant_idempotent(world):
    key = world.root_a.create_key()["KeyMetadata"]["KeyId"]
    args = dict(KeyId=key, GranteePrincipal=BOB, Operations=["Encrypt", "Decrypt"], Name="app-grant")
    first, again = world.root_a.create_grant(**args), world.root_a.create_grant(**args)
    assert first["GrantId"] == again["GrantId"] and first["GrantToken"] != again["GrantToken"]
    different = world.root_a.create_grant(**{**args, "Operations": ["Decrypt"]})
    assert different["GrantId"] != first["GrantId"]


def test_grant_operations_must_suit_the_key_and_tokens_must_be_valid(world):
    key = world.root_a.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        world.root_a.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Sign"])
    assert error_code(exc) == "ValidationException"
    with pytest.raises(ClientError) as exc:
        world.root_a.encrypt(KeyId=key, Plaintext=b"x", GrantTokens=["not-a-token"])
    assert error_code(exc) == "InvalidGrantTokenException"


def test_revoke_grant_and_list_retirable_grants(world):
    key = world.root_a.create_key()["KeyMetadata"]["KeyId"]
    g = world.root_a.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Encrypt"],
                                  RetiringPrincipal=ALICE)
    retirable = world.root_a.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]
    assert [x["GrantId"] for x in retirable] == [g["GrantId"]]
    with pytest.raises(ClientError) as exc:
        world.carol.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    assert error_code(exc) == "AccessDeniedException"
    world.alice.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    with pytest.raises(ClientError) as exc:
        world.alice.revoke_grant(KeyId=key, GrantId=g["GrantId"])
    assert error_code(exc) == "NotFoundException"


def test_a_grant_holder_may_delegate_only_what_its_grant_allows(world):
    key = world.root_a.create_key()["KeyMetadata"]["Arn"]
    world.root_a.create_grant(KeyId=key, GranteePrincipal=OPS_ROLE, Operations=["Decrypt", "CreateGrant"])
    world.ops.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"])
    with pytest.raises(ClientError) as exc:
        world.ops.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt", "Encrypt"])
    assert error_code(exc) == "AccessDeniedException"


# ---- scenario 3: sharing an encrypted snapshot ------------------------------------------------

def test_scenario_3_snapshot_shared_re_encrypted_under_the_other_accounts_key(world):
    key_a = world.root_a.create_key(Description="A's snapshot key")["KeyMetadata"]["Arn"]
    data_key = world.root_a.generate_data_key(KeyId=key_a, KeySpec="AES_256")
    nonce = os.urandom(12)
    snapshot = AESGCM(data_key["Plaintext"]).encrypt(nonce, b"volume bytes", None)
    wrapped = data_key["CiphertextBlob"]

    # A shares its key with B, the way the console's "other AWS accounts" option does.
    world.root_a.put_key_policy(KeyId=key_a, Policy=key_policy(account_root(A), account_root(
        B, ["kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*", "kms:CreateGrant"])))
    world.set_bob_policies(bob_may(["kms:Decrypt", "kms:DescribeKey", "kms:ReEncrypt*", "kms:CreateGrant"], key_a))
    key_b = world.root_b.create_key(Description="B's own key")["KeyMetadata"]["Arn"]
    world.root_b.put_key_policy(KeyId=key_b, Policy=key_policy(account_root(B), {
        "Effect": "Allow", "Principal": {"AWS": BOB}, "Action": ["kms:ReEncryptTo", "kms:Decrypt"], "Resource": "*"}))

    assert world.bob.describe_key(KeyId=key_a)["KeyMetadata"]["Arn"] == key_a
    grant = world.bob.create_grant(KeyId=key_a, GranteePrincipal=OPS_ROLE, Operations=["Decrypt"])
    copy = world.bob.re_encrypt(CiphertextBlob=wrapped, DestinationKeyId=key_b)
    assert copy["SourceKeyId"] == key_a and copy["KeyId"] == key_b

    # A revokes: its policy forgets B and it revokes the grant B made.
    world.root_a.put_key_policy(KeyId=key_a, Policy=key_policy(account_root(A)))
    world.root_a.revoke_grant(KeyId=key_a, GrantId=grant["GrantId"])
    for client in (world.bob, world.ops):
        with pytest.raises(ClientError) as exc:
            client.decrypt(CiphertextBlob=wrapped)
        assert error_code(exc) == "AccessDeniedException"
    # B's copy is B's own: it still opens the snapshot.
    plain_key = world.bob.decrypt(CiphertextBlob=copy["CiphertextBlob"])["Plaintext"]
    assert AESGCM(plain_key).decrypt(nonce, snapshot, None) == b"volume bytes"


# ---- scenario 4: the lockout safety check ------------------------------------------------------

def test_scenario_4_lockout_safety_check(world):
    key = world.alice.create_key()["KeyMetadata"]["KeyId"]
    locked = key_policy({"Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": "kms:*", "Resource": "*"})
    with pytest.raises(ClientError) as exc:
        world.alice.put_key_policy(KeyId=key, Policy=locked)
    assert error_code(exc) == "MalformedPolicyDocumentException"
    assert exc.value.response["Error"]["Message"] == (
        "The new key policy will not allow you to update the key policy in the future.")
    assert "Enable IAM User Permissions" in world.alice.get_key_policy(KeyId=key)["Policy"]  # unchanged

    world.alice.put_key_policy(KeyId=key, Policy=locked, BypassPolicyLockoutSafetyCheck=True)
    assert world.carol.get_key_policy(KeyId=key)["Policy"] == locked
    with pytest.raises(ClientError) as exc:
        world.alice.put_key_policy(KeyId=key, Policy=key_policy(account_root(A)))
    assert error_code(exc) == "AccessDeniedException"


def test_create_key_with_a_lockout_policy_is_refused_and_creates_nothing(world):
    before = world.alice.list_keys()["Keys"]
    locked = key_policy({"Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": "kms:*", "Resource": "*"})
    with pytest.raises(ClientError) as exc:
        world.alice.create_key(Policy=locked)
    assert error_code(exc) == "MalformedPolicyDocumentException"
    assert world.alice.list_keys()["Keys"] == before
    assert world.alice.create_key(Policy=locked, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]["KeyId"]


def test_malformed_policy_is_refused_with_its_json_path(world):
    key = world.alice.create_key()["KeyMetadata"]["KeyId"]
    bad = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Alow", "Principal": {"AWS": ALICE}, "Action": "kms:*", "Resource": "*"}]})
    with pytest.raises(ClientError) as exc:
        world.alice.put_key_policy(KeyId=key, Policy=bad)
    assert error_code(exc) == "MalformedPolicyDocumentException"
    assert exc.value.response["Error"]["Message"] == "Statement[0].Effect: 'Alow' is not one of ['Allow', 'Deny']"


def test_policy_over_32_kb_is_a_limit_error(world):
    key = world.alice.create_key()["KeyMetadata"]["KeyId"]
    big = key_policy(account_root(A), *[{"Sid": "s" * 200 + str(i), "Effect": "Allow", "Principal": {"AWS": ALICE},
                                         "Action": "kms:Encrypt", "Resource": "*"} for i in range(150)])
    with pytest.raises(ClientError) as exc:
        world.alice.put_key_policy(KeyId=key, Policy=big)
    assert error_code(exc) == "LimitExceededException"


def test_policy_naming_a_user_that_does_not_exist_is_malformed(world):
    key = world.alice.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        world.alice.put_key_policy(KeyId=key, Policy=key_policy(account_root(A), {
            "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:user/nobody"}, "Action": "kms:*",
            "Resource": "*"}))
    # AWS's sentence first (https://docs.aws.amazon.com/kms/latest/APIReference/API_PutKeyPolicy.html,
    # MalformedPolicyDocumentException), then which principal and where principals come from
    message = exc.value.response["Error"]["Message"]
    assert message.startswith("Policy contains a statement with one or more invalid principals. ")
    assert f"arn:aws:iam::{A}:user/nobody is not a user in the identities file" in message
    assert "identities.yaml" in message


def test_get_and_list_key_policies(world):
    key = world.alice.create_key()["KeyMetadata"]["KeyId"]
    out = world.alice.get_key_policy(KeyId=key)
    assert out["PolicyName"] == "default"
    assert json.loads(out["Policy"])["Statement"][0]["Sid"] == "Enable IAM User Permissions"
    assert world.alice.list_key_policies(KeyId=key)["PolicyNames"] == ["default"]


# ---- scenario 5: conditions on the encryption context and on kms:ViaService ---------------------

def test_scenario_5_encryption_context_condition(world):
    key = world.root_a.create_key(Policy=key_policy(account_root(A), {
        "Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "acme"}}}))["KeyMetadata"]["Arn"]
    blob = world.carol.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"tenant": "acme"})["CiphertextBlob"]
    assert world.carol.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "acme"})["Plaintext"] == b"x"
    for context in ({"tenant": "ACME"}, {"other": "acme"}, {}):
        with pytest.raises(ClientError) as exc:
            world.carol.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext=context)
        assert error_code(exc) == "AccessDeniedException"


def test_scenario_5_via_service_condition(local_world):
    world = local_world
    from keyplane.engine.errors import AccessDeniedException
    from keyplane.engine.identity import Principal

    key = world.root_a.create_key(Policy=key_policy(account_root(A), {
        "Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": "ssm.us-east-1.amazonaws.com"}}}))["KeyMetadata"]["Arn"]
    with pytest.raises(ClientError) as exc:
        world.carol.encrypt(KeyId=key, Plaintext=b"x")
    assert error_code(exc) == "AccessDeniedException"
    # Parameter Store calling KMS for carol carries kms:ViaService.
    engine = world.engine
    ssm_ctx = engine.context(Principal.from_arn(CAROL), via_service="ssm")
    out = engine.invoke("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"}, ssm_ctx)
    assert out["KeyId"] == key
    sm_ctx = engine.context(Principal.from_arn(CAROL), via_service="secretsmanager")
    with pytest.raises(AccessDeniedException):
        engine.invoke("kms", "Encrypt", {"KeyId": key, "Plaintext": b"x"}, sm_ctx)


def test_aws_managed_key_is_usable_only_through_its_service(local_world):
    world = local_world
    from keyplane.engine.errors import AccessDeniedException
    from keyplane.engine.identity import Principal

    meta = world.alice.describe_key(KeyId="alias/aws/ssm")["KeyMetadata"]
    assert meta["KeyManager"] == "AWS"
    with pytest.raises(ClientError) as exc:
        world.alice.encrypt(KeyId="alias/aws/ssm", Plaintext=b"x")
    assert error_code(exc) == "AccessDeniedException"
    engine = world.engine
    out = engine.invoke("kms", "Encrypt", {"KeyId": "alias/aws/ssm", "Plaintext": b"x"},
                        engine.context(Principal.from_arn(CAROL), via_service="ssm"))
    assert out["KeyId"] == meta["Arn"]
    with pytest.raises(AccessDeniedException):      # another account, even through the service
        engine.invoke("kms", "Encrypt", {"KeyId": meta["Arn"], "Plaintext": b"x"},
                      engine.context(Principal.from_arn(BOB), via_service="ssm"))
    with pytest.raises(ClientError) as exc:         # nobody manages an AWS managed key
        world.alice.disable_key(KeyId=meta["KeyId"])
    assert error_code(exc) == "AccessDeniedException"


# ---- more of the model ----------------------------------------------------------------------------

def test_resource_tag_and_request_alias_conditions(world):
    key = world.root_a.create_key(Tags=[{"TagKey": "Team", "TagValue": "blue"}], Policy=key_policy(account_root(A), {
        "Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"StringEquals": {"aws:ResourceTag/Team": "blue"}}}, {
        "Effect": "Allow", "Principal": {"AWS": CAROL}, "Action": "kms:DescribeKey", "Resource": "*",
        "Condition": {"StringEquals": {"kms:RequestAlias": "alias/carol-app"}}}))["KeyMetadata"]["KeyId"]
    world.carol.encrypt(KeyId=key, Plaintext=b"x")
    world.root_a.tag_resource(KeyId=key, Tags=[{"TagKey": "Team", "TagValue": "red"}])
    with pytest.raises(ClientError) as exc:
        world.carol.encrypt(KeyId=key, Plaintext=b"x")
    assert error_code(exc) == "AccessDeniedException"
    world.root_a.create_alias(AliasName="alias/carol-app", TargetKeyId=key)
    world.carol.describe_key(KeyId="alias/carol-app")
    with pytest.raises(ClientError) as exc:
        world.carol.describe_key(KeyId=key)
    assert error_code(exc) == "AccessDeniedException"


def test_create_grant_dry_run_creates_nothing(world):
    key = world.root_a.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        world.root_a.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"], DryRun=True)
    assert error_code(exc) == "DryRunOperationException"
    assert world.root_a.list_grants(KeyId=key)["Grants"] == []


def test_retire_grant_by_key_and_grant_id_and_grants_with_re_encrypt(world):
    key_a = world.root_a.create_key()["KeyMetadata"]["Arn"]
    key_b = world.root_b.create_key()["KeyMetadata"]["Arn"]
    blob = world.root_a.encrypt(KeyId=key_a, Plaintext=b"data")["CiphertextBlob"]
    grant = world.root_a.create_grant(KeyId=key_a, GranteePrincipal=ROOT_B, Operations=["ReEncryptFrom"])
    copy = world.root_b.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_b)["CiphertextBlob"]
    assert world.root_b.decrypt(CiphertextBlob=copy)["Plaintext"] == b"data"
    with pytest.raises(ClientError) as exc:         # B may not retire A's grant: not its to retire
        world.bob.retire_grant(KeyId=key_a, GrantId=grant["GrantId"])
    assert error_code(exc) == "AccessDeniedException"
    world.root_a.retire_grant(KeyId=key_a, GrantId=grant["GrantId"])
    with pytest.raises(ClientError) as exc:
        world.root_b.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_b)
    assert error_code(exc) == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        world.root_a.retire_grant(KeyId=key_a, GrantId="0" * 64)
    assert error_code(exc) == "NotFoundException"


def test_grant_constraints_are_validated(world):
    key = world.root_a.create_key()["KeyMetadata"]["KeyId"]
    too_many = {f"k{i}": "v" for i in range(9)}
    with pytest.raises(ClientError) as exc:
        world.root_a.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"],
                                  Constraints={"EncryptionContextEquals": too_many})
    assert error_code(exc) == "ValidationException"
    assert "EncryptionContextEquals" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        world.root_a.create_grant(KeyId=key, GranteePrincipal="bob", Operations=["Decrypt"])
    assert error_code(exc) == "ValidationException"


def test_grants_go_with_their_key_when_it_is_deleted(tmp_path):
    from datetime import datetime, timedelta, timezone

    from keyplane.engine.clock import ManualClock
    clock = ManualClock(datetime(2026, 1, 15, tzinfo=timezone.utc))
    engine = Engine("memory", clock=clock)
    kms = keyplane.connect(engine=engine).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_grant(KeyId=key, GranteePrincipal=BOB, Operations=["Decrypt"], RetiringPrincipal=ALICE)
    assert len(kms.list_retirable_grants(RetiringPrincipal=ALICE)["Grants"]) == 1
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    clock.advance(timedelta(days=8))
    engine.run_due()
    from keyplane.engine.kms.tables import grants
    with engine.store_for("us-east-1").read() as conn:
        assert conn.execute(grants.select()).fetchall() == []
    engine.close()


def test_a_session_policy_limits_what_a_role_session_may_do(http_world):
    world = http_world
    world.reset()
    key = world.root_b.create_key(Policy=key_policy(account_root(B), {
        "Effect": "Allow", "Principal": {"AWS": OPS_ROLE}, "Action": ["kms:Encrypt", "kms:DescribeKey"],
        "Resource": "*"}))["KeyMetadata"]["Arn"]
    world.ops.encrypt(KeyId=key, Plaintext=b"x")           # a session without a session policy
    sts = world.server.client("sts", aws_access_key_id=KEYS[DAVE][0], aws_secret_access_key=KEYS[DAVE][1])
    scoped = sts.assume_role(RoleArn=OPS_ROLE, RoleSessionName="scoped", Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]
    }))["Credentials"]
    kms = world.server.client("kms", aws_access_key_id=scoped["AccessKeyId"],
                              aws_secret_access_key=scoped["SecretAccessKey"], aws_session_token=scoped["SessionToken"])
    assert kms.describe_key(KeyId=key)["KeyMetadata"]["Arn"] == key
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key, Plaintext=b"x")
    assert exc.value.response["Error"]["Message"] == (
        f"User: arn:aws:sts::{B}:assumed-role/Ops/scoped is not authorized to perform: kms:Encrypt on resource: "
        f"{key} because no session policy allows the kms:Encrypt action")


def test_explicit_deny_in_an_identity_policy_wins_over_the_key_policy(world):
    key = world.root_a.create_key(Policy=key_policy(account_root(A), {
        "Effect": "Allow", "Principal": {"AWS": BOB}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}))
    key = key["KeyMetadata"]["Arn"]
    world.set_bob_policies({"name": "mixed", "document": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": key}]}})
    blob = world.bob.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        world.bob.decrypt(CiphertextBlob=blob)
    assert exc.value.response["Error"]["Message"] == (
        f"User: {BOB} is not authorized to perform: kms:Decrypt on resource: {key} "
        "with an explicit deny in an identity-based policy")


def test_a_session_policy_limits_secrets_manager_too(http_world):
    world = http_world
    world.reset()
    root_b = world.server.client("secretsmanager", aws_access_key_id=KEYS[ROOT_B][0],
                                 aws_secret_access_key=KEYS[ROOT_B][1])
    arn = root_b.create_secret(Name="scoped-session-secret", SecretString="s3cret")["ARN"]
    root_b.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": OPS_ROLE}, "Action": "secretsmanager:GetSecretValue",
        "Resource": "*"}]}))
    sts = world.server.client("sts", aws_access_key_id=KEYS[DAVE][0], aws_secret_access_key=KEYS[DAVE][1])

    def secrets_as(**assume):
        creds = sts.assume_role(RoleArn=OPS_ROLE, RoleSessionName="scoped-reader", **assume)["Credentials"]
        return world.server.client("secretsmanager", aws_access_key_id=creds["AccessKeyId"],
                                   aws_secret_access_key=creds["SecretAccessKey"],
                                   aws_session_token=creds["SessionToken"])
    assert secrets_as().get_secret_value(SecretId=arn)["SecretString"] == "s3cret"
    # the session may use KMS (the nested Decrypt is allowed) but not secretsmanager:GetSecretValue
    scoped = secrets_as(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
    with pytest.raises(ClientError) as exc:
        scoped.get_secret_value(SecretId=arn)
    assert error_code(exc) == "AccessDeniedException"
    assert exc.value.response["Error"]["Message"].endswith(
        "because no session policy allows the secretsmanager:GetSecretValue action")
