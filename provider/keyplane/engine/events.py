"""The event bus: EventBridge-shaped events (parameter-policy actions, parameter changes, rotation,
deletion) and their delivery to sinks.

An event is written to the store's outbox in the same transaction as the change it reports, with
one delivery row per configured sink, so a crash or a receiver that is down loses nothing. The
scheduler (`~events.deliver`) delivers what is due: a JSON-lines file sink appends a line, a webhook
sink POSTs the JSON. A failed delivery is retried with exponential backoff measured on the injected
clock (never by sleeping); deliveries to one sink keep their order, so a down receiver holds back
its own queue and nobody else's. Delivered rows are removed. A delivery that fails
`max_attempts` times, or is still undelivered `max_age` seconds after its event, moves to the
dead-letter list (EventBridge's rule-target defaults: 185 attempts, 24 hours) and stops holding
back its sink; `keyplane events` lists, retries and drops what is pending or dead.

Sinks are named by a spec string that any process can rebuild a sink from (`file:/path/events.jsonl`,
`webhook:https://host/hook`), so whichever server runs the scheduler can deliver what another
server emitted. They come from `configure(engine, file=..., webhooks=[...])` (the server's options)
or, when nothing was configured, from KEYPLANE_EVENTS_FILE and KEYPLANE_EVENTS_WEBHOOKS (comma
separated).
"""
from __future__ import annotations

import json
import logging
import os
import threading
import urllib.error
import urllib.request
import uuid
from datetime import datetime

import sqlalchemy as sa

from .store.tables import deliveries, outbox

log = logging.getLogger("keyplane.events")


BACKOFF_FIRST_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 900.0
WEBHOOK_TIMEOUT_SECONDS = 5.0
BATCH = 500
# when to give up on a delivery: EventBridge's defaults for a rule target ("retries sending the
# event for 24 hours and up to 185 times"),
# https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html
MAX_ATTEMPTS = 185
MAX_AGE_SECONDS = 86400.0


def retry_policy(engine) -> tuple[int, float]:
    """(max attempts, max age in seconds): `configure`'s, else KEYPLANE_EVENTS_MAX_ATTEMPTS /
    KEYPLANE_EVENTS_MAX_AGE, else EventBridge's defaults."""
    policy = getattr(engine, "event_retry_policy", None)
    if policy is not None:
        return policy
    return (int(os.environ.get("KEYPLANE_EVENTS_MAX_ATTEMPTS") or MAX_ATTEMPTS),
            float(os.environ.get("KEYPLANE_EVENTS_MAX_AGE") or MAX_AGE_SECONDS))


def backoff(attempts: int) -> float:
    """Seconds to wait after the `attempts`-th failure: 5 s, 10 s, 20 s ... at most 15 minutes."""
    return min(BACKOFF_FIRST_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_MAX_SECONDS)


# ---- sinks -------------------------------------------------------------------------------------
class JsonLinesSink:
    """Appends one JSON document per line; the line is flushed to disk before it counts as sent."""

    _locks: dict[str, threading.Lock] = {}

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self.spec = "file:" + self.path

    def send(self, body: str) -> None:
        lock = self._locks.setdefault(self.path, threading.Lock())
        with lock:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            # events name parameters and secrets: private to the server's user, like the store
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with open(fd, "a", encoding="utf-8") as f:
                f.write(body + "\n")
                f.flush()
                os.fsync(f.fileno())


class WebhookSink:
    """POSTs the event as JSON; any 2xx is a delivery, anything else (or no answer) a retry."""

    def __init__(self, url: str):
        self.url = url
        self.spec = "webhook:" + url

    def send(self, body: str) -> None:
        event_id = json.loads(body).get("id", "")
        req = urllib.request.Request(self.url, data=body.encode(), method="POST", headers={
            "Content-Type": "application/json", "User-Agent": "keyplane-events",
            "X-Keyplane-Event-Id": event_id})
        try:
            with urllib.request.urlopen(req, timeout=WEBHOOK_TIMEOUT_SECONDS) as resp:
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"HTTP {exc.code}") from None
        if not 200 <= status < 300:
            raise RuntimeError(f"HTTP {status}")


