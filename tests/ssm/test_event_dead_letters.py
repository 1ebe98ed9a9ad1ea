"""Event deliveries give up (issue 17, finding 13): after `max_attempts` failures or `max_age`
seconds a delivery goes to the dead-letter list, stops holding back its sink, and can be retried
or dropped. Defaults follow EventBridge's rule targets, "retries sending the event for 24 hours and
up to 185 times" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from keyplane.engine import events
from test_policies_events import Receiver, free_port


@pytest.fixture
def ssm(kp):
    return kp.client("ssm", region="us-east-1")


def _names(rows):
    return [r["event"]["detail"]["name"] for r in rows]


def test_delivery_to_a_gone_webhook_is_dead_lettered_after_max_attempts_and_can_be_retried(ssm, engine, clock):
    port = free_port()              # nothing listens here
    events.configure(engine, webhooks=[f"http://127.0.0.1:{port}/hook"], max_attempts=3)
    store = engine.store_for("us-east-1")
    ssm.put_parameter(Name="/dl/one", Value="1", Type="String")
    for wait in (0, 5, 10):         # 5 s doubling: attempts 1, 2, 3
        clock.advance(seconds=wait)
        engine.run_due()
    dead = events.pending(store, dead=True)
    assert _names(dead) == ["/dl/one"] and dead[0]["attempts"] == 3 and dead[0]["last_error"]
    assert events.pending(store, dead=False) == []
    clock.advance(hours=1)
    engine.run_due()
    assert events.pending(store, dead=True)[0]["attempts"] == 3   # given up on: not tried again

    receiver = Receiver(port)       # the receiver is back
    try:
        ssm.put_parameter(Name="/dl/two", Value="2", Type="String")
        engine.run_due()            # the dead letter does not hold back the sink
        assert [e["detail"]["name"] for e in receiver.received] == ["/dl/two"]
        assert events.retry(store, clock.now()) == 1
        engine.run_due()
        assert [e["detail"]["name"] for e in receiver.received] == ["/dl/two", "/dl/one"]
        assert events.pending(store) == []
    finally:
        receiver.close()


def test_delivery_older_than_max_age_is_dead_lettered_and_can_be_dropped(ssm, engine, clock):
    events.configure(engine, webhooks=[f"http://127.0.0.1:{free_port()}/hook"])
    assert events.retry_policy(engine) == (185, 86400.0)
    store = engine.store_for("us-east-1")
    ssm.put_parameter(Name="/dl/old", Value="1", Type="String")
    engine.run_due()
    assert events.pending(store, dead=False)[0]["attempts"] == 1
    clock.advance(hours=24, seconds=1)
    engine.run_due()
    assert _names(events.pending(store, dead=True)) == ["/dl/old"]
    assert events.drop(store) == 1
    assert events.pending(store) == []
    with store.read() as conn:      # the event went with its last delivery
        assert conn.execute(events.outbox.select()).first() is None


def test_events_file_is_private(ssm, engine, tmp_path):
    import os
    import stat
    path = tmp_path / "ev" / "events.jsonl"
    events.configure(engine, file=str(path))
    ssm.put_parameter(Name="/dl/file", Value="1", Type="String")
    engine.run_due()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_keyplane_events_lists_retries_and_drops_dead_letters(tmp_path):
    """`keyplane events` (list, retry, drop) on a state folder whose webhook is gone."""
    import json as _json
    import subprocess
    import sys

    import keyplane
    from keyplane.engine.core import Engine
    state = str(tmp_path / "state")
    eng = Engine(state)
    events.configure(eng, webhooks=[f"http://127.0.0.1:{free_port()}/hook"], max_attempts=1)
    keyplane.connect(engine=eng).client("ssm").put_parameter(Name="/cli/p", Value="1", Type="String")
    eng.run_due()
    eng.close()

    import os
    from pathlib import Path
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "provider"))

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "keyplane.cli", "events", *args, "--state", state],
                             capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stderr
        return out.stdout
    rows = [_json.loads(line) for line in cli("list", "--dead").splitlines()]
    assert len(rows) == 1 and rows[0]["dead"] and rows[0]["attempts"] == 1
    assert rows[0]["detail-type"] == "Parameter Store Change"
    assert cli("retry").startswith("1 ")
    assert [_json.loads(line)["dead"] for line in cli("list").splitlines()] == [False]
    assert cli("drop", "--pending").startswith("1 ")
    assert cli("list") == ""
