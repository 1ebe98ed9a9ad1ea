"""The injectable clock.

Every time-driven rule (deletion windows, rotation periods, parameter expiry, rotation schedules,
SigV4 skew) asks a clock for "now"; nothing sleeps. Tests use `ManualClock` and move it.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone


def utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


class Clock:
    """Wall-clock time, always timezone-aware UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def timestamp(self) -> float:
        return self.now().timestamp()


class ManualClock(Clock):
    """A clock that only moves when told to; `advance` is how tests pass days."""

    def __init__(self, start: datetime | None = None):
        self._now = utc(start) if start else datetime.now(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = utc(when)