def sink_from_spec(spec: str):
    kind, _, target = spec.partition(":")
    if kind == "file":
        return JsonLinesSink(target)
    if kind == "webhook":
        return WebhookSink(target)
    raise ValueError(f"unknown event sink {spec!r}")


def configure(engine, *, file: str | None = None, webhooks=(), max_attempts: int | None = None,
              max_age: float | None = None) -> list[str]:
    """Set the sinks events emitted through `engine` go to (replacing the environment's), and
    optionally when to give up on a delivery."""
    if max_attempts is not None or max_age is not None:
        attempts, age = retry_policy(engine)
        engine.event_retry_policy = (max_attempts or attempts, max_age or age)
    specs = []
    if file:
        specs.append(JsonLinesSink(file).spec)
    specs.extend(WebhookSink(url).spec for url in webhooks)
    engine.event_sinks = specs
    return specs


def configure_environment(*, file: str | None = None, webhooks=(), max_attempts: int | None = None,
                          max_age: float | None = None) -> None:
    """Set the sinks (and retry limits) for every engine of this process and its children (server
    workers) that is not configured otherwise."""
    if max_attempts is not None:
        os.environ["KEYPLANE_EVENTS_MAX_ATTEMPTS"] = str(int(max_attempts))
    if max_age is not None:
        os.environ["KEYPLANE_EVENTS_MAX_AGE"] = str(float(max_age))
    if file:
        os.environ["KEYPLANE_EVENTS_FILE"] = os.path.abspath(file)
    if webhooks:
        os.environ["KEYPLANE_EVENTS_WEBHOOKS"] = ",".join(webhooks)


def sinks_for(engine) -> list[str]:
    specs = getattr(engine, "event_sinks", None)
    if specs is None:
        specs = []
        if os.environ.get("KEYPLANE_EVENTS_FILE"):
            specs.append(JsonLinesSink(os.environ["KEYPLANE_EVENTS_FILE"]).spec)
        for url in filter(None, (os.environ.get("KEYPLANE_EVENTS_WEBHOOKS") or "").split(",")):
            specs.append(WebhookSink(url.strip()).spec)
    return specs


