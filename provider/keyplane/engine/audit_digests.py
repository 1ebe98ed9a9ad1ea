"""Signed digests of the audit trail, after CloudTrail's log-file integrity validation.

A digest is CloudTrail's digest file ("CloudTrail digest file structure",
https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html):
the log files delivered since the previous digest (`logFiles`, each with the SHA-256 of its content),
the previous digest's hash and signature, the signing key's fingerprint. keyplane adds the store's
chain head when signed (`startSeq`..`endSeq`, `recordCount`, `lastRecordHash`: the hash of the last
record, which through the chain commits to every record before it), so records not yet delivered
are covered too. It is signed SHA256withRSA over CloudTrail's string to sign (end time, where the
digest is, the hash of its content, the previous signature; "Custom implementations of CloudTrail
log file integrity validation") with the store's digest key, whose private half is sealed under
the root key; `keyplane audit --public-key` prints the public half, so anyone can check digests
without keyplane. The store keeps every digest; when the trail is delivered (audit_delivery.py) the
digest is also written as a file beside the log files, its signature in `<file>.signature`.

Editing, deleting or reordering records breaks the chain; editing or deleting a digest breaks a
signature or the digest chain. The scheduler makes one digest an hour (on the injected clock);
`keyplane audit --digest` makes one now. Digests made before digest files (no `digestS3Object`)
keep the string they were signed with.
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

from . import audit_delivery, audit_files
from .store.tables import audit as audit_table
from .store.tables import audit_digests as digests
from .store.tables import audit_log_files
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
    previous = digest["previousDigestSignature"] or "null"
    if "digestS3Object" not in digest:        # a digest made before digest files
        return (f"{digest['digestEndTime']}\n{digest['lastRecordHash']}\n"
                f"{hashlib.sha256(body.encode()).hexdigest()}\n{previous}").encode()
    return (f"{digest['digestEndTime']}\n{digest['digestS3Bucket'] or ''}/{digest['digestS3Object']}\n"
            f"{hashlib.sha256(body.encode()).hexdigest()}\n{previous}").encode()


def make_digest(engine, store, now: datetime | None = None) -> dict:
    """Sign a digest of the log files delivered and the records written since the last digest
    (possibly none, as CloudTrail does), and deliver it beside the log files."""
    engine.audit.flush(store)
    now = (now or engine.clock.now()).astimezone(timezone.utc).replace(microsecond=0)
    folder = audit_delivery.audit_dir(engine, store)
    account, region, trail = audit_delivery.trail_of(engine, store)
    with store.read() as conn:      # counting an hour of records holds no lock
        covered = _records_since_last_digest(conn)
    with store.write() as conn:
        key = _signing_key(engine, store, conn)
        last = conn.execute(digests.select().order_by(digests.c.seq.desc()).limit(1)).first()
        if (last.seq if last else None) != covered[0]:      # another process signed one meanwhile
            covered = _records_since_last_digest(conn)
        _, start, count, head = covered
        prev = json.loads(last.body) if last else None
        if prev and now <= _parse_time(prev["digestEndTime"]):
            now = _parse_time(prev["digestEndTime"]) + timedelta(seconds=1)   # one digest a second, names unique
        head_hash = conn.execute(sa.select(audit_table.c.hash).where(audit_table.c.seq == head)).scalar() \
            if head is not None else None
        files = audit_delivery.pending_files(conn)
        entries = [audit_delivery.log_file_entry(folder, row) for row in files]
        digest = {
            "awsAccountId": account,
            "digestStartTime": prev["digestEndTime"] if prev else None,
            "digestEndTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "digestS3Bucket": folder,
            "digestS3Object": audit_files.digest_object(account, region, trail, now),
            "digestPublicKeyFingerprint": _fingerprint(key.public_key()),
            "digestSignatureAlgorithm": "SHA256withRSA",
            "newestEventTime": max((e["newestEventTime"] for e in entries), default=None),
            "oldestEventTime": min((e["oldestEventTime"] for e in entries), default=None),
            "previousDigestS3Bucket": prev.get("digestS3Bucket") if prev else None,
            "previousDigestS3Object": prev.get("digestS3Object") if prev else None,
            "previousDigestHashValue": hashlib.sha256(last.body.encode()).hexdigest() if last else None,
            "previousDigestHashAlgorithm": "SHA-256" if last else None,
            "previousDigestSignature": last.signature if last else None,
            "logFiles": entries,
            "startSeq": start,
            "endSeq": head if head is not None else start - 1,
            "recordCount": count,
            "lastRecordHash": head_hash or (prev["lastRecordHash"] if prev else None),
        }
        body = json.dumps(digest)
        signature = key.sign(string_to_sign(body, digest), padding.PKCS1v15(), hashes.SHA256()).hex()
        conn.execute(digests.insert().values(created=now.timestamp(), body=body, signature=signature))
        if files:
            conn.execute(audit_log_files.delete().where(audit_log_files.c.seq <= files[-1].seq))
        audit_delivery.save_state(conn, digested_seq=audit_delivery.state(conn).delivered_seq)
        if folder is not None:     # in the transaction: a digest the folder lacks is never recorded
            audit_files.write_digest(folder, digest["digestS3Object"], body.encode(), signature)
    return {**digest, "signature": signature}


def _records_since_last_digest(conn) -> tuple[int | None, int, int, int | None]:
    """(last digest's seq, first record seq it does not cover, how many records from there, the last one)."""
    last = conn.execute(sa.select(digests.c.seq, digests.c.body).order_by(digests.c.seq.desc()).limit(1)).first()
    start = json.loads(last.body)["endSeq"] + 1 if last else 1
    head = conn.execute(sa.select(sa.func.max(audit_table.c.seq))).scalar()
    if head is None or head < start:
        return (last.seq if last else None), start, 0, None
    count = conn.execute(sa.select(sa.func.count()).select_from(audit_table).where(
        audit_table.c.seq >= start, audit_table.c.seq <= head)).scalar()
    return (last.seq if last else None), start, count, head


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def verify_digests(engine, store) -> tuple[bool, int, int | None]:
    """Check every digest's signature, that each names its predecessor's signature and hash, and
    that the record hash it signed is still the hash of that record where the store still holds it
    (records pruned after delivery are checked against the log files, audit_verify.py):
    (intact, digests checked, first bad seq)."""
    with store.write() as conn:
        public = _signing_key(engine, store, conn).public_key()
    prev_sig, prev_body, n = None, None, 0
    with store.read() as conn:
        pruned = audit_delivery.state(conn).pruned_seq
        for row in conn.execute(digests.select().order_by(digests.c.seq)):
            if not digest_intact(public, row.body, row.signature, prev_sig, prev_body):
                return False, n, row.seq
            digest = json.loads(row.body)
            if digest["recordCount"] and digest["endSeq"] > pruned:
                rec = conn.execute(sa.select(audit_table.c.hash).where(
                    audit_table.c.seq == digest["endSeq"])).first()
                if rec is None or rec.hash != digest["lastRecordHash"]:
                    return False, n, row.seq
            prev_sig, prev_body, n = row.signature, row.body, n + 1
    return True, n, None


def digest_intact(public, body: str, signature: str, prev_sig: str | None, prev_body: str | None) -> bool:
    """A digest's signature verifies and it names the previous digest's signature (and hash)."""
    try:
        digest = json.loads(body)
        public.verify(bytes.fromhex(signature), string_to_sign(body, digest), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    if digest.get("previousDigestSignature") != prev_sig:
        return False
    if "previousDigestHashValue" in digest and prev_body is not None \
            and digest["previousDigestHashValue"] != hashlib.sha256(prev_body.encode()).hexdigest():
        return False
    return True


def public_key(engine, store):
    with store.write() as conn:
        return _signing_key(engine, store, conn).public_key()


def hourly_digest(engine, store, now) -> int:
    with store.read() as conn:
        last = conn.execute(sa.select(sa.func.max(digests.c.created))).scalar()
    if last is not None and now.timestamp() - last < DIGEST_PERIOD.total_seconds():
        return 0
    make_digest(engine, store, now)
    return 1
