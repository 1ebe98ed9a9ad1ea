"""Signed digests of the audit trail, after CloudTrail's log-file integrity validation.

Each digest covers the records written since the previous one: their range, the hash of the last
record (which, through the hash chain, commits to every record before it), the time span, and the
previous digest's signature. It is signed SHA256withRSA with the store's digest key, whose private
half is sealed under the root key; the public half is printed by `keyplane audit --public-key` so
anyone can check digests without keyplane. Editing, deleting or reordering records breaks the chain;
editing or deleting a digest breaks a signature or the digest chain. The scheduler makes one digest
an hour (on the injected clock); `keyplane audit --digest` makes one now.
"""
from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .store.tables import audit as audit_table
from .store.tables import audit_digests as digests
from .store.tables import meta

_KEY_AAD = b"keyplane:audit-digest-key:v1"
DIGEST_PERIOD = timedelta(hours=1)


def _signing_key(engine, store, conn) -> rsa.RSAPrivateKey:
    row = conn.execute(sa.select(meta.c.value).where(meta.c.name == "audit_digest_key")).first()
    root = engine.root_key_for(store)
    if row is not None:
        der = root.unseal(base64.b64decode(row.value), _KEY_AAD)
        return serialization.load_der_private_key(der, None)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    conn.execute(meta.insert().values(name="audit_digest_key", value=base64.b64encode(root.seal(der, _KEY_AAD)).decode()))
    return key


def public_key_pem(engine, store) -> str:
    with store.write() as conn:
        key = _signing_key(engine, store, conn)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _fingerprint(public) -> str:
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:32]


def string_to_sign(body: str, digest: dict) -> bytes:
    return (f"{digest['digestEndTime']}\n{digest['lastRecordHash']}\n"
            f"{hashlib.sha256(body.encode()).hexdigest()}\n{digest['previousDigestSignature'] or 'null'}").encode()


def make_digest(engine, store, now: datetime | None = None) -> dict:
    """Sign a digest of the records since the last digest (possibly none, as CloudTrail does)."""
    engine.audit.flush(store)
    now = now or engine.clock.now()
    with store.write() as conn:
        key = _signing_key(engine, store, conn)
        last = conn.execute(digests.select().order_by(digests.c.seq.desc()).limit(1)).first()
        prev = json.loads(last.body) if last else None
        start = prev["endSeq"] + 1 if prev else 1
        rows = conn.execute(sa.select(audit_table.c.seq, audit_table.c.event_time, audit_table.c.hash)
                            .where(audit_table.c.seq >= start).order_by(audit_table.c.seq)).all()
        digest = {
            "digestStartTime": prev["digestEndTime"] if prev else None,
            "digestEndTime": now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "startSeq": start,
            "endSeq": rows[-1].seq if rows else start - 1,
            "recordCount": len(rows),
            "oldestEventTime": rows[0].event_time if rows else None,
            "newestEventTime": rows[-1].event_time if rows else None,
            "lastRecordHash": rows[-1].hash if rows else (prev["lastRecordHash"] if prev else None),
            "previousDigestSignature": last.signature if last else None,
            "digestSignatureAlgorithm": "SHA256withRSA",
            "digestPublicKeyFingerprint": _fingerprint(key.public_key()),
        }
        body = json.dumps(digest, sort_keys=True)
        signature = key.sign(string_to_sign(body, digest), padding.PKCS1v15(), hashes.SHA256()).hex()
        conn.execute(digests.insert().values(created=now.timestamp(), body=body, signature=signature))
    return {**digest, "signature": signature}


def verify_digests(engine, store) -> tuple[bool, int, int | None]:
    """Check every digest's signature, that each names its predecessor's signature, and that the
    record hash it signed is still the hash of that record: (intact, digests checked, first bad seq)."""
    with store.write() as conn:
        public = _signing_key(engine, store, conn).public_key()
    prev_sig, n = None, 0
    with store.read() as conn:
        for row in conn.execute(digests.select().order_by(digests.c.seq)):
            digest = json.loads(row.body)
            try:
                public.verify(bytes.fromhex(row.signature), string_to_sign(row.body, digest),
                              padding.PKCS1v15(), hashes.SHA256())
            except (InvalidSignature, ValueError):
                return False, n, row.seq
            if digest["previousDigestSignature"] != prev_sig:
                return False, n, row.seq
            if digest["recordCount"]:
                rec = conn.execute(sa.select(audit_table.c.hash).where(
                    audit_table.c.seq == digest["endSeq"])).first()
                if rec is None or rec.hash != digest["lastRecordHash"]:
                    return False, n, row.seq
            prev_sig, n = row.signature, n + 1
    return True, n, None


def hourly_digest(engine, store, now) -> int:
    with store.read() as conn:
        last = conn.execute(sa.select(sa.func.max(digests.c.created))).scalar()
    if last is not None and now.timestamp() - last < DIGEST_PERIOD.total_seconds():
        return 0
    make_digest(engine, store, now)
    return 1
