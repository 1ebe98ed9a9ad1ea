"""The audit trail: every call, successful or not, as a CloudTrail-shaped record, hash-chained.

Records of state-changing calls are written in the same transaction as the change. Records of
read-only calls (the cryptographic operations, Describe/Get/List) are buffered and written in
batches by a background flusher (at most ~250 ms later, and at exit), which is what lets
Encrypt run at tens of thousands of calls per second. Each row carries the SHA-256 of the previous
row's hash and its own record, so deleting or editing a row breaks the chain (`verify`).
Plaintext, ciphertext, data keys, secret values and tokens never enter a record: parameters pass
through `apimodel.audit_view` first.
"""
from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
import weakref

import orjson
import sqlalchemy as sa

from .store.tables import audit as audit_table

log = logging.getLogger("keyplane.audit")
GENESIS = "0" * 64
FLUSH_INTERVAL = 0.25
_trails: "weakref.WeakSet[AuditTrail]" = weakref.WeakSet()


_COLUMNS = ("event_time", "event_id", "request_id", "region", "account", "source", "event_name",
            "principal_arn", "resource", "error_code", "record", "prev_hash", "hash")
# a plain executemany: the audit insert is on every call's path, SQLAlchemy's per-row work is not
_INSERT = f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES ({{marks}})"


class AuditTrail:
    def __init__(self):
        self._buffers: dict = {}          # store -> [event]
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        _trails.add(self)

    # ---- writing -----------------------------------------------------------------------------
    def record(self, store, event: dict) -> None:
        """Append an event: in the open write transaction if there is one, else buffered."""
        if store.in_write:
            with store.write() as conn:
                self._append(conn, store, [event])
            return
        with self._lock:
            self._buffers.setdefault(store, []).append(event)
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="keyplane-audit", daemon=True)
                self._thread.start()

    def _append(self, conn, store, events: list) -> None:
        # the buffered records of this store go first so the chain keeps call order
        with self._lock:
            pending = self._buffers.pop(store, [])
        events = pending + events
        if not events:
            return
        last = conn.execute(sa.select(audit_table.c.hash).order_by(audit_table.c.seq.desc()).limit(1)).first()
        prev = last[0] if last else GENESIS
        rows = []
        sha256 = hashlib.sha256
        for event in events:
            if callable(event):
                event = event()
            when = event.pop("_time")
            raw = orjson.dumps(event, default=str)
            body = raw.decode()
            digest = sha256(prev.encode() + raw).hexdigest()
            resources = event.get("resources") or ()
            rows.append((when, event["eventID"], event.get("requestID"), event["awsRegion"],
                         event.get("recipientAccountId"), event["eventSource"], event["eventName"],
                         (event.get("userIdentity") or {}).get("arn"),
                         resources[0]["ARN"] if resources else None, event.get("errorCode"),
                         body, prev, digest))
            prev = digest
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(_INSERT.format(marks=", ".join([mark] * len(_COLUMNS))), rows)

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
            except Exception:  # a flush failure must never take a request down; it retries
                log.exception("audit flush failed; will retry")

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(FLUSH_INTERVAL)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        self.flush()
        self._closed = True
        self._wake.set()

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
        """Walk the chain: (intact, rows checked, first broken seq)."""
        self.flush(store)
        prev, n = GENESIS, 0
        with store.read() as conn:
            for seq, body, prev_hash, digest in conn.execute(sa.select(
                    audit_table.c.seq, audit_table.c.record, audit_table.c.prev_hash,
                    audit_table.c.hash).order_by(audit_table.c.seq)):
                if prev_hash != prev or hashlib.sha256((prev + body).encode()).hexdigest() != digest:
                    return False, n, seq
                prev, n = digest, n + 1
        return True, n, None


@atexit.register
def _flush_all() -> None:
    for trail in list(_trails):
        try:
            trail.flush()
        except Exception:
            pass
