"""Time-driven work on the injectable clock: deletion windows, rotation, expiry, schedules.

A task is a function `(engine, store, now)` that does whatever has come due by `now` (in its own
transactions) and returns how many things it did; services.TASKS names every task. `run_due` runs
them, in name order, against every store; `keyplane tick` and the server's single scheduler runner
call it through `Engine.run_due()`. Nothing here sleeps: tests move the clock and call `run_due`.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("keyplane.scheduler")


def run_due(engine, tasks: dict[str, Callable], now=None) -> dict[str, int]:
    now = now or engine.clock.now()
    done: dict[str, int] = {}
    for store in engine.all_stores():
        for name in sorted(tasks):
            try:
                n = tasks[name](engine, store, now) or 0
            except Exception:
                log.exception("scheduled task %s failed; it runs again next tick", name)
                n = 0
            done[name] = done.get(name, 0) + n
    return done
