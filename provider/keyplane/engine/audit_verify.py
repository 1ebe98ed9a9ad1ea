"""`keyplane audit --verify`: the whole trail, across the delivered files and the store.

What is checked, and what each failure means:
- the digests (store rows, audit_digests.py): each signature, and that each names the previous
  digest's signature and hash. A digest delivered as a file must be there, byte for byte the digest
  the store signed, its `.signature` beside it; digest files of this trail the store does not list
  mean the store lost digests.
- every log file a digest lists (and those delivered since the last digest): there, and its
  content's SHA-256 the one signed. A missing or altered file is named with the records it held.
- the hash chain across files and store: the records of the files are walked in chain order (each
  file says which store seqs it holds) from the first record, and the chain hash must come out as
  signed at every digest's `endSeq`, as recorded where delivery stopped and where pruning stopped
  (so the files lead exactly into what the store still holds); then the store's own records are
  walked on from where pruning stopped.
- records of answered calls that never arrived (audit_writers.gaps), with the numbers of pruned
  records taken from the files.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone

import orjson
import sqlalchemy as sa

from . import audit_delivery, audit_digests, audit_files
from .audit import GENESIS
from .store.tables import audit as audit_table
from .store.tables import audit_digests as digests_table


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)       # what was checked
    problems: list[str] = field(default_factory=list)    # what failed, each on its own

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, text: str) -> None:
        self.problems.append(text)


@dataclass
class _LogFile:
    object: str
    hash_value: str
    ranges: list
    listed_by: str            # "digest #n" or "the store (no digest yet)"
    usable: bool = True


def verify(engine, store, folder: str | None = None) -> Report:
    report = Report()
    engine.audit.flush(store)
    with store.read() as conn:
        start = audit_delivery.state(conn)
        rows = conn.execute(digests_table.select().order_by(digests_table.c.seq)).all()
        pending = audit_delivery.pending_files(conn)
        delivered_in_store = conn.execute(sa.select(audit_table.c.hash).where(
            audit_table.c.seq == start.delivered_seq)).scalar()

    # the folder given, else the configured one, else where the newest digest says it was delivered
    folder = folder or audit_delivery.audit_dir(engine, store) or next(
        (json.loads(r.body).get("digestS3Bucket") for r in reversed(rows) if '"digestS3Bucket": "' in r.body), None)
    ok, n, bad = engine.audit.verify(store)
    pruned = f" (records up to seq {start.pruned_seq} pruned after delivery)" if start.pruned_seq else ""
    report.lines.append(f"audit chain {'intact' if ok else 'BROKEN at seq ' + str(bad)}: "
                        f"{n} records verified in the store{pruned}")
    if not ok:
        report.problem(f"the store's chain is broken at seq {bad}")

    dok, dn, dbad = audit_digests.verify_digests(engine, store)
    files, checkpoints, digest_files, listed = _check_digests(report, rows, folder)
    if folder:
        _unlisted_digest_files(report, folder, audit_delivery.trail_of(engine, store), listed)
    report.lines.append(f"signed digests {'intact' if dok else 'BROKEN at digest ' + str(dbad)}: {dn} digests "
                        f"verified, {digest_files} digest files checked")
    if not dok:
        report.problem(f"digest #{dbad} does not verify (its signature, or the previous digest it names)")

    files += [_LogFile(r.object, r.hash_value, json.loads(r.records), "the store (no digest yet)") for r in pending]
    _check_log_files(report, folder, files)
    if start.delivered_seq:
        checkpoints.setdefault(start.delivered_seq, (start.delivered_hash, "the store, where delivery stopped"))
    if start.pruned_seq:
        checkpoints.setdefault(start.pruned_seq, (start.pruned_hash, "the store, where pruning stopped"))
    walked, numbers, at_delivered = _walk_files(report, folder, files, checkpoints, start.delivered_seq)
    if start.delivered_seq and at_delivered is None:
        report.problem(f"the log files the digests list do not reach seq {start.delivered_seq}, where delivery "
                       f"stopped: log files or digests are missing")
    if delivered_in_store is not None and at_delivered is not None and at_delivered != delivered_in_store:
        report.problem(f"the store's record {start.delivered_seq} is not the one delivered: the chain from "
                       f"the log files does not lead into the store")
    if files:
        report.lines.append(f"log files: {len(files)} checked against their digests, {walked} records walked "
                            f"in chain order{' into the store' if start.delivered_seq else ''}")

    gaps = engine.audit.gaps(store, numbers)
    report.lines.append(f"records of answered calls: {'complete' if not gaps else f'{len(gaps)} GAP(S)'}")
    for gap in gaps:
        report.problem(f"gap: {gap.describe()}")
    return report


def _check_digests(report: Report, rows, folder: str | None):
    """The digest files of the store's digests; the log files the digests list and the chain hashes
    they signed (seq -> (hash, which digest)). Signatures and the digest chain: verify_digests."""
    files: list[_LogFile] = []
    checkpoints: dict[int, tuple[str, str]] = {}
    listed, checked = set(), 0
    for row in rows:
        digest = json.loads(row.body)
        name = f"digest #{row.seq}"
        if digest.get("recordCount"):
            checkpoints[digest["endSeq"]] = (digest["lastRecordHash"], name)
        for entry in digest.get("logFiles") or ():
            files.append(_LogFile(entry["s3Object"], entry["hashValue"], entry.get("keyplaneRecords") or [], name))
        if digest.get("digestS3Bucket") and digest.get("digestS3Object"):
            listed.add(os.path.normpath(digest["digestS3Object"]))
            _check_digest_file(report, folder, digest["digestS3Object"], row, name)
            checked += 1
    return files, checkpoints, checked, listed


def _check_digest_file(report: Report, folder: str | None, obj: str, row, name: str) -> None:
    if folder is None:
        report.problem(f"{name} was delivered as a file, but no audit folder is configured to check it")
        return
    try:
        body, signature = audit_files.read_digest(folder, obj)
    except FileNotFoundError:
        report.problem(f"MISSING digest file {obj} ({name})")
        return
    except audit_files.LogFileError:
        report.problem(f"ALTERED digest file {obj} ({name}): not a readable gzip file")
        return
    if body != row.body.encode():
        report.problem(f"ALTERED digest file {obj}: its content is not the digest the store signed ({name})")
    if signature is None:
        report.problem(f"MISSING signature file {obj}{audit_files.SIGNATURE_SUFFIX} ({name})")
    elif signature != row.signature:
        report.problem(f"ALTERED signature file {obj}{audit_files.SIGNATURE_SUFFIX} ({name})")


def _unlisted_digest_files(report: Report, folder: str, trail: tuple[str, str, str], listed: set) -> None:
    """Digest files of this store's trail that the store does not hold: it lost digests (or was reset)."""
    account, region, name = trail
    example = audit_files.digest_object(account, region, name, datetime(2000, 1, 1, tzinfo=timezone.utc))
    pattern = example.replace("2000/01/01", "*/*/*").replace("20000101T000000Z", "*")
    for path in glob.glob(os.path.join(glob.escape(folder), pattern)):
        obj = os.path.normpath(os.path.relpath(path, folder))
        if obj not in listed:
            report.problem(f"digest file {obj} is not in the store: the store has lost digests (or was reset)")


