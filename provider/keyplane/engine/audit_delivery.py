"""Delivery of the audit trail to CloudTrail log files, as CloudTrail delivers a trail to its bucket.

Every `PERIOD` (5 minutes, CloudTrail's cadence) the scheduled task `audit.deliver` writes the
records of the periods that have closed to gzip-compressed JSON log files (audit_files.py): one file
per account and Region of the records per period, and a new one every MAX_RECORDS_PER_FILE. Each file
holds a run of the store's hash chain in chain order; which records (by seq) went where is kept
with the file, so the chain can be walked again across files. The next signed digest
(audit_digests.py) lists the files with their hashes; once listed, records older than the retention
are pruned from the store (audit_pruning.py).

Where files go: `Engine.audit_dir`, else KEYPLANE_AUDIT_DIR (what `keyplane serve --audit-dir`
sets for its workers), else `audit/` beside a SQLite store's file. A store with none of them (a
PostgreSQL URL with nothing configured, an in-memory store) keeps its whole trail in the store, as
before; `off` turns delivery off. Several stores may share one folder: each signs its own digest
chain (its trail name), and log file names never collide.

Delivery reads the store without its write lock, writes the files, then records them in one short
transaction, unless another process delivered the same records meanwhile (its files win, ours are
removed). A process that dies between the two leaves files no digest lists; `keyplane audit --verify`
reports them, and the records are delivered again.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

import sqlalchemy as sa

from . import audit_files
from .audit import GENESIS
from .calls import DEFAULT_REGION
from .store.tables import audit as audit_table
from .store.tables import audit_delivery as state_table
from .store.tables import audit_log_files

log = logging.getLogger("keyplane.audit")

PERIOD = 300.0
MAX_RECORDS_PER_FILE = 50_000
MAX_RECORDS_PER_RUN = 500_000   # a backlog (a store older than delivery) goes out over several ticks
READ_BATCH = 2_000
AUDIT_DIR_ENV = "KEYPLANE_AUDIT_DIR"
RETENTION_ENV = "KEYPLANE_AUDIT_RETENTION"
DEFAULT_RETENTION = 24 * 3600.0


# ---- where, and for how long -------------------------------------------------------------------
def configure_environment(*, audit_dir: str | None = None, retention: float | None = None) -> None:
    """Set the folder and retention for every engine of this process and its children (server workers)."""
    if audit_dir:
        os.environ[AUDIT_DIR_ENV] = audit_dir if audit_dir == "off" else os.path.abspath(audit_dir)
    if retention is not None:
        os.environ[RETENTION_ENV] = str(parse_seconds(retention))


def audit_dir(engine, store) -> str | None:
    """The folder `store`'s trail is delivered to, or None: not delivered (nor pruned)."""
    configured = getattr(engine, "audit_dir", None) or os.environ.get(AUDIT_DIR_ENV)
    if configured == "off":
        return None
    if configured:
        return os.path.abspath(configured)
    if store.path:
        return os.path.join(os.path.dirname(os.path.abspath(store.path)), "audit")
    return None


def retention(engine) -> float:
    """Seconds a record stays in the store (queryable with `keyplane audit`) once delivered."""
    configured = getattr(engine, "audit_retention", None)
    if configured is None:
        configured = os.environ.get(RETENTION_ENV)
    return DEFAULT_RETENTION if configured in (None, "") else parse_seconds(configured)


def parse_seconds(text) -> float:
    """Seconds from a number or a duration such as 90s, 15m, 24h or 7d (ValueError otherwise)."""
    text = str(text).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    seconds = float(text[:-1]) * units[text[-1]] if text and text[-1] in units else float(text)
    if not seconds >= 0 or seconds == float("inf"):
        raise ValueError(f"not a duration: {text!r}")
    return seconds


def trail_of(engine, store) -> tuple[str, str, str]:
    """(account, Region, trail name) the store's digest files are filed under: the default store is
    the trail `keyplane` in the default Region; a store a Region map names is `keyplane-<Region>`."""
    if store.url == engine.url:
        return engine.default_account, DEFAULT_REGION, "keyplane"
    region = min((r for r, url in engine.region_urls.items() if url == store.url), default=DEFAULT_REGION)
    return engine.default_account, region, f"keyplane-{region}"


# ---- state -------------------------------------------------------------------------------------
@dataclass
class DeliveryState:
    """How far the trail has been delivered, listed in digests and pruned; `*_hash` is the chain
    hash of the record at that seq (where the chain goes on after it)."""
    delivered_seq: int = 0
    delivered_hash: str = GENESIS
    delivered_until: float = 0.0      # the period end delivery last ran for
    digested_seq: int = 0
    pruned_seq: int = 0
    pruned_hash: str = GENESIS


