"""The audit trail: every call, successful or not, as a CloudTrail-shaped record, hash-chained.

Records of state-changing calls are written in the same transaction as the change. Records of
read-only calls (the cryptographic operations, Describe/Get/List) are buffered and written in
batches by a background flusher (at most ~250 ms later, and at exit), which is what lets
Encrypt run at tens of thousands of calls per second. Each row carries the SHA-256 of the previous
row's hash and its own record, so deleting or editing a row breaks the chain (`verify`).
Plaintext, ciphertext, data keys, secret values and tokens never enter a record: parameters pass
through `apimodel.audit_view` first.

Every caller's input is hostile, and one caller's record must never cost another theirs:
- a record is always serialisable: what JSON cannot carry (lone surrogates, integers wider than 64
  bits, non-string keys) is escaped or turned into text, and sizes are bounded (strings, list
  lengths, nesting, and `requestParameters`/`responseElements` at CloudTrail's 100 KB);
- a record that still cannot be built or written is replaced by a minimal one naming the call;
- a failed flush puts its records back and says so in the log; the buffer is bounded
  (`max_pending` records): a caller who finds it full writes it out itself (back-pressure), and
  if that fails too the call fails rather than go unrecorded;
- buffered records are numbered per writer (audit_writers.py), so `gaps` finds records of
  answered calls that never arrived: a hole, or a writer killed with records in memory (at most
  `max_pending` of them).

The records of successful calls that use resources (operations marked `tracks_use`) also keep each
resource's last use (`last_use`), in the same transaction: one row per resource per batch, newest
use winning whichever server wrote it, so the hot path pays nothing for it.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import threading
import time
import weakref

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from . import audit_writers
from .store.tables import RESOURCE_USES_SINCE, meta, resource_uses
from .store.tables import audit as audit_table
from .store.tables import audit_delivery as delivery_table

log = logging.getLogger("keyplane.audit")
GENESIS = "0" * 64
FLUSH_INTERVAL = 0.25
# the most records of answered read-only calls held in memory per store (what kill -9 can lose)
DEFAULT_MAX_PENDING = 1000
MAX_PENDING_ENV = "KEYPLANE_AUDIT_MAX_PENDING"
# CloudTrail: requestParameters and responseElements hold at most 100 KB
# (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)
MAX_ELEMENTS_BYTES = 100 * 1024
MAX_STRING = 32 * 1024          # a key policy (32 KB) stays whole
MAX_ITEMS = 100
MAX_DEPTH = 16
_trails: "weakref.WeakSet[AuditTrail]" = weakref.WeakSet()


_COLUMNS = ("event_time", "region", "account", "event_name", "resource", "error_code", "record", "hash")
# column widths (PostgreSQL enforces them: a long value must not fail a batch of other callers')
_WIDTHS = {c.name: getattr(c.type, "length", None) for c in audit_table.columns}
# a plain executemany: the audit insert is on every call's path, SQLAlchemy's per-row work is not
_INSERT = f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({{marks}})"


class AuditUnavailable(Exception):
    """The buffer is full and cannot be written: the call must not be answered unrecorded."""


class AuditTrail:
    def __init__(self, max_pending: int | None = None):
        if max_pending is None:
            max_pending = int(os.environ.get(MAX_PENDING_ENV) or DEFAULT_MAX_PENDING)
        # 0: no call is answered before its record is committed (group commit across threads)
        self.max_pending = max_pending
        self._written = threading.Condition()
        self._buffers: dict = {}          # store -> [(number, event or builder)]
        self._writers: dict = {}          # store -> audit_writers.Writer
        self._lock = threading.Lock()
        self._writer_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.failed_flushes = 0
        _trails.add(self)

    # ---- writing -----------------------------------------------------------------------------
    def record(self, store, event) -> None:
        """Append an event: in the open write transaction if there is one, else buffered."""
        if store.in_write:
            with store.write() as conn:
                self._append(conn, store, [(None, event)])
            return
        writer = self._writers.get(store) or self._writer(store)
        if self.max_pending == 0:
            self._record_durably(store, writer, event)
            return
        if len(self._buffers.get(store, ())) >= self.max_pending:
            self.flush(store)       # back-pressure: the caller who finds the buffer full writes it
            if len(self._buffers.get(store, ())) >= self.max_pending:
                raise AuditUnavailable("the audit trail cannot be written")
        with self._lock:
            self._buffers.setdefault(store, []).append((writer.number(), event))
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="keyplane-audit", daemon=True)
                self._thread.start()

    def _record_durably(self, store, writer, event) -> None:
        """Buffer the record, then return only once it is committed: whoever finds records waiting
        writes all of them in one transaction, so concurrent callers share one commit. Records
        of calls that failed for want of a commit stay queued (the work was done), but never more
        than DEFAULT_MAX_PENDING of them."""
        if len(self._buffers.get(store, ())) >= DEFAULT_MAX_PENDING:
            self.flush(store)
            if len(self._buffers.get(store, ())) >= DEFAULT_MAX_PENDING:
                raise AuditUnavailable("the audit trail cannot be written")
        with self._lock:
            number = writer.number()
            self._buffers.setdefault(store, []).append((number, event))
        while True:
            with self._written:
                if writer.written >= number:
                    return
            with self._lock:
                waiting = any(n == number for n, _ in self._buffers.get(store, ()))
            if waiting:
                self.flush(store)
                with self._lock:
                    if any(n == number for n, _ in self._buffers.get(store, ())):
                        raise AuditUnavailable("the audit trail cannot be written")
            else:               # another caller's transaction holds it: wait for its commit
                with self._written:
                    if writer.written < number:
                        self._written.wait(0.05)

    def _writer(self, store) -> "audit_writers.Writer":
        with self._writer_lock:
            writer = self._writers.get(store)
            if writer is None:
                writer = audit_writers.Writer(store, time.time(), self.max_pending)
                self._writers[store] = writer
            return writer

    def _append(self, conn, store, events: list) -> None:
        # the buffered records of this store go first so the chain keeps call order; if the
        # transaction rolls back they go back to the buffer, ahead of anything newer
        with self._lock:
            pending = self._buffers.pop(store, [])
        if pending:
            store.on_rollback(lambda: self._give_back(store, pending))
        events = pending + events
        if not events:
            return
        last = conn.execute(sa.select(audit_table.c.hash).order_by(audit_table.c.seq.desc()).limit(1)).first()
        prev = last[0] if last else GENESIS
        rows = []
        used: dict = {}          # resource -> the newest successful use among these events
        sha256 = hashlib.sha256
        writer = self._writers.get(store)
        last_number = None
        for number, event in events:
            event, raw, uses = _serialised(event, writer.id if number is not None and writer else None, number)
            if number is not None:
                last_number = number
            digest = sha256(prev.encode() + raw).hexdigest()
            rows.append(_row(event, raw.decode(), digest))
            prev = digest
            if uses and not event.get("errorCode"):
                for resource in uses:
                    used[resource] = event
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(_INSERT.format(marks=", ".join([mark] * len(_COLUMNS))), rows)
        if used:
            _record_uses(conn, used)
        if last_number is not None and writer is not None:
            writer.wrote(conn, last_number)
            store.after_commit(lambda: self._committed(writer, last_number))

    def _committed(self, writer, last: int) -> None:
        with self._written:
            writer.written = max(writer.written, last)
            self._written.notify_all()

    def _give_back(self, store, pending: list) -> None:
        with self._lock:
            self._buffers[store] = pending + self._buffers.get(store, [])
        with self._written:
            self._written.notify_all()

    def flush(self, store=None) -> None:
        with self._lock:
            stores = [store] if store is not None else list(self._buffers)
        for s in stores:
            with self._lock:
                if not self._buffers.get(s):
                    continue
            try:
                with s.write() as conn:
                    self._append(conn, s, [])
            except Exception:  # the records went back to the buffer; the next flush retries them
                self.failed_flushes += 1
                log.exception("audit flush failed (%d records kept for the next attempt)",
                              len(self._buffers.get(s, ())))

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        # the flusher thread stops first: a flush of its still running when the engine then
        # disposes the stores wrote into a closed SQLite connection (a crash, seen in the tests)
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()
        for store, writer in list(self._writers.items()):
            try:
                writer.close(clean=not self._buffers.get(store))
            except Exception:
                log.exception("could not close the audit writer of %s", store.url)
        self._writers.clear()

    # ---- reading -----------------------------------------------------------------------------
    def query(self, store, *, resource: str | None = None, event_name: str | None = None,
              limit: int = 50) -> list[dict]:
        """Records, newest first; `resource` matches a key id or ARN."""
        self.flush(store)
        q = sa.select(audit_table.c.record).order_by(audit_table.c.seq.desc()).limit(limit)
        if resource:
            q = q.where(audit_table.c.resource.like(f"%{resource}"))
        if event_name:
            q = q.where(audit_table.c.event_name == event_name)
        with store.read() as conn:
            return [json.loads(r[0]) for r in conn.execute(q)]

    def verify(self, store) -> tuple[bool, int, int | None]:
        """Walk the chain of the records in the store, from where pruning left it (the hash of the
        last pruned record) or the start: (intact, rows checked, first broken seq)."""
        self.flush(store)
        n = 0
        with store.read() as conn:
            anchor = conn.execute(sa.select(delivery_table.c.pruned_seq, delivery_table.c.pruned_hash)
                                  .where(delivery_table.c.id == 1)).first()
            after, prev = anchor if anchor is not None else (0, GENESIS)
            for seq, body, digest in conn.execute(sa.select(
                    audit_table.c.seq, audit_table.c.record, audit_table.c.hash)
                    .where(audit_table.c.seq > after).order_by(audit_table.c.seq)):
                if hashlib.sha256((prev + body).encode()).hexdigest() != digest:
                    return False, n, seq
                prev, n = digest, n + 1
        return True, n, None

    def last_use(self, store, resource: str) -> dict | None:
        """The newest successful use of `resource` recorded on this store (event_name, event_time,
        event_id, request_id), this process's buffered records included; another server's
        buffered ones arrive with its next flush (at most FLUSH_INTERVAL later)."""
        self.flush(store)
        with store.read() as conn:
            row = conn.execute(resource_uses.select().where(resource_uses.c.resource == resource)).first()
        return dict(row._mapping) if row is not None else None

    def uses_tracked_since(self, store) -> float:
        """From when `last_use` knows every use (0: since the store's first call)."""
        with store.read() as conn:
            row = conn.execute(meta.select().where(meta.c.name == RESOURCE_USES_SINCE)).first()
        return float(row.value) if row is not None else 0.0

    def gaps(self, store, delivered: dict | None = None) -> list["audit_writers.Gap"]:
        """Records of answered calls missing from the trail (see audit_writers); `delivered`: writer
        -> numbers found in the log files, for records pruned from the store."""
        self.flush(store)
        return audit_writers.gaps(store, {w.id for w in self._writers.values()}, delivered or {})


def _row(event: dict, body: str, digest: str) -> tuple:
    resources = event.get("resources") or ()
    values = (event["_time"], event["awsRegion"], event.get("recipientAccountId"), event["eventName"],
              resources[0]["ARN"] if resources else None, event.get("errorCode"), body, digest)
    return tuple(v[:_WIDTHS[c]] if isinstance(v, str) and _WIDTHS.get(c) else v
                 for c, v in zip(_COLUMNS, values))


def _record_uses(conn, used: dict) -> None:
    """Upsert each resource's newest use; an older one (another server's late batch) changes
    nothing. Rows go in resource order, so concurrent writers lock them in the same order."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(resource_uses)
    columns = ("event_name", "event_time", "event_id", "request_id")
    statement = insert.on_conflict_do_update(
        index_elements=[resource_uses.c.resource], set_={c: insert.excluded[c] for c in columns},
        where=resource_uses.c.event_time <= insert.excluded.event_time)
    conn.execute(statement, [
        {"resource": resource[:2048], "event_name": str(event["eventName"])[:64], "event_time": event["_time"],
         "event_id": str(event["eventID"])[:36],
         "request_id": str(event["requestID"])[:64] if event.get("requestID") else None}
        for resource, event in sorted(used.items())])


def _serialised(event, writer: str | None, number: int | None) -> tuple[dict, bytes, tuple]:
    """(event, its JSON, the resources it used): never fails, never larger than the bounds,
    whatever the caller sent."""
    uses = ()
    try:
        if callable(event):
            event = event()
        uses = event.pop("_uses", None) or ()
    except Exception:  # noqa: BLE001 - the record of one call must never cost another theirs
        log.exception("an audit record could not be built; writing a minimal one")
        return (*_minimal(event, writer, number), uses)
    return (*_serialised_record(event, writer, number), uses)


def _serialised_record(event: dict, writer: str | None, number: int | None) -> tuple[dict, bytes]:
    try:
        if number is not None:
            event["auditSequence"] = {"writer": writer, "number": number}
        when = event.pop("_time")
        try:
            raw = orjson.dumps(event, default=str)
            if len(raw) <= MAX_ELEMENTS_BYTES:
                event["_time"] = when
                return event, raw
        except (TypeError, orjson.JSONEncodeError):
            pass
        event = _bounded(event, 0)
        for name in ("requestParameters", "responseElements", "additionalEventData"):
            value = event.get(name)
            if value is not None and len(orjson.dumps(value)) > MAX_ELEMENTS_BYTES:
                event[name] = {"keyplaneTruncated": True}
        raw = orjson.dumps(event)
        event["_time"] = when
        return event, raw
    except Exception:  # noqa: BLE001 - the record of one call must never cost another theirs
        log.exception("an audit record could not be built; writing a minimal one")
        return _minimal(event, writer, number)


def _minimal(event, writer, number) -> tuple[dict, bytes]:
    source = event if isinstance(event, dict) else {}
    keep = {k: _bounded(source.get(k), 0) for k in ("eventTime", "eventSource", "eventName", "awsRegion",
                                                   "requestID", "userIdentity", "errorCode")}
    minimal = {"eventVersion": "1.08", **keep, "eventID": str(source.get("eventID") or os.urandom(16).hex()),
               "eventSource": keep["eventSource"] or "keyplane", "eventName": keep["eventName"] or "Unknown",
               "awsRegion": keep["awsRegion"] or "unknown", "keyplaneRecordIncomplete": True}
    if number is not None:
        minimal["auditSequence"] = {"writer": writer, "number": number}
    raw = orjson.dumps(minimal)
    minimal["_time"] = source.get("_time") if isinstance(source.get("_time"), float) else time.time()
    return minimal, raw


def _bounded(value, depth: int):
    """`value` made JSON-safe and bounded: escaped surrogates, wide integers as text, cut strings,
    lists and maps, and no deeper than MAX_DEPTH."""
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            value = value[:MAX_STRING] + "..."
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if -2**63 <= value < 2**64 else str(value)
    if depth >= MAX_DEPTH:
        return "..."
    if isinstance(value, dict):
        items = list(value.items())[:MAX_ITEMS]
        return {_bounded(str(k), depth + 1): _bounded(v, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [_bounded(v, depth + 1) for v in value[:MAX_ITEMS]]
    return _bounded(str(value), depth + 1)


@atexit.register
def _close_all() -> None:
    # a process that exits without closing its engine still writes its records and closes its
    # writers cleanly, so its exit is not mistaken for a crash
    for trail in list(_trails):
        try:
            trail.close()
        except Exception:
            pass
