"""Who writes buffered audit records, and how far they got: what lets `verify` find missing ones.

Records of read-only calls are buffered in memory before they are written (see audit.py), so a
process killed with -9 loses the records of calls it had already answered. Each process that
buffers records for a store is a *writer*: it has a row in `audit_writers` and numbers its buffered
records 1, 2, 3... in the order the calls were answered. The number travels inside the record (so the
hash chain covers it), the row keeps the last number written and whether the writer closed cleanly,
and the writer holds a lease (an flock on a file beside a SQLite store, an advisory lock on PostgreSQL) for as
long as it lives. `gaps` then finds both kinds of loss:

- a hole in a writer's numbers: those records were lost (the count is exact);
- a writer that is gone (its lease is free) without having closed: it stopped uncleanly after its
  last written number, and up to `max_pending` records of calls it answered may be missing.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from .store.tables import audit as audit_table
from .store.tables import audit_writers as writers

_LEASE_SPACE = 7261002       # PostgreSQL advisory-lock namespace of writer leases


@dataclass
class Gap:
    writer: str
    after: int            # the last number written before the gap
    missing: int          # records missing (exact for a hole, an upper bound for an unclean stop)
    exact: bool

    def describe(self) -> str:
        if self.exact:
            return (f"writer {self.writer}: {self.missing} record(s) missing after number {self.after}")
        return (f"writer {self.writer} stopped uncleanly after record number {self.after}: up to "
                f"{self.missing} record(s) of calls it had answered may be missing")


def _lock_key(writer: str) -> int:
    return int.from_bytes(hashlib.sha256(writer.encode()).digest()[:4], "big", signed=True)


def _lease_file(store, writer: str) -> str:
    # beside the store's file, so it goes wherever the store goes
    return f"{os.path.abspath(store.path)}-audit-writer-{writer}.lock"


class Writer:
    """This process's writer on one store: its id, next number and lease."""

    def __init__(self, store, now: float, max_pending: int):
        self.store = store
        self.id = str(uuid.uuid4())
        self.next = 1
        self.written = 0
        self._fd = None
        self._conn = None
        self._take_lease()
        with store.write() as conn:
            conn.execute(writers.insert().values(writer=self.id, started=now, written=0,
                                                 max_pending=max_pending, closed=False))

    def _take_lease(self) -> None:
        if self.store.dialect == "postgresql":
            self._conn = self.store._writer.connect()
            self._conn.exec_driver_sql(f"SELECT pg_advisory_lock({_LEASE_SPACE}, {_lock_key(self.id)})")
            self._conn.commit()
        elif self.store.path:
            self._fd = os.open(_lease_file(self.store, self.id), os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def number(self) -> int:
        n, self.next = self.next, self.next + 1
        return n

    def wrote(self, conn, last: int) -> None:
        """In the transaction that writes records up to `last`."""
        conn.execute(writers.update().where(writers.c.writer == self.id).values(written=last))

    def close(self, clean: bool) -> None:
        if clean:
            with self.store.write() as conn:
                conn.execute(writers.update().where(writers.c.writer == self.id).values(closed=True))
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._fd is not None:
            if clean:
                try:
                    os.unlink(_lease_file(self.store, self.id))
                except FileNotFoundError:
                    pass
            os.close(self._fd)
            self._fd = None


def _alive(store, writer: str, own: set) -> bool:
    if writer in own:
        return True
    if store.dialect == "postgresql":
        with store._writer.connect() as conn:
            key = _lock_key(writer)
            got = conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({_LEASE_SPACE}, {key})").scalar()
            if got:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({_LEASE_SPACE}, {key})")
            conn.commit()
            return not got
    if not store.path:
        return False
    try:
        fd = os.open(_lease_file(store, writer), os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def gaps(store, own: set, delivered: dict) -> list[Gap]:
    """Records of answered calls that never reached the trail; `own` names this process's live
    writers (already flushed by the caller), `delivered` the numbers of pruned records (from the
    log files) per writer."""
    numbers: dict[str, list[int]] = {writer: list(found) for writer, found in delivered.items()}
    with store.read() as conn:
        for (body,) in conn.execute(sa.select(audit_table.c.record).where(
                audit_table.c.record.like('%"auditSequence"%')).order_by(audit_table.c.seq)):
            mark = orjson.loads(body).get("auditSequence")
            if mark:
                numbers.setdefault(mark["writer"], []).append(mark["number"])
        rows = conn.execute(writers.select()).all()
    found = []
    for row in rows:
        expected = 1
        for n in sorted(numbers.get(row.writer, ())):
            if n > expected:
                found.append(Gap(row.writer, expected - 1, n - expected, True))
            expected = max(expected, n + 1)
        # a writer that committed every record before answering (max_pending 0) can lose none
        if not row.closed and row.max_pending and not _alive(store, row.writer, own):
            found.append(Gap(row.writer, expected - 1, row.max_pending, False))
    return found
