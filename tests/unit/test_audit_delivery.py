"""Delivery of the audit trail to CloudTrail log files and digest files, pruning of delivered records,
and `keyplane audit --verify` across the files and the store."""
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

import keyplane
from keyplane.engine import audit_delivery, audit_digests, audit_files, audit_verify
from keyplane.engine.core import Engine
from keyplane.engine.store.tables import audit

PROVIDER = str(Path(__file__).resolve().parents[2] / "provider")
LOG_NAME = re.compile(r"AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/15/"
                      r"111122223333_CloudTrail_us-east-1_20260115T(\d{4})Z_[A-Za-z0-9]{16}\.json\.gz")
DIGEST_NAME = re.compile(r"AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/15/"
                         r"111122223333_CloudTrail-Digest_us-east-1_keyplane_us-east-1_20260115T\d{6}Z\.json\.gz")


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "keyplane.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": PROVIDER, **(env or {})}, timeout=120)


def _files(folder, kind="CloudTrail"):
    return sorted(str(p.relative_to(folder)) for p in Path(folder).glob(f"AWSLogs/*/{kind}/*/*/*/*/*.json.gz"))


def _read(folder, obj) -> bytes:
    return gzip.decompress((Path(folder) / obj).read_bytes())


def test_closed_periods_go_to_cloudtrail_log_files_listed_by_a_signed_digest_file(engine, kms, clock, tmp_path):
    """Records of closed 5-minute periods are delivered as gzip-compressed {"Records": [...]} files
    named and filed as CloudTrail names them; the open period stays in the store; the hourly digest
    file lists each file with the SHA-256 of its uncompressed content and is signed over CloudTrail's
    string to sign, verifiable with the public key alone.
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-examples.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-find-log-files.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-validation-digest-file-structure.html
    https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-log-file-custom-validation.html"""
    folder = tmp_path / "state" / "audit"                 # the default: <state>/audit
    key = kms.create_key()["KeyMetadata"]
    for _ in range(3):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")
    clock.advance(minutes=6)                              # 12:06: the 12:00-12:05 period has closed
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")  # in the open period
    done = engine.run_due()
    assert done["audit.deliver"] == 1 and engine.run_due()["audit.deliver"] == 0   # once per period
    [obj] = _files(folder)
    assert LOG_NAME.fullmatch(obj).group(1) == "1205"     # the end of the period it closes
    path = folder / obj
    assert path.stat().st_mode & 0o777 == 0o600
    content = _read(folder, obj)
    records = json.loads(content)["Records"]
    assert [r["eventName"] for r in records] == ["CreateKey", "Encrypt", "Encrypt", "Encrypt"]
    assert all(r["eventVersion"] and r["eventID"] and r["requestID"] and r["userIdentity"]["arn"] for r in records)
    assert b"secret" not in content
    store = engine.store_for("us-east-1")
    with store.read() as conn:          # the records the store chained, byte for byte, one to a line
        bodies = [r[0].encode() for r in conn.execute(sa.select(audit.c.record).order_by(audit.c.seq))]
    assert content.split(b"\n")[1:5] == [b + b"," for b in bodies[:3]] + [bodies[3]]
    assert len(bodies) == 5                               # nothing pruned yet (retention 24 h)

    [first] = _files(folder, "CloudTrail-Digest")        # the first tick signed a digest at once
    [entry] = json.loads(_read(folder, first))["logFiles"]
    assert entry["s3Object"] == obj and entry["hashAlgorithm"] == "SHA-256"
    assert entry["hashValue"] == hashlib.sha256(content).hexdigest()
    assert entry["keyplaneRecords"] == [[1, 4]]           # the store seqs it holds, for the chain

    clock.advance(hours=1)                                # the next digest an hour later
    done = engine.run_due()
    assert done["audit.deliver"] == 1 and done["audit.digest"] == 1
    digests = _files(folder, "CloudTrail-Digest")
    assert all(DIGEST_NAME.fullmatch(d) for d in digests) and len(digests) == 2
    body = _read(folder, digests[-1])
    digest = json.loads(body)
    assert [e["keyplaneRecords"] for e in digest["logFiles"]] == [[[5, 5]]]
    assert digest["previousDigestHashValue"] == hashlib.sha256(_read(folder, digests[0])).hexdigest()
    assert digest["previousDigestSignature"] == (folder / (digests[0] + ".signature")).read_text()
    assert digest["digestSignatureAlgorithm"] == "SHA256withRSA" and digest["awsAccountId"] == "111122223333"
    signed = (f"{digest['digestEndTime']}\n{digest['digestS3Bucket']}/{digest['digestS3Object']}\n"
              f"{hashlib.sha256(body).hexdigest()}\n{digest['previousDigestSignature']}").encode()
    public = serialization.load_pem_public_key(audit_digests.public_key_pem(engine, store).encode())
    public.verify(bytes.fromhex((folder / (digests[-1] + ".signature")).read_text()), signed,
                  padding.PKCS1v15(), hashes.SHA256())
    assert audit_verify.verify(engine, store).ok


