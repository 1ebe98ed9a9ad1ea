"""The audit trail under hostile input and failure: one caller's request never costs another caller
their record, records are bounded and always serialisable, and records of answered calls that never
reached the store (a crash, a lost batch) are reported by `keyplane audit --verify` as a gap."""
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.store.tables import audit
from keyplane.wire.protocol import handle_json

PROVIDER = str(Path(__file__).resolve().parents[2] / "provider")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "keyplane.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PROVIDER}, timeout=120)


def _rows(store):
    with store.read() as conn:
        return [json.loads(r[0]) for r in conn.execute(sa.select(audit.c.record).order_by(audit.c.seq))]


def test_a_record_json_cannot_carry_does_not_cost_other_callers_theirs(engine, kms):
    """A lone surrogate or an integer wider than 64 bits in one call's parameters (they reach the
    engine from in-process callers; the wire refuses them, see test_hostile_input) must not lose
    the buffered records of other callers, nor fail the next state-changing call."""
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blobs = [kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"] for _ in range(20)]
    for blob in blobs:
        kms.decrypt(CiphertextBlob=blob)
    ctx = engine.context()
    for hostile in ({"KeyId": "\ud800"}, {"KeyId": key, "GrantTokens": ["\udfff" * 3]}):
        try:
            engine.invoke("kms", "DescribeKey", hostile, ctx)
        except Exception:
            pass
    try:
        engine.invoke("secretsmanager", "DeleteSecret", {"SecretId": "s", "RecoveryWindowInDays": 2**80}, ctx)
    except Exception:
        pass
    kms.create_key(Description="after")                # state-changing: writes the buffer in its transaction
    rows = _rows(store)
    names = [r["eventName"] for r in rows]
    assert names.count("Decrypt") == 20 and names.count("Encrypt") == 20
    assert names.count("DescribeKey") == 2 and names.count("DeleteSecret") == 1
    assert names[-1] == "CreateKey"
    described = [r for r in rows if r["eventName"] == "DescribeKey"]
    assert described[0]["requestParameters"]["keyId"] == "\\ud800"          # escaped, not dropped
    deleted = next(r for r in rows if r["eventName"] == "DeleteSecret")
    assert deleted["requestParameters"]["recoveryWindowInDays"] == str(2**80)
    assert engine.audit.verify(store)[0] and engine.audit.gaps(store) == []


def test_a_failed_flush_keeps_its_records_and_says_so(engine, kms, caplog):
    """A flush whose transaction fails puts the records back for the next attempt and logs it."""
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(5):
        kms.encrypt(KeyId=key, Plaintext=b"x")
    with store.write() as conn:                         # the audit table is gone for a moment
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    engine.audit.flush(store)
    assert engine.audit.failed_flushes == 1 and "audit flush failed" in caplog.text
    with store.write() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
    engine.audit.flush(store)
    assert [r["eventName"] for r in _rows(store)].count("Encrypt") == 5
    assert engine.audit.verify(store)[0] and engine.audit.gaps(store) == []


def test_the_buffer_is_bounded_and_a_full_one_is_written_by_the_caller(tmp_path, clock):
    """Back-pressure: with max_pending records waiting, the next caller writes them before its
    call is answered, so memory never grows without bound."""
    eng = Engine(str(tmp_path / "st"), clock=clock)
    try:
        eng.audit.max_pending = 10
        eng.audit._closed = True                       # no background flusher: only back-pressure writes
        kms = keyplane.connect(engine=eng).client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        store = eng.store_for("us-east-1")
        for _ in range(35):
            kms.encrypt(KeyId=key, Plaintext=b"x")
            assert len(eng.audit._buffers.get(store, ())) <= 10
        assert [r["eventName"] for r in _rows(store)].count("Encrypt") >= 30
    finally:
        eng.close()


def test_records_are_bounded_at_cloudtrails_100_kb(engine):
    """CloudTrail holds at most 100 KB of requestParameters / responseElements
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html);
    a 6 MB request leaves a record far below that, and the chain stays intact."""
    ctx = engine.context()
    body = json.dumps({"KeyId": "alias/x", "Plaintext": "eA==", "GrantTokens": ["t" * 8000] * 10,
                       "EncryptionContext": {f"k{i}": "v" * 5000 for i in range(1200)}}).encode()
    assert len(body) > 6_000_000
    resp = handle_json(engine, target="TrentService.Encrypt", body=body, ctx=ctx)
    assert json.loads(resp.body)["__type"] == "NotFoundException" and len(resp.body) < 8192
    store = engine.store_for("us-east-1")
    engine.audit.flush(store)
    with store.read() as conn:
        rows = conn.execute(sa.select(audit.c.event_name, audit.c.record)).all()
    assert [r.event_name for r in rows] == ["Encrypt"]
    assert len(rows[0].record) < 110 * 1024
    assert engine.audit.verify(store)[0]


_CRASHING_CLIENT = textwrap.dedent("""
    import os, signal, sys
    import keyplane
    from keyplane.engine.core import Engine
    eng = Engine(sys.argv[1])
    kms = keyplane.connect(engine=eng).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(50):
        kms.encrypt(KeyId=key, Plaintext=b"x")      # answered; its record is buffered
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_keyplane_audit_verify_reports_records_lost_by_kill_9(tmp_path):
    """Records of answered read-only calls are buffered (at most max_pending of them): a process
    killed with -9 loses those, and `keyplane audit --verify` says so instead of "intact"."""
    state = str(tmp_path / "st")
    proc = subprocess.run([sys.executable, "-c", _CRASHING_CLIENT, state], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PROVIDER}, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    out = _cli("audit", "--state", state, "--verify")
    assert out.returncode == 1, out.stdout
    assert "audit chain intact" in out.stdout and "GAP" in out.stdout
    assert "stopped uncleanly" in out.stdout and "up to 1000 record(s)" in out.stdout


def test_with_max_pending_0_every_answered_call_is_recorded_before_the_answer(tmp_path):
    """KEYPLANE_AUDIT_MAX_PENDING=0: a read-only call returns only once its record is committed,
    so kill -9 loses none (cost: see README, measured with keyplane bench)."""
    state = str(tmp_path / "st")
    proc = subprocess.run([sys.executable, "-c", _CRASHING_CLIENT, state], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PROVIDER, "KEYPLANE_AUDIT_MAX_PENDING": "0"},
                          timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    out = _cli("audit", "--state", state, "--verify")
    assert out.returncode == 0 and "complete" in out.stdout, out.stdout
    eng = Engine(state)
    try:
        assert [r["eventName"] for r in _rows(eng.store_for("us-east-1"))].count("Encrypt") == 50
    finally:
        eng.close()


def test_concurrent_durable_callers_share_commits(tmp_path, clock):
    import threading
    from keyplane.engine.audit import AuditTrail
    eng = Engine(str(tmp_path / "st"), clock=clock)
    try:
        eng.audit.close()
        eng.audit = AuditTrail(max_pending=0)
        kms = keyplane.connect(engine=eng).client("kms")
        key = kms.create_key()["KeyMetadata"]["KeyId"]
        store = eng.store_for("us-east-1")

        def work():
            for _ in range(25):
                kms.encrypt(KeyId=key, Plaintext=b"x")
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not eng.audit._buffers.get(store)            # nothing left waiting after the calls returned
        assert [r["eventName"] for r in _rows(store)].count("Encrypt") == 100
        assert eng.audit.gaps(store) == []
    finally:
        eng.close()


def test_a_clean_exit_leaves_no_gap(tmp_path):
    state = str(tmp_path / "st")
    script = _CRASHING_CLIENT.replace("os.kill(os.getpid(), signal.SIGKILL)", "")
    proc = subprocess.run([sys.executable, "-c", script, state], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PROVIDER}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = _cli("audit", "--state", state, "--verify")
    assert out.returncode == 0 and "complete" in out.stdout, out.stdout
    eng = Engine(state)
    try:
        assert [r["eventName"] for r in _rows(eng.store_for("us-east-1"))].count("Encrypt") == 50
    finally:
        eng.close()


def test_a_hole_in_a_writers_numbers_is_an_exact_gap(engine, kms):
    """A record that never reached the store between two that did is counted exactly."""
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=key, Plaintext=b"x")
    engine.audit.flush(store)
    kms.encrypt(KeyId=key, Plaintext=b"x")
    with engine.audit._lock:                          # the second record is lost before it is written
        engine.audit._buffers[store].clear()
    kms.encrypt(KeyId=key, Plaintext=b"x")
    gaps = engine.audit.gaps(store)
    assert [(g.after, g.missing, g.exact) for g in gaps] == [(1, 1, True)]


_CRASHING_PG_CLIENT = textwrap.dedent("""
    import os, signal, sys
    import keyplane
    from keyplane.engine.core import Engine
    from keyplane.engine.sealing import RootKey
    eng = Engine(sys.argv[1], root_key=RootKey(bytes.fromhex(sys.argv[2]), "test"))
    kms = keyplane.connect(engine=eng).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(20):
        kms.encrypt(KeyId=key, Plaintext=b"x")
    print("answered", flush=True)
    if sys.argv[3] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()          # alive (holding its lease) until the test closes stdin
""")


def test_on_postgresql_a_live_writer_is_no_gap_and_a_killed_one_is(postgres_url):
    """On PostgreSQL a writer's lease is an advisory lock: a server still running is not mistaken
    for a crash; one killed with -9 is reported."""
    from keyplane.engine.sealing import RootKey
    root = os.urandom(32)
    env = {**os.environ, "PYTHONPATH": PROVIDER}
    live = subprocess.Popen([sys.executable, "-c", _CRASHING_PG_CLIENT, postgres_url, root.hex(), "live"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert live.stdout.readline().strip() == "answered"
        eng = Engine(postgres_url, root_key=RootKey(root, "test"))
        try:
            assert eng.audit.gaps(eng.store_for("us-east-1")) == []
        finally:
            eng.close()
    finally:
        live.stdin.close()
        live.wait(60)
    killed = subprocess.run([sys.executable, "-c", _CRASHING_PG_CLIENT, postgres_url, root.hex(), "kill"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    eng = Engine(postgres_url, root_key=RootKey(root, "test"))
    try:
        gaps = eng.audit.gaps(eng.store_for("us-east-1"))
        assert [(g.exact, g.missing) for g in gaps] == [(False, 1000)]
    finally:
        eng.close()


def test_refused_authentications_are_recorded_at_a_bounded_rate_and_counted_beyond_it(engine, clock):
    """A client with no credentials sent 2,144 refused requests a second, a ~750-byte record each:
    1.6 MB a second of trail for the whole retention. Per source address at most 10 a second are
    recorded (100 from all addresses); the rest are counted, and the next record carries the count
    in additionalEventData, the member CloudTrail keeps for "additional data about the event that
    was not part of the request or response"
    (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html)."""
    from keyplane.engine.errors import error_type
    refused = error_type("UnrecognizedClientException")("The security token included in the request is invalid.")

    def refuse(n, address):
        return [engine.refused_authentication("kms", "us-east-1", "AKIAFORGED", address, "x", refused)
                for _ in range(n)]

    def records():
        found = engine.audit.query(engine.store_for("us-east-1"), event_name="RefusedAuthentication", limit=10_000)
        return [r.get("additionalEventData", {}).get("unrecordedRefusals", 0) for r in found]

    outcome = refuse(1000, "203.0.113.7")
    assert outcome[:10] == [0] * 10 and outcome[10:] == [None] * 990
    assert len(records()) == 10
    clock.advance(seconds=1)
    assert refuse(1, "203.0.113.7") == [990]           # the next record says how many it stands for
    outcome = sum((refuse(3, f"198.51.100.{i}") for i in range(200)), [])
    assert sum(n is not None for n in outcome) == 99    # 100 a second from all addresses, one taken
    clock.advance(seconds=1)
    assert refuse(1, "198.51.100.250") == [501]
    # every refusal is either a record or counted in one: 1000 + 1 + 600 + 1 made
    assert len(records()) == 10 + 1 + 99 + 1 and sum(1 + n for n in records()) == 1602
