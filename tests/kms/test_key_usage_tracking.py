"""How keyplane keeps each key's last use: with the audit records that show it, so every server on a
store answers GetKeyLastUsage alike and the newest use wins; which operations count; the tracking
start of a store upgraded from a keyplane without it; kms:TrailingDaysWithoutKeyUsage.

https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html and
https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-keys-determining-usage.html ("There
may be a delay of up to one hour between the time a cryptographic operation occurs and the time that
usage is recorded"; a key created before tracking began reports the tracking start date).
"""
from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

import keyplane
from keyplane.engine import apimodel, services
from keyplane.engine.clock import ManualClock
from keyplane.engine.core import Engine
from keyplane.engine.sealing import RootKey

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def _engine(state, when=T0):
    return Engine(state, clock=ManualClock(when))


def _kms(engine):
    return keyplane.connect(engine=engine).client("kms", region="us-east-1")


def test_the_tracked_operations_are_the_models():
    """KeyLastUsageTrackingOperation (the model's enum) names the operations whose success is a use;
    every one keyplane serves is marked tracks_use, and nothing else is."""
    tracked = set(apimodel.service_model("kms").shape_for("KeyLastUsageTrackingOperation").enum)
    marked = {s.name for s in services.operations("kms") if s.tracks_use}
    served = {s.name for s in services.operations("kms")}
    assert marked == tracked & served
    assert {"Encrypt", "Decrypt", "ReEncrypt", "Sign", "Verify", "GenerateMac", "VerifyMac"} <= marked


@pytest.fixture(params=["sqlite", "postgresql"])
def shared_store(request, tmp_path):
    """One store two engines (two servers, or two workers of one) open."""
    if request.param == "sqlite":
        return str(tmp_path / "state")
    return request.getfixturevalue("postgres_url")


def test_two_servers_on_one_store_agree_and_the_newest_use_wins(shared_store, tmp_path):
    """Each server writes the uses it answered with its audit batch; a server's GetKeyLastUsage
    includes its own unwritten records, another's arrive with that server's next flush, and a late
    batch holding an older use does not overwrite a newer one."""
    root = RootKey(os.urandom(32), "test")
    a = Engine(shared_store, clock=ManualClock(T0), root_key=root)
    b = Engine(shared_store, clock=ManualClock(T0), root_key=root)
    try:
        ka, kb = _kms(a), _kms(b)
        key = ka.create_key()["KeyMetadata"]["KeyId"]
        ka.encrypt(KeyId=key, Plaintext=b"older")                 # buffered in a, at T0
        b.clock.set(T0 + timedelta(minutes=5))
        newer = kb.generate_data_key(KeyId=key, KeySpec="AES_256")["ResponseMetadata"]["RequestId"]
        usage = kb.get_key_last_usage(KeyId=key)["KeyLastUsage"]    # b's own record: flushed first
        assert (usage["Operation"], usage["KmsRequestId"]) == ("GenerateDataKey", newer)
        a.audit.flush()                                           # a's older Encrypt arrives late
        for client in (ka, kb):
            usage = client.get_key_last_usage(KeyId=key)["KeyLastUsage"]
            assert (usage["Operation"], usage["KmsRequestId"]) == ("GenerateDataKey", newer)
        a.clock.set(T0 + timedelta(minutes=10))
        latest = ka.decrypt(CiphertextBlob=ka.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"])
        a.audit.flush()
        usage = kb.get_key_last_usage(KeyId=key)["KeyLastUsage"]
        assert (usage["Operation"], usage["KmsRequestId"]) == ("Decrypt", latest["ResponseMetadata"]["RequestId"])
    finally:
        a.close()
        b.close()


def test_a_store_upgraded_from_a_keyplane_without_tracking(tmp_path):
    """Keys made before tracking began report the tracking start (the last call audited before the
    upgrade) as TrackingStartDate; keys made after report their creation date; a use after the
    upgrade is reported for both."""
    state = tmp_path / "state"
    old = _engine(str(state))
    kms = _kms(old)
    before = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=before, Plaintext=b"x")
    old.clock.set(T0 + timedelta(days=1))
    kms.describe_key(KeyId=before)          # the last call before the upgrade
    old.close()
    db = sqlite3.connect(state / "state.db")   # as a keyplane without tracking left it
    db.execute("DROP TABLE resource_uses")
    db.execute("DELETE FROM keyplane_meta WHERE name = 'resource_uses_since'")
    db.execute("DELETE FROM keyplane_migrations WHERE name = 'core.0005_resource_uses'")
    db.commit()
    db.close()

    new = _engine(str(state), T0 + timedelta(days=2))
    try:
        kms = _kms(new)
        got = kms.get_key_last_usage(KeyId=before)
        assert got["KeyLastUsage"] == {}
        assert got["TrackingStartDate"] == T0 + timedelta(days=1) > got["KeyCreationDate"]
        after = kms.create_key()["KeyMetadata"]
        got = kms.get_key_last_usage(KeyId=after["KeyId"])
        assert got["TrackingStartDate"] == got["KeyCreationDate"] == after["CreationDate"]
        kms.encrypt(KeyId=before, Plaintext=b"x")
        assert kms.get_key_last_usage(KeyId=before)["KeyLastUsage"]["Operation"] == "Encrypt"
    finally:
        new.close()


