"""Role sessions in the store: issue, find (for SigV4), purge when expired.

The secret access key and session token are sealed under the store's root key (bound to the access
key id), so a copy of the database alone gives nobody a working session.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone


from ..identity import TemporaryCredentials, new_access_key_id, new_secret_access_key, new_session_token
from .tables import sessions

# A session seen once is remembered briefly: SigV4 looks it up on every request of that session.
CACHE_SECONDS = 30.0


def _aad(access_key_id: str) -> bytes:
    return f"keyplane:v1:sts-session:{access_key_id}".encode()


def issue(call, *, account: str, role_name: str, role_arn: str, session_name: str, duration: int,
          source_arn: str | None, session_policy: str | None) -> TemporaryCredentials:
    now = call.now
    creds = TemporaryCredentials(
        access_key_id=new_access_key_id("ASIA"), secret_access_key=new_secret_access_key(),
        session_token=new_session_token(), expiration=(now + timedelta(seconds=duration)).replace(microsecond=0),
        account=account, role_name=role_name, role_arn=role_arn, session_name=session_name,
        source_arn=source_arn, session_policy=json.loads(session_policy) if session_policy else None)
    sealed = call.root_key.seal(json.dumps({"secret": creds.secret_access_key,
                                            "token": creds.session_token}).encode(), _aad(creds.access_key_id))
    with call.store.write() as conn:  # joins the operation's transaction
        conn.execute(sessions.insert().values(
            access_key_id=creds.access_key_id, sealed=sealed, expiration=creds.expiration.timestamp(),
            account=account, role_name=role_name, role_arn=role_arn, session_name=session_name,
            source_arn=source_arn, session_policy=session_policy, created=now.timestamp()))
    return creds


def lookup_for(engine):
    """The `sessions` source for `Identities`: access key id -> TemporaryCredentials or None."""
    cache: dict[str, tuple[float, TemporaryCredentials]] = {}

    def lookup(access_key_id: str) -> TemporaryCredentials | None:
        hit = cache.get(access_key_id)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        for store in engine.all_stores():
            with store.read() as conn:
                row = conn.execute(sessions.select().where(sessions.c.access_key_id == access_key_id)).first()
            if row is None:
                continue
            opened = json.loads(engine.root_key_for(store).unseal(row.sealed, _aad(access_key_id)))
            creds = TemporaryCredentials(
                access_key_id=access_key_id, secret_access_key=opened["secret"], session_token=opened["token"],
                expiration=datetime.fromtimestamp(row.expiration, timezone.utc), account=row.account,
                role_name=row.role_name, role_arn=row.role_arn, session_name=row.session_name,
                source_arn=row.source_arn,
                session_policy=json.loads(row.session_policy) if row.session_policy else None)
            if len(cache) > 10_000:
                cache.clear()
            cache[access_key_id] = (time.monotonic(), creds)
            return creds
        return None

    lookup.cache_clear = cache.clear
    return lookup


def purge_expired(engine, store, now) -> int:
    # a day's grace: a client whose session just expired still gets ExpiredToken, not InvalidClientTokenId
    cutoff = (now - timedelta(days=1)).timestamp()
    with store.write() as conn:
        return conn.execute(sessions.delete().where(sessions.c.expiration < cutoff)).rowcount or 0
