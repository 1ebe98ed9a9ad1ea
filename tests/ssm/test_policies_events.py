"""Parameter policies on the injected clock, and the event bus delivering their events to a JSON-lines
file and to real webhook receivers (one of them down at first)."""
from __future__ import annotations

import json
import socket
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from keyplane.engine import events
from keyplane.engine.ssm import references


@pytest.fixture
def ssm(kp):
    return kp.client("ssm", region="us-east-1")


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


class Receiver:
    """A real HTTP webhook receiver on 127.0.0.1, in a thread."""

    def __init__(self, port: int = 0):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def iso(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def policies(*items) -> str:
    return json.dumps(list(items))


def expiration(at) -> dict:
    return {"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": iso(at)}}


def read_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_expiration_deletes_parameter_and_events_reach_file_and_webhooks_even_one_down_at_first(
        ssm, engine, clock, tmp_path):
    up = Receiver()
    down_port = free_port()
    jsonl = tmp_path / "events.jsonl"
    # the receiver stays down two days: keep trying past EventBridge's 24-hour default
    events.configure(engine, file=str(jsonl), webhooks=[up.url, f"http://127.0.0.1:{down_port}/hook"],
                     max_age=3 * 86400)
    try:
        expires = clock.now() + timedelta(days=2)
        ssm.put_parameter(Name="/app/token", Value="t", Type="SecureString", Tier="Advanced",
                          Policies=policies(expiration(expires),
                                            {"Type": "ExpirationNotification", "Version": "1.0",
                                             "Attributes": {"Before": "1", "Unit": "Days"}}))
        engine.run_due()
        created = [e for e in read_lines(jsonl) if e["detail-type"] == "Parameter Store Change"]
        assert created and created[0]["detail"] == {"operation": "Create", "name": "/app/token",
                                                    "type": "SecureString", "description": ""}
        # a day before: the notification, nothing deleted
        clock.advance(days=1, seconds=1)
        engine.run_due()
        assert ssm.get_parameter(Name="/app/token")["Parameter"]["Version"] == 1
        notes = [e for e in read_lines(jsonl) if e["detail-type"] == "Parameter Store Policy Action"]
        assert [e["detail"]["policy-type"] for e in notes] == ["ExpirationNotification"]
        # past the expiry: gone, and the events written
        clock.advance(days=1)
        engine.run_due()
        with pytest.raises(ClientError) as e:
            ssm.get_parameter(Name="/app/token")
        assert code(e) == "ParameterNotFound"
        written = read_lines(jsonl)
        actions = [e for e in written if e["detail-type"] == "Parameter Store Policy Action"]
        assert [a["detail"]["policy-type"] for a in actions] == ["ExpirationNotification", "Expiration"]
        exp = actions[-1]
        assert exp["source"] == "aws.ssm" and exp["version"] == "0" and exp["region"] == "us-east-1"
        assert exp["account"] == "111122223333"
        assert exp["resources"] == ["arn:aws:ssm:us-east-1:111122223333:parameter/app/token"]
        assert exp["detail"]["parameter-name"] == "/app/token"
        assert json.loads(exp["detail"]["policy-content"])["Type"] == "Expiration"
        assert written[-1]["detail"]["operation"] == "Delete"
        # the receiver that was up got everything, in order
        assert [e["id"] for e in up.received] == [e["id"] for e in written]
        # the other one is down: nothing lost, it waits in the outbox with a backoff
        waiting = [p for p in events.pending(engine.store_for("us-east-1")) if str(down_port) in p["sink"]]
        assert len(waiting) == len(written) and waiting[0]["attempts"] >= 1
        late = Receiver(down_port)
        try:
            engine.run_due()                     # backoff not over yet on the injected clock
            assert late.received == []
            clock.advance(minutes=20)
            engine.run_due()
            assert [e["id"] for e in late.received] == [e["id"] for e in written]
            assert events.pending(engine.store_for("us-east-1")) == []
        finally:
            late.close()
    finally:
        up.close()