def _encrypts(engine, key_id: str, n: int) -> None:
    ctx = engine.context()
    for _ in range(n):
        engine.invoke("kms", "Encrypt", {"KeyId": key_id, "Plaintext": b"x"}, ctx)


def test_the_store_stays_bounded_by_the_retention_under_sustained_load(engine, kms, clock):
    """4,000 calls over ten simulated hours, 100 every 15 minutes, retention 1 hour: the audit table
    never holds more than the retention, the hourly digest and the 5-minute delivery allow for (and
    the store stops growing: pruned pages are reused); every call is still verifiable, across the files and the store."""
    engine.audit_retention = 3600
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    counts, sizes = [], []
    for step in range(40):
        _encrypts(engine, key, 100)
        clock.advance(minutes=15)
        engine.run_due()
        with store.read() as conn:
            counts.append(conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar())
            sizes.append(conn.exec_driver_sql("PRAGMA page_count").scalar())   # WAL included
    print("audit rows after each step:", counts, "store pages:", sizes)
    # at most: retention (1 h) + an hour waiting for the digest + the open period = 9 steps of 100
    assert max(counts) <= 900 and counts[-1] >= 400
    assert sizes[-1] <= sizes[len(sizes) // 4] * 1.1          # freed pages reused, not growth
    with store.read() as conn:
        oldest = conn.execute(sa.select(sa.func.min(audit.c.event_time))).scalar()
    now = clock.now().timestamp()
    assert now - 3600 - 3600 - 300 <= oldest <= now - 3600   # everything younger than the retention is kept
    report = audit_verify.verify(engine, store)
    assert report.ok, report.problems
    with store.read() as conn:
        pruned = audit_delivery.state(conn).pruned_seq
    assert pruned >= 3000
    walked = int(re.search(r"(\d+) records walked", "\n".join(report.lines)).group(1))
    assert walked + counts[-1] >= 4001 + 40 // 4          # every call: in a file or still in the store


def test_a_deleted_or_altered_log_file_fails_verify_and_names_the_file(engine, kms, clock, tmp_path):
    store = engine.store_for("us-east-1")
    engine.audit_retention = 0
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(4):
        _encrypts(engine, key, 10)
        clock.advance(minutes=5)
        engine.run_due()
    clock.advance(hours=1)
    engine.run_due()
    engine.close()
    folder = tmp_path / "state" / "audit"
    logs = _files(folder)
    assert len(logs) >= 4
    out = _cli("audit", "--state", str(tmp_path / "state"), "--verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "records up to seq" in out.stdout and "PROBLEM" not in out.stdout

    os.unlink(folder / logs[1])
    altered = _read(folder, logs[2]).replace(b'"Encrypt"', b'"Decrypt"', 1)
    (folder / logs[2]).write_bytes(gzip.compress(altered))
    out = _cli("audit", "--state", str(tmp_path / "state"), "--verify")
    assert out.returncode == 1
    assert f"PROBLEM: MISSING log file {logs[1]}" in out.stdout
    assert f"PROBLEM: ALTERED log file {logs[2]}" in out.stdout


def test_an_altered_or_deleted_digest_file_fails_verify(engine, kms, clock, tmp_path):
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(3):
        _encrypts(engine, key, 5)
        clock.advance(hours=1, minutes=5)
        engine.run_due()
    folder = tmp_path / "state" / "audit"
    first, second, third = _files(folder, "CloudTrail-Digest")
    assert audit_verify.verify(engine, store).ok

    edited = json.loads(_read(folder, second))
    edited["logFiles"][0]["hashValue"] = "0" * 64
    (folder / second).write_bytes(gzip.compress(json.dumps(edited).encode()))
    (folder / (third + ".signature")).write_text("00" * 256)
    os.unlink(folder / first)
    problems = "\n".join(audit_verify.verify(engine, store).problems)
    assert f"MISSING digest file {first}" in problems
    assert f"ALTERED digest file {second}" in problems
    assert f"ALTERED signature file {third}.signature" in problems


def test_records_of_the_store_must_lead_on_from_the_files(engine, kms, clock):
    """A delivered record changed in the store (its chain rebuilt, so the store alone still
    verifies) no longer matches the files it was delivered to."""
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _encrypts(engine, key, 5)
    clock.advance(minutes=5)
    engine.run_due()
    with store.write() as conn:
        rows = conn.execute(audit.select().order_by(audit.c.seq)).all()
        prev = audit_delivery.GENESIS
        for row in rows:
            body = row.record.replace('"Encrypt"', '"Decrypt"')
            digest = hashlib.sha256((prev + body).encode()).hexdigest()
            conn.execute(audit.update().where(audit.c.seq == row.seq).values(record=body, hash=digest))
            prev = digest
    assert engine.audit.verify(store)[0]
    report = audit_verify.verify(engine, store)
    assert any("does not lead into the store" in p for p in report.problems)


def test_get_key_last_usage_still_answers_once_the_records_are_pruned(engine, kms, clock):
    """GetKeyLastUsage answers from each key's last use kept beside the trail, not from the records,
    so pruning them changes nothing (ReEncrypt counts for both keys).
    https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html"""
    store = engine.store_for("us-east-1")
    engine.audit_retention = 0
    a = kms.create_key()["KeyMetadata"]
    b = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    clock.advance(minutes=1)
    kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b["KeyId"])
    before = {k["KeyId"]: kms.get_key_last_usage(KeyId=k["KeyId"])["KeyLastUsage"] for k in (a, b)}
    assert before[a["KeyId"]]["Operation"] == before[b["KeyId"]]["Operation"] == "ReEncrypt"
    clock.advance(hours=1, minutes=5)
    kms.list_keys()                       # a newer record, so the ones above can all go
    clock.advance(minutes=5)
    engine.run_due()
    with store.read() as conn:
        names = [r[0] for r in conn.execute(sa.select(audit.c.event_name))]
    assert "ReEncrypt" not in names and "Encrypt" not in names and "GetKeyLastUsage" not in names
    after = {k["KeyId"]: kms.get_key_last_usage(KeyId=k["KeyId"])["KeyLastUsage"] for k in (a, b)}
    assert after == before


def test_delivery_folder_is_configurable_and_can_be_off(tmp_path, clock, monkeypatch):
    monkeypatch.setenv("KEYPLANE_AUDIT_DIR", str(tmp_path / "elsewhere"))
    engine = Engine(str(tmp_path / "st"), clock=clock)
    try:
        kms = keyplane.connect(engine=engine).client("kms")
        kms.create_key()
        clock.advance(minutes=5)
        assert engine.run_due()["audit.deliver"] == 1
        assert _files(tmp_path / "elsewhere") and not (tmp_path / "st" / "audit").exists()
        engine.audit_dir = "off"
        kms.create_key()
        clock.advance(hours=2)
        assert engine.run_due()["audit.deliver"] == 0 and engine.run_due()["audit.prune"] == 0
    finally:
        engine.close()
    memory = Engine("memory", clock=clock)
    try:
        monkeypatch.delenv("KEYPLANE_AUDIT_DIR")
        assert audit_delivery.audit_dir(memory, memory.default_store()) is None
    finally:
        memory.close()


def test_keyplane_audit_deliver_writes_signs_and_prunes_now(tmp_path):
    state = str(tmp_path / "st")
    engine = Engine(state)
    keyplane.connect(engine=engine).client("kms").create_key()
    engine.close()
    out = _cli("audit", "--state", state, "--deliver", "--audit-dir", str(tmp_path / "out"), "--retention", "0s")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    # the record was made in the current 5-minute period: not closed yet, so not delivered, unless
    # the test crossed a period boundary
    assert summary["digest"] and summary["pruned"] == 0
    assert _files(tmp_path / "out", "CloudTrail-Digest")
    out = _cli("audit", "--state", state, "--verify", "--audit-dir", str(tmp_path / "out"))
    assert out.returncode == 0, out.stdout


def test_a_second_deliverer_of_the_same_records_leaves_no_files(engine, kms, clock, tmp_path, monkeypatch):
    """Two processes delivering at once: the first to record its files wins; the other removes its own."""
    store = engine.store_for("us-east-1")
    kms.create_key()
    folder = str(tmp_path / "state" / "audit")
    finish = audit_files.LogFile.finish

    def finish_while_another_process_delivers(self):
        done = finish(self)
        with store.write() as conn:
            audit_delivery.save_state(conn, delivered_seq=1, delivered_hash="f" * 64)
        return done
    monkeypatch.setattr(audit_files.LogFile, "finish", finish_while_another_process_delivers)
    assert audit_delivery.deliver(engine, store, folder, clock.now().timestamp() + 300) == []
    assert _files(folder) == []
    with store.read() as conn:
        assert audit_delivery.state(conn).delivered_hash == "f" * 64


def test_on_postgresql_delivery_pruning_and_verify_work_the_same(postgres_url, clock, tmp_path):
    engine = Engine(postgres_url, clock=clock)
    engine.audit_dir = str(tmp_path / "pg-audit")
    engine.audit_retention = 0
    try:
        store = engine.store_for("us-east-1")
        assert audit_delivery.audit_dir(engine, store) == str(tmp_path / "pg-audit")
        key = keyplane.connect(engine=engine).client("kms").create_key()["KeyMetadata"]["KeyId"]
        for _ in range(6):
            _encrypts(engine, key, 50)
            clock.advance(minutes=20)
            engine.run_due()
        with store.read() as conn:
            left = conn.execute(sa.select(sa.func.count()).select_from(audit)).scalar()
            pruned = audit_delivery.state(conn).pruned_seq
        assert pruned >= 150 and left < 200
        engine.audit_dir = None     # verify finds the folder where the digests say they went
        report = audit_verify.verify(engine, store)
        assert report.ok, report.problems
        os.unlink(tmp_path / "pg-audit" / _files(tmp_path / "pg-audit")[0])
        assert any(p.startswith("MISSING log file") for p in audit_verify.verify(engine, store).problems)
    finally:
        engine.close()


def test_a_region_with_a_store_of_its_own_delivers_its_own_trail(tmp_path, clock):
    """Each store chains and signs its own trail: a Region mapped to another store delivers beside
    that store, its digests named for the trail keyplane-<Region>."""
    engine = Engine(str(tmp_path / "st"), clock=clock, regions={"eu-west-1": str(tmp_path / "west")})
    try:
        conn = keyplane.connect(engine=engine)
        conn.client("kms", region="eu-west-1").create_key()
        conn.client("kms", region="us-east-1").create_key()
        clock.advance(minutes=5)
        engine.run_due()
        west = tmp_path / "west" / "audit"
        [log] = _files(west)
        assert log.startswith("AWSLogs/111122223333/CloudTrail/eu-west-1/")
        [digest] = _files(west, "CloudTrail-Digest")
        assert "/CloudTrail-Digest/eu-west-1/" in digest and "_keyplane-eu-west-1_eu-west-1_" in digest
        assert [p.split("/")[3] for p in _files(tmp_path / "st" / "audit")] == ["us-east-1"]
        for region in ("eu-west-1", "us-east-1"):
            report = audit_verify.verify(engine, engine.store_for(region))
            assert report.ok, report.problems
    finally:
        engine.close()


def test_a_backlog_goes_out_over_several_ticks(engine, kms, clock, monkeypatch):
    """A store older than delivery holds its whole trail; it is delivered a bounded number of records
    per tick, so the other scheduled work is not held up, and every record gets there."""
    monkeypatch.setattr(audit_delivery, "MAX_RECORDS_PER_RUN", 4)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _encrypts(engine, key, 9)
    clock.advance(minutes=5)
    assert [engine.run_due()["audit.deliver"] for _ in range(4)] == [1, 1, 1, 0]
    store = engine.store_for("us-east-1")
    with store.read() as conn:
        assert audit_delivery.state(conn).delivered_seq == 10
    assert audit_verify.verify(engine, store).ok


def test_digests_removed_from_the_store_are_noticed_from_the_files(engine, kms, clock):
    store = engine.store_for("us-east-1")
    engine.audit_retention = 0
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _ in range(3):
        _encrypts(engine, key, 5)
        clock.advance(hours=1, minutes=5)
        engine.run_due()
    assert audit_verify.verify(engine, store).ok
    with store.write() as conn:
        conn.execute(audit_digests.digests.delete())
    problems = audit_verify.verify(engine, store).problems
    assert sum("is not in the store: the store has lost digests" in p for p in problems) == 3
    assert any("do not reach seq" in p for p in problems)


def test_a_dev_reset_takes_the_delivered_files_with_the_records_and_the_new_trail_verifies(engine, kms, clock,
                                                                                          tmp_path):
    """`POST /_keyplane/reset` (dev mode) empties the store, audit records and digests included; the
    log and digest files delivered from them go too. They were left behind, and `keyplane audit
    --verify` then failed on the trail that started again ("digest file ... is not in the store")."""
    from keyplane.server import reset_state
    folder = tmp_path / "state" / "audit"
    store = engine.store_for("us-east-1")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _encrypts(engine, key, 3)
    clock.advance(hours=1, minutes=6)
    engine.run_due()
    assert _files(folder) and _files(folder, "CloudTrail-Digest")
    reset_state(engine)
    assert _files(folder) == [] and _files(folder, "CloudTrail-Digest") == []
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    _encrypts(engine, key, 2)
    clock.advance(hours=1, minutes=6)
    engine.run_due()
    assert _files(folder) and _files(folder, "CloudTrail-Digest")
    report = audit_verify.verify(engine, store)
    assert report.problems == [], report.problems
