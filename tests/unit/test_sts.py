"""STS AssumeRole's rules (trust policy, identity policies, cross-account, chaining) and
GetCallerIdentity, through the engine with a real identities registry and store."""
from __future__ import annotations

from datetime import timedelta

import pytest

from keyplane.engine.errors import AccessDeniedException, ValidationException
from keyplane.engine.identity import Identities, Principal
from keyplane.engine.sts.sessions import lookup_for

A, B = "111122223333", "444455556666"
ASSUME = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
DENY_ASSUME = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "sts:*", "Resource": "*"}]}


def trust(principal, condition=None):
    st = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


def user(name, *policies):
    return {"name": name, "policies": [{"name": f"p{i}", "document": d} for i, d in enumerate(policies)]}


@pytest.fixture
def sts(engine):
    doc = {"accounts": [
        {"id": A,
         "users": [user("direct"), user("plain"), user("allowed", ASSUME), user("denied", DENY_ASSUME)],
         "roles": [
             {"name": "by-name", "trust_policy": trust([f"arn:aws:iam::{A}:user/direct",
                                                        f"arn:aws:iam::{A}:user/denied",
                                                        f"arn:aws:iam::{B}:user/partner",
                                                        f"arn:aws:iam::{B}:user/partner-no-policy"])},
             {"name": "by-account", "trust_policy": trust(A), "max_session_duration": 7200,
              "policies": [{"name": "chain", "document": ASSUME}]},
             {"name": "external", "trust_policy": trust(f"arn:aws:iam::{A}:user/direct",
                                                        {"StringEquals": {"sts:ExternalId": "s3cr3t-id"}})},
         ]},
        {"id": B, "users": [user("partner", ASSUME), user("partner-no-policy")]},
    ]}
    engine.identities = Identities(doc, sessions=lookup_for(engine), clock=engine.clock)

    def call(op, caller, **params):
        principal = caller if isinstance(caller, Principal) else Principal.from_arn(caller)
        return engine.invoke("sts", op, params, engine.context(principal))
    return call


def arn(account, name):
    return f"arn:aws:iam::{account}:user/{name}"


def role(name):
    return f"arn:aws:iam::{A}:role/{name}"


def test_user_named_by_the_trust_policy_assumes_the_role_without_an_identity_policy(sts, engine):
    out = sts("AssumeRole", arn(A, "direct"), RoleArn=role("by-name"), RoleSessionName="s1")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{A}:assumed-role/by-name/s1"
    assert out["Credentials"]["Expiration"] == (engine.clock.now() + timedelta(hours=1)).replace(microsecond=0)
    session = engine.identities.lookup_access_key(out["Credentials"]["AccessKeyId"])[0]
    assert sts("GetCallerIdentity", session)["Arn"] == f"arn:aws:sts::{A}:assumed-role/by-name/s1"


def test_trust_in_the_account_delegates_to_the_callers_identity_policy(sts):
    with pytest.raises(AccessDeniedException) as e:
        sts("AssumeRole", arn(A, "plain"), RoleArn=role("by-account"), RoleSessionName="s1")
    assert e.value.message == (f"User: {arn(A, 'plain')} is not authorized to perform: sts:AssumeRole "
                               f"on resource: {role('by-account')}")
    assert sts("AssumeRole", arn(A, "allowed"), RoleArn=role("by-account"), RoleSessionName="s1")["Credentials"]


def test_cross_account_caller_needs_its_own_identity_policy_too(sts):
    assert sts("AssumeRole", arn(B, "partner"), RoleArn=role("by-name"), RoleSessionName="x")["Credentials"]
    with pytest.raises(AccessDeniedException):
        sts("AssumeRole", arn(B, "partner-no-policy"), RoleArn=role("by-name"), RoleSessionName="x")


def test_explicit_deny_in_an_identity_policy_wins_over_trust(sts):
    with pytest.raises(AccessDeniedException):
        sts("AssumeRole", arn(A, "denied"), RoleArn=role("by-name"), RoleSessionName="x")


def test_unknown_role_and_untrusted_caller_get_the_same_answer(sts):
    for role_arn in (role("nope"), role("by-name")):
        with pytest.raises(AccessDeniedException) as e:
            sts("AssumeRole", arn(A, "plain"), RoleArn=role_arn, RoleSessionName="x")
        assert e.value.message.endswith(f"on resource: {role_arn}")


def test_root_cannot_assume_roles(sts):
    with pytest.raises(AccessDeniedException, match="Roles may not be assumed by root accounts."):
        sts("AssumeRole", Principal.root(A), RoleArn=role("by-account"), RoleSessionName="x")


def test_external_id_condition_is_checked(sts):
    with pytest.raises(AccessDeniedException):
        sts("AssumeRole", arn(A, "direct"), RoleArn=role("external"), RoleSessionName="x")
    with pytest.raises(AccessDeniedException):
        sts("AssumeRole", arn(A, "direct"), RoleArn=role("external"), RoleSessionName="x", ExternalId="guess")
    assert sts("AssumeRole", arn(A, "direct"), RoleArn=role("external"), RoleSessionName="x",
               ExternalId="s3cr3t-id")["Credentials"]


def test_durations_respect_the_role_maximum_and_the_role_chaining_hour(sts, engine):
    out = sts("AssumeRole", arn(A, "allowed"), RoleArn=role("by-account"), RoleSessionName="long",
              DurationSeconds=7200)
    with pytest.raises(ValidationException, match="MaxSessionDuration"):
        sts("AssumeRole", arn(A, "direct"), RoleArn=role("by-name"), RoleSessionName="x", DurationSeconds=7200)
    chained = engine.identities.lookup_access_key(out["Credentials"]["AccessKeyId"])[0]
    with pytest.raises(ValidationException, match="role chaining"):
        sts("AssumeRole", chained, RoleArn=role("by-account"), RoleSessionName="c", DurationSeconds=3601)


def test_session_credentials_are_sealed_in_the_store(sts, engine):
    import sqlalchemy as sa

    from keyplane.engine.sts.tables import sessions
    out = sts("AssumeRole", arn(A, "direct"), RoleArn=role("by-name"), RoleSessionName="sealed")
    store = engine.store_for("us-east-1")
    with store.read() as conn:
        row = conn.execute(sa.select(sessions)).first()
    raw = repr(tuple(row)).encode() + bytes(row.sealed)
    assert out["Credentials"]["SecretAccessKey"].encode() not in raw
    assert out["Credentials"]["SessionToken"].encode() not in raw


def test_expired_sessions_are_purged_a_day_after_expiry(sts, engine, clock):
    out = sts("AssumeRole", arn(A, "direct"), RoleArn=role("by-name"), RoleSessionName="old")
    clock.advance(hours=2)
    assert engine.run_due()["sts.purge-expired-sessions"] == 0
    clock.advance(days=1)
    assert engine.run_due()["sts.purge-expired-sessions"] == 1
    from keyplane.engine.errors import UnrecognizedClientException
    engine.identities.sessions.cache_clear()
    with pytest.raises(UnrecognizedClientException):
        engine.identities.lookup_access_key(out["Credentials"]["AccessKeyId"])