def test_no_change_notification_fires_after_the_quiet_period_and_rearms_on_write(ssm, engine, clock, tmp_path):
    jsonl = tmp_path / "ev.jsonl"
    events.configure(engine, file=str(jsonl))
    ssm.put_parameter(Name="/quiet", Value="1", Type="String", Tier="Advanced",
                      Policies=policies({"Type": "NoChangeNotification", "Version": "1.0",
                                         "Attributes": {"After": "2", "Unit": "Hours"}}))

    def notices():
        return [e for e in read_lines(jsonl) if e["detail-type"] == "Parameter Store Policy Action"]

    clock.advance(hours=1)
    engine.run_due()
    assert notices() == []
    clock.advance(hours=1, seconds=1)
    engine.run_due()
    assert [n["detail"]["policy-type"] for n in notices()] == ["NoChangeNotification"]
    meta = ssm.describe_parameters()["Parameters"][0]
    assert meta["Policies"][0]["PolicyStatus"] == "Finished"
    engine.run_due()
    assert len(notices()) == 1                     # once per quiet period, not every tick
    ssm.put_parameter(Name="/quiet", Value="2", Overwrite=True)   # keeps its policies
    meta = ssm.describe_parameters()["Parameters"][0]
    assert meta["Policies"][0]["PolicyStatus"] == "Pending"
    clock.advance(hours=3)
    engine.run_due()
    assert len(notices()) == 2


def test_updating_the_value_does_not_move_the_expiry(ssm, engine, clock):
    at = clock.now() + timedelta(hours=5)
    ssm.put_parameter(Name="/e", Value="1", Type="String", Tier="Advanced", Policies=policies(expiration(at)))
    clock.advance(hours=4)
    ssm.put_parameter(Name="/e", Value="2", Overwrite=True)
    clock.advance(hours=1, seconds=1)
    engine.run_due()
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/e")
    assert code(e) == "ParameterNotFound"


def test_empty_policies_clear_them(ssm, engine, clock):
    at = clock.now() + timedelta(hours=1)
    ssm.put_parameter(Name="/e", Value="1", Type="String", Tier="Advanced", Policies=policies(expiration(at)))
    ssm.put_parameter(Name="/e", Value="2", Overwrite=True, Policies="[]")
    clock.advance(hours=2)
    engine.run_due()
    assert ssm.get_parameter(Name="/e")["Parameter"]["Value"] == "2"
    assert ssm.describe_parameters()["Parameters"][0]["Policies"] == []


@pytest.mark.parametrize("doc,err", [
    ([{"Type": "Nope", "Version": "1.0", "Attributes": {}}], "InvalidPolicyTypeException"),
    ([{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "tomorrow"}}],
     "InvalidPolicyAttributeException"),
    ([{"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": "2", "Unit": "Weeks"}}],
     "InvalidPolicyAttributeException"),
    ([{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": "2030-01-01T00:00:00Z"}}] * 2,
     "IncompatiblePolicyException"),
    ([{"Type": "NoChangeNotification", "Version": "1.0", "Attributes": {"After": str(i + 1), "Unit": "Days"}}
      for i in range(11)], "PoliciesLimitExceededException"),
])
def test_bad_policies_are_refused_with_aws_errors_and_change_nothing(ssm, doc, err):
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/p", Value="1", Type="String", Tier="Advanced", Policies=json.dumps(doc))
    assert code(e) == err
    with pytest.raises(ClientError):
        ssm.get_parameter(Name="/p")


def test_policies_need_the_advanced_tier_and_intelligent_tiering_picks_it(ssm, clock):
    doc = policies(expiration(clock.now() + timedelta(days=1)))
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name="/p", Value="1", Type="String", Policies=doc)
    assert code(e) == "ValidationException"
    assert ssm.put_parameter(Name="/p", Value="1", Type="String", Tier="Intelligent-Tiering",
                             Policies=doc)["Tier"] == "Advanced"


