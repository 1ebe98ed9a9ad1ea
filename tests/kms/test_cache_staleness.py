"""State changed through another server (issue 17, finding 14).

AWS documents eventual consistency: "When you create, retire, or revoke a grant, there might be a
brief delay, usually less than five minutes, until the grant is available throughout KMS"
(https://docs.aws.amazon.com/kms/latest/APIReference/API_RevokeGrant.html, and
https://docs.aws.amazon.com/kms/latest/developerguide/accessing-kms.html#programming-eventual-consistency
for key state).
keyplane's default lag is the engine cache's time to live (0.5 s); `cache_ttl=0`
(`keyplane serve --cache-ttl 0`, KEYPLANE_CACHE_TTL=0) reads through, so a second server honours
DisableKey and RevokeGrant on its very next call."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

import keyplane
from keyplane.engine.core import Engine

GRANTEE = "arn:aws:iam::111122223333:user/app"


def _pair(state, clock, ttl):
    a = Engine(state, clock=clock)
    b = Engine(state, clock=clock, cache_ttl=ttl)
    return a, b


def _check_read_through(state, clock):
    a, b = _pair(state, clock, 0)
    try:
        kms_a = keyplane.connect(engine=a).client("kms")
        kms_b = keyplane.connect(engine=b).client("kms")
        app_b = keyplane.connect(engine=b, principal=GRANTEE).client("kms")
        key = kms_a.create_key()["KeyMetadata"]["KeyId"]
        grant = kms_a.create_grant(KeyId=key, GranteePrincipal=GRANTEE, Operations=["Encrypt"])["GrantId"]
        app_b.encrypt(KeyId=key, Plaintext=b"x")          # b's cache now holds the key and the grant
        kms_b.encrypt(KeyId=key, Plaintext=b"x")
        kms_a.revoke_grant(KeyId=key, GrantId=grant)
        with pytest.raises(ClientError) as e:
            app_b.encrypt(KeyId=key, Plaintext=b"x")
        assert e.value.response["Error"]["Code"] == "AccessDeniedException"
        kms_a.disable_key(KeyId=key)
        with pytest.raises(ClientError) as e:
            kms_b.encrypt(KeyId=key, Plaintext=b"x")
        assert e.value.response["Error"]["Code"] == "DisabledException"
        kms_a.enable_key(KeyId=key)
        blob = kms_b.encrypt(KeyId=key, Plaintext=b"y")["CiphertextBlob"]
        assert kms_b.decrypt(CiphertextBlob=blob)["Plaintext"] == b"y"
    finally:
        a.close()
        b.close()


def test_read_through_honours_disable_and_revoke_from_another_engine_at_once_sqlite(tmp_path, clock):
    _check_read_through(str(tmp_path / "state"), clock)


def test_read_through_honours_disable_and_revoke_from_another_server_at_once_postgresql(postgres_url, clock, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.chdir(tmp_path)   # the root key of a database URL lives in ./.keyplane
    _check_read_through(postgres_url, clock)


def test_default_cache_may_lag_but_an_expired_entry_revalidates(tmp_path, clock):
    """With the default TTL the second engine may answer from its cache for up to 0.5 s."""
    a, b = _pair(str(tmp_path / "state"), clock, 3600)
    try:
        kms_a = keyplane.connect(engine=a).client("kms")
        kms_b = keyplane.connect(engine=b).client("kms")
        key = kms_a.create_key()["KeyMetadata"]["KeyId"]
        kms_b.encrypt(KeyId=key, Plaintext=b"x")
        kms_a.disable_key(KeyId=key)
        kms_b.encrypt(KeyId=key, Plaintext=b"x")          # stale within the TTL: the documented lag
        b.cache.ttl = 0
        with pytest.raises(ClientError):
            kms_b.encrypt(KeyId=key, Plaintext=b"x")
    finally:
        a.close()
        b.close()