def state(conn) -> DeliveryState:
    row = conn.execute(state_table.select().where(state_table.c.id == 1)).first()
    if row is None:
        return DeliveryState()
    return DeliveryState(**{name: getattr(row, name) for name in DeliveryState.__dataclass_fields__})


def save_state(conn, **values) -> None:
    if conn.execute(sa.select(state_table.c.id).where(state_table.c.id == 1)).first() is None:
        conn.execute(state_table.insert().values(id=1, **{**asdict(DeliveryState()), **values}))
    else:
        conn.execute(state_table.update().where(state_table.c.id == 1).values(**values))


# ---- delivering --------------------------------------------------------------------------------
def deliver_due(engine, store, now: datetime) -> int:
    """Scheduled task: deliver the periods `now` has closed, once per period; log files written."""
    folder = audit_dir(engine, store)
    if folder is None:
        return 0
    cutoff = (now.timestamp() // PERIOD) * PERIOD
    with store.read() as conn:
        if state(conn).delivered_until >= cutoff:
            return 0
    return len(deliver(engine, store, folder, cutoff))


def deliver(engine, store, folder: str, cutoff: float) -> list[audit_files.LogFile]:
    """Write the undelivered records, in chain order up to the first with an event time at or after
    `cutoff` (a record buffered late waits for the next period), to log files, and record them."""
    engine.audit.flush(store)
    with store.read() as conn:
        start = state(conn)
    open_files: dict[tuple[str, str], audit_files.LogFile] = {}
    done: list[audit_files.LogFile] = []
    end, last_hash = start.delivered_seq, start.delivered_hash
    caught_up = True
    try:
        for n, (seq, when, account, region, body, digest) in enumerate(_records(store, start.delivered_seq)):
            if when >= cutoff:
                break
            if n == MAX_RECORDS_PER_RUN:
                caught_up = False
                break
            group = (account or engine.default_account, region)
            period_end = min((when // PERIOD) * PERIOD + PERIOD, cutoff)
            current = open_files.get(group)
            if current is None or current.period_end.timestamp() < period_end \
                    or current.count >= MAX_RECORDS_PER_FILE:
                if current is not None:
                    done.append(current.finish())
                current = open_files[group] = audit_files.LogFile(
                    folder, group[0], group[1], datetime.fromtimestamp(period_end, timezone.utc))
            current.add(seq, when, body.encode())
            end, last_hash = seq, digest
        for current in open_files.values():
            done.append(current.finish())
    except BaseException:
        for f in list(open_files.values()) + done:
            f.abort()
        raise
    with store.write() as conn:
        if state(conn).delivered_seq != start.delivered_seq:   # another process delivered them
            for f in done:
                f.abort()
            return []
        for f in done:
            conn.execute(audit_log_files.insert().values(
                object=f.object, hash_value=f.hash_value, records=json.dumps(f.ranges),
                record_count=f.count, size=f.size, oldest_event_time=f.oldest, newest_event_time=f.newest))
        save_state(conn, delivered_seq=end, delivered_hash=last_hash,
                   delivered_until=cutoff if caught_up else start.delivered_until)
    if done:
        log.info("audit: delivered records %d-%d to %d log file(s) in %s", start.delivered_seq + 1, end,
                 len(done), folder)
    return done


def _records(store, after: int):
    """(seq, event time, account, Region, record, hash) after seq `after`, in chain order, read in
    batches, each in its own short read (no lock held while files are written)."""
    columns = (audit_table.c.seq, audit_table.c.event_time, audit_table.c.account, audit_table.c.region,
               audit_table.c.record, audit_table.c.hash)
    while True:
        with store.read() as conn:
            rows = conn.execute(sa.select(*columns).where(audit_table.c.seq > after)
                                .order_by(audit_table.c.seq).limit(READ_BATCH)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def pending_files(conn) -> list:
    return conn.execute(audit_log_files.select().order_by(audit_log_files.c.seq)).all()


def log_file_entry(folder: str | None, row) -> dict:
    """A digest's `logFiles` entry for a delivered file; `keyplaneRecords` names the store seqs of its
    records, runs of consecutive ones as [first, last], so the chain can be walked across files."""
    return {
        "s3Bucket": folder,
        "s3Object": row.object,
        "hashValue": row.hash_value,
        "hashAlgorithm": "SHA-256",
        "newestEventTime": _iso(row.newest_event_time),
        "oldestEventTime": _iso(row.oldest_event_time),
        "keyplaneRecords": json.loads(row.records),
    }


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