def test_events_wait_in_the_outbox_until_delivered_and_survive_a_restart(tmp_path, clock):
    from keyplane.engine.core import Engine
    import keyplane
    state = str(tmp_path / "state")
    port = free_port()
    eng = Engine(state, clock=clock)
    events.configure(eng, webhooks=[f"http://127.0.0.1:{port}/x"])
    keyplane.connect(engine=eng).client("ssm").put_parameter(Name="/x", Value="1", Type="String")
    eng.run_due()
    eng.close()
    # a new process (engine) on the same store delivers what the first could not
    eng2 = Engine(state, clock=clock)
    rx = Receiver(port)
    try:
        clock.advance(minutes=1)
        eng2.run_due()
        assert [e["detail"]["operation"] for e in rx.received] == ["Create"]
    finally:
        rx.close()
        eng2.close()


def test_backoff_grows_and_is_capped():
    assert [events.backoff(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert events.backoff(50) == events.BACKOFF_MAX_SECONDS


# ---- /aws/reference/secretsmanager -----------------------------------------------------------------
def test_secretsmanager_reference_is_not_found_without_a_resolver(ssm, monkeypatch):
    monkeypatch.setattr(references, "RESOLVERS", {})
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/aws/reference/secretsmanager/db-creds", WithDecryption=True)
    assert code(e) == "ParameterNotFound"


def test_secretsmanager_reference_answers_with_the_resolver_value(ssm, monkeypatch):
    def resolve(call, secret_id, selector):
        if secret_id != "db-creds":
            return None
        return {"Name": "/aws/reference/secretsmanager/db-creds", "Type": "SecureString", "Value": "s3cr3t",
                "Version": 0, "SourceResult": json.dumps({"Name": secret_id}),
                "ARN": f"arn:aws:secretsmanager:{call.region}:{call.account}:secret:db-creds-AbCdEf",
                "DataType": "text"}
    monkeypatch.setattr(references, "RESOLVERS", {"secretsmanager": resolve})
    p = ssm.get_parameter(Name="/aws/reference/secretsmanager/db-creds", WithDecryption=True)["Parameter"]
    assert p["Value"] == "s3cr3t" and p["Type"] == "SecureString"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/aws/reference/secretsmanager/db-creds")
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name="/aws/reference/secretsmanager/other", WithDecryption=True)
    assert code(e) == "ParameterNotFound"


def test_without_sinks_events_leave_nothing_behind(ssm, engine, monkeypatch):
    import sqlalchemy as sa
    monkeypatch.delenv("KEYPLANE_EVENTS_FILE", raising=False)
    monkeypatch.delenv("KEYPLANE_EVENTS_WEBHOOKS", raising=False)
    ssm.put_parameter(Name="/quiet", Value="1", Type="String")
    with engine.store_for("us-east-1").read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events.outbox)).scalar() == 0


def test_writes_emit_parameter_store_change_events_in_order(ssm, engine, tmp_path):
    jsonl = tmp_path / "changes.jsonl"
    events.configure(engine, file=str(jsonl))
    ssm.put_parameter(Name="/c", Value="1", Type="String", Description="d")
    ssm.put_parameter(Name="/c", Value="2", Overwrite=True)
    ssm.label_parameter_version(Name="/c", Labels=["prod"])
    ssm.delete_parameter(Name="/c")
    with pytest.raises(ClientError):
        ssm.delete_parameter(Name="/c")          # a failed call changes nothing and tells no one
    engine.run_due()
    changes = read_lines(jsonl)
    assert [(e["detail-type"], e["detail"]["operation"]) for e in changes] == [
        ("Parameter Store Change", op) for op in ("Create", "Update", "LabelParameterVersion", "Delete")]
    assert all(e["detail"]["name"] == "/c" and e["detail"]["description"] == "d" for e in changes)