def test_failed_calls_are_not_uses_even_through_another_service(engine, kms):
    """Secrets Manager's own KMS calls are uses of the key (they are KMS calls of the caller's);
    a Decrypt that fails is not."""
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    sm = keyplane.connect(engine=engine).client("secretsmanager", region="us-east-1")
    sm.create_secret(Name="s", SecretString="v", KmsKeyId=key)
    usage = kms.get_key_last_usage(KeyId=key)["KeyLastUsage"]
    assert usage["Operation"] in ("GenerateDataKey", "Encrypt")
    with pytest.raises(Exception):
        kms.decrypt(CiphertextBlob=b"\x00" * 64, KeyId=key)
    assert kms.get_key_last_usage(KeyId=key)["KeyLastUsage"] == usage


# ---- kms:TrailingDaysWithoutKeyUsage -----------------------------------------------------------

GUARD = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
    {"Effect": "Deny", "Principal": "*", "Action": ["kms:DisableKey", "kms:ScheduleKeyDeletion"],
     "Resource": "*", "Condition": {"NumericLessThanEquals": {"kms:TrailingDaysWithoutKeyUsage": "30"}}}]}


def test_trailing_days_without_key_usage_protects_recently_used_keys(engine, kms, clock):
    """conditions-kms.html#conditions-kms-trailing-days-without-key-usage (used on DisableKey and
    ScheduleKeyDeletion): whole days since the last use, or since creation for a key never used.
    A key policy denying both within 30 days refuses a fresh key and a key used 10 days ago, and
    allows them 31 days after."""
    fresh = kms.create_key(Policy=json.dumps(GUARD))["KeyMetadata"]["KeyId"]
    used = kms.create_key(Policy=json.dumps(GUARD))["KeyMetadata"]["KeyId"]
    for key in (fresh, used):
        with pytest.raises(Exception) as e:
            kms.disable_key(KeyId=key)
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    clock.set(clock.now() + timedelta(days=20))
    kms.encrypt(KeyId=used, Plaintext=b"x")
    clock.set(clock.now() + timedelta(days=10, hours=23))
    with pytest.raises(Exception) as e:             # 30 whole days unused: still within 30
        kms.disable_key(KeyId=fresh)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    clock.set(clock.now() + timedelta(hours=1))     # 31 days unused: allowed
    kms.disable_key(KeyId=fresh)
    kms.schedule_key_deletion(KeyId=fresh, PendingWindowInDays=7)
    with pytest.raises(Exception) as e:             # used 11 days ago
        kms.schedule_key_deletion(KeyId=used, PendingWindowInDays=7)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    clock.set(clock.now() + timedelta(days=20))
    kms.schedule_key_deletion(KeyId=used, PendingWindowInDays=7)