# ---- emitting ----------------------------------------------------------------------------------
def event(detail_type: str, source: str, *, account: str, region: str, time: datetime,
          resources: list[str], detail: dict) -> dict:
    """An event in EventBridge's envelope."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": account, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": resources, "detail": detail}


def emit(engine, conn, evt: dict, now: datetime) -> None:
    """Queue `evt` for every sink, inside the caller's transaction (it commits with the change).
    With no sink configured there is no one to tell, and nothing is kept."""
    sinks = sinks_for(engine)
    if not sinks:
        return
    at = now.timestamp()
    seq = conn.execute(outbox.insert().values(event_id=evt["id"], created=at, detail_type=evt["detail-type"],
                                              body=json.dumps(evt, sort_keys=True))).inserted_primary_key[0]
    for spec in sinks:
        conn.execute(deliveries.insert().values(seq=seq, sink=spec, attempts=0, next_attempt_at=at))


# ---- delivering --------------------------------------------------------------------------------
def deliver_due(engine, store, now: datetime) -> int:
    """Send what is due, sink by sink in event order; returns how many deliveries succeeded. A
    delivery past its retry limits goes to the dead-letter list instead of being tried again."""
    at = now.timestamp()
    max_attempts, max_age = retry_policy(engine)
    with store.read() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.seq, deliveries.c.sink, deliveries.c.attempts,
                      deliveries.c.next_attempt_at, outbox.c.body, outbox.c.created)
            .join(outbox, outbox.c.seq == deliveries.c.seq).where(deliveries.c.dead_at.is_(None))
            .order_by(deliveries.c.sink, deliveries.c.seq).limit(BATCH)).all()
    done: list[tuple[int, str]] = []
    failed: list[tuple[int, str, int, str, bool]] = []
    blocked: set[str] = set()
    for row in rows:
        if row.sink in blocked:
            continue
        if row.next_attempt_at > at:
            blocked.add(row.sink)      # this sink's oldest event waits: keep the order
            continue
        try:
            sink_from_spec(row.sink).send(row.body)
        except Exception as exc:  # noqa: BLE001 - any failure is a retry later (or a dead letter)
            attempts = row.attempts + 1
            dead = attempts >= max_attempts or at - row.created >= max_age
            log.warning("event %s to %s failed (attempt %d%s): %s", row.seq, row.sink, attempts,
                        ", giving up: dead-lettered" if dead else "", exc)
            failed.append((row.seq, row.sink, attempts, str(exc)[:500], dead))
            if not dead:
                blocked.add(row.sink)
            continue
        done.append((row.seq, row.sink))
    if done or failed:
        with store.write() as conn:
            for seq, spec in done:
                conn.execute(deliveries.delete().where(deliveries.c.seq == seq, deliveries.c.sink == spec))
            for seq, spec, attempts, error, dead in failed:
                conn.execute(deliveries.update().where(deliveries.c.seq == seq, deliveries.c.sink == spec)
                             .values(attempts=attempts, next_attempt_at=at + backoff(attempts), last_error=error,
                                     dead_at=at if dead else None))
            _drop_orphans(conn, {seq for seq, _ in done})
    return len(done)


def _drop_orphans(conn, seqs: set[int]) -> None:
    """Events none of whose deliveries remain."""
    if seqs:
        remaining = sa.select(deliveries.c.seq).where(deliveries.c.seq.in_(seqs))
        conn.execute(outbox.delete().where(outbox.c.seq.in_(seqs), outbox.c.seq.not_in(remaining)))


def pending(store, *, dead: bool | None = None) -> list[dict]:
    """Undelivered events with their sinks and attempts (`keyplane events`; tests): all of them,
    only the dead letters (dead=True) or only those still being tried (dead=False)."""
    query = sa.select(deliveries, outbox.c.body).join(outbox, outbox.c.seq == deliveries.c.seq)
    if dead is not None:
        query = query.where(deliveries.c.dead_at.isnot(None) if dead else deliveries.c.dead_at.is_(None))
    with store.read() as conn:
        rows = conn.execute(query.order_by(deliveries.c.seq)).all()
    return [{"seq": r.seq, "sink": r.sink, "attempts": r.attempts, "next_attempt_at": r.next_attempt_at,
             "last_error": r.last_error, "dead": r.dead_at is not None, "dead_at": r.dead_at,
             "event": json.loads(r.body)} for r in rows]


def _chosen(seqs, sink: str | None):
    cond = sa.true()
    if seqs is not None:
        cond = sa.and_(cond, deliveries.c.seq.in_(list(seqs)))
    if sink is not None:
        cond = sa.and_(cond, deliveries.c.sink == sink)
    return cond


def retry(store, now: datetime, *, seqs=None, sink: str | None = None) -> int:
    """Put dead letters (all, or those of `seqs` / `sink`) back in line, due now, attempts reset."""
    with store.write() as conn:
        return conn.execute(deliveries.update().where(deliveries.c.dead_at.isnot(None), _chosen(seqs, sink))
                            .values(dead_at=None, attempts=0, next_attempt_at=now.timestamp())).rowcount


def drop(store, *, seqs=None, sink: str | None = None, dead_only: bool = True) -> int:
    """Forget deliveries (dead letters only, unless `dead_only` is False); their events go with the last one."""
    cond = _chosen(seqs, sink)
    if dead_only:
        cond = sa.and_(cond, deliveries.c.dead_at.isnot(None))
    with store.write() as conn:
        hit = {r.seq for r in conn.execute(sa.select(deliveries.c.seq).where(cond))}
        n = conn.execute(deliveries.delete().where(cond)).rowcount
        _drop_orphans(conn, hit)
    return n


def deliver_task(engine, store, now) -> int:
    return deliver_due(engine, store, now)
