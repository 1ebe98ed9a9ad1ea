"""Time-driven work on the injectable clock: deletion windows, rotation, expiry, schedules.

A service registers a task with `@task("kms.delete-keys")`; the task gets `(engine, store, now)`,
does whatever has come due by `now` (in its own transactions) and returns how many things it did.
`Engine.run_due()` runs every task against every store; `keyplane tick` and the server's single
scheduler runner call it. Nothing here sleeps: tests move the clock and call `run_due`.
"""
from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger("keyplane.scheduler")
_TASKS: dict[str, Callable] = {}


def task(name: str):
    def register(fn: Callable) -> Callable:
        _TASKS[name] = fn
        return fn
    return register


def run_due(engine, now=None) -> dict[str, int]:
    from .registry import load_services
    load_services()
    now = now or engine.clock.now()
    done: dict[str, int] = {}
    for store in engine.all_stores():
        for name in sorted(_TASKS):
            try:
                n = _TASKS[name](engine, store, now) or 0
            except Exception:
                log.exception("scheduled task %s failed; it runs again next tick", name)
                n = 0
            done[name] = done.get(name, 0) + n
    return done