def _check_log_files(report: Report, folder: str | None, files: list[_LogFile]) -> None:
    for f in files:
        path = os.path.join(folder or "", f.object)
        held = _describe(f.ranges)
        try:
            actual = audit_files.content_hash(path) if folder else None
        except FileNotFoundError:
            actual = None
        except audit_files.LogFileError:
            actual = "unreadable"
        if actual is None:
            report.problem(f"MISSING log file {f.object} (records {held}, listed by {f.listed_by})")
            f.usable = False
        elif actual != f.hash_value:
            report.problem(f"ALTERED log file {f.object}: its SHA-256 is not the one {f.listed_by} "
                           f"recorded (records {held})")
            f.usable = False


def _walk_files(report: Report, folder, files: list[_LogFile], checkpoints: dict, delivered: int):
    """Walk the chain through the files' records in seq order; compare at the checkpoints.
    (records walked, writer -> audit numbers seen, chain hash at `delivered` or None)."""
    runs = sorted((first, last, i) for i, f in enumerate(files) for first, last in f.ranges)
    left = [len(f.ranges) for f in files]          # runs still to read, to close each file when done
    readers: dict[int, object] = {}
    prev, walked, numbers, at_delivered = GENESIS, 0, {}, None
    broken_at = None
    sha256 = hashlib.sha256
    for first, last, i in runs:
        f = files[i]
        if not f.usable:
            prev = None               # cannot go on through a missing or altered file
            if broken_at is None:
                broken_at = first
            left[i] -= 1
            if i in readers:
                readers.pop(i).close()
            continue
        reader = readers.get(i)
        if reader is None:
            reader = readers[i] = audit_files.read_records(os.path.join(folder, f.object))
        for seq in range(first, last + 1):
            try:
                body = next(reader, None)
            except audit_files.LogFileError as exc:
                report.problem(f"log file {f.object} cannot be read: {exc}")
                body = None
            if body is None:
                report.problem(f"log file {f.object} holds fewer records than it was delivered with")
                f.usable, prev = False, None
                break
            walked += 1
            if b'"auditSequence"' in body:
                mark = orjson.loads(body).get("auditSequence")
                if isinstance(mark, dict):
                    numbers.setdefault(mark.get("writer"), []).append(mark.get("number"))
            mark = checkpoints.get(seq)
            if prev is None:
                prev = mark[0] if mark else None       # a signed hash lets the walk go on
            else:
                prev = sha256(prev.encode() + body).hexdigest()
                if mark and mark[0] != prev:
                    report.problem(f"the chain through the log files breaks before seq {seq}: its hash is "
                                   f"not the one {mark[1]} recorded (records missing, added or changed)")
                    prev = mark[0]
            if seq == delivered:
                at_delivered = prev
        left[i] -= 1
        if not left[i] and i in readers:
            readers.pop(i).close()
    if broken_at is not None:
        report.lines.append(f"the chain is not checked through the missing or altered file(s) from seq "
                            f"{broken_at} on; it resumes at the next signed hash")
    return walked, numbers, at_delivered


def _describe(ranges: list) -> str:
    if not ranges:
        return "none"
    return f"{ranges[0][0]}-{ranges[-1][1]}" if len(ranges) < 4 else \
        f"{ranges[0][0]}-{ranges[-1][1]} in {len(ranges)} runs"
