"""The audit trail (every call, what it records and what it must not) and the `keyplane` command."""
import json
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from botocore.exceptions import ClientError

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.store.tables import audit

PROVIDER = str(Path(__file__).resolve().parents[2] / "provider")


def run_cli(*args, cwd=None, env=None):
    full_env = {**os.environ, "PYTHONPATH": PROVIDER, **(env or {})}
    return subprocess.run([sys.executable, "-m", "keyplane.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120)


def test_every_call_is_recorded_with_caller_key_context_and_outcome(engine, kms):
    key = kms.create_key(Description="audited")["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"top secret", EncryptionContext={"tenant": "a"})["CiphertextBlob"]
    try:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "b"})
    except ClientError:
        pass
    records = engine.audit.query(engine.store_for("us-east-1"), resource=key["KeyId"])
    names = [r["eventName"] for r in records]
    assert names == ["Decrypt", "Encrypt", "CreateKey"]
    failed, enc, created = records
    assert failed["errorCode"] == "InvalidCiphertextException"
    assert failed["requestParameters"]["encryptionContext"] == {"tenant": "b"}
    assert enc["requestParameters"] == {"keyId": key["KeyId"], "encryptionContext": {"tenant": "a"}}
    assert enc["responseElements"] is None and enc["readOnly"] is True
    assert created["responseElements"]["keyMetadata"]["keyId"] == key["KeyId"]
    for r in records:
        assert r["userIdentity"]["arn"] == "arn:aws:iam::111122223333:root"
        assert r["awsRegion"] == "us-east-1" and r["eventSource"] == "kms.amazonaws.com"
        assert r["requestID"] and r["eventID"] and r["resources"][0]["ARN"] == key["Arn"]
        assert "top secret" not in json.dumps(r)


def test_plaintext_data_keys_and_ciphertexts_are_never_recorded(engine, kms):
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])
    import base64
    dump = json.dumps(engine.audit.query(engine.store_for("us-east-1"), limit=100))
    for secret in (dk["Plaintext"], dk["CiphertextBlob"]):
        assert base64.b64encode(secret).decode() not in dump and secret.hex() not in dump


def test_editing_or_deleting_a_record_breaks_the_chain(engine, kms):
    for _ in range(3):
        kms.create_key()
    store = engine.store_for("us-east-1")
    ok, n, _ = engine.audit.verify(store)
    assert ok and n == 3
    with store.write() as conn:
        conn.execute(audit.update().where(audit.c.seq == 2).values(record=sa.func.replace(audit.c.record, "CreateKey", "DeleteKey")))
    ok, _, bad = engine.audit.verify(store)
    assert not ok and bad == 2


def test_keyplane_init_creates_a_private_state_folder(tmp_path):
    out = run_cli("init", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    state = tmp_path / ".keyplane"
    assert (state / "state.db").exists()
    assert (state / "root.key").stat().st_mode & 0o777 == 0o600
    assert "root key" in out.stdout


def test_keyplane_tick_deletes_keys_whose_window_has_passed(tmp_path):
    state = str(tmp_path / "st")
    engine = Engine(state)
    kms = keyplane.connect(engine=engine).client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    engine.close()
    out = run_cli("tick", "--state", state, "--advance", "6d")
    assert json.loads(out.stdout)["done"]["kms.delete-keys"] == 0
    out = run_cli("tick", "--state", state, "--advance", "8d")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["done"]["kms.delete-keys"] == 1
    engine = Engine(state)
    try:
        keyplane.connect(engine=engine).client("kms").describe_key(KeyId=key)
        raise AssertionError("key still exists")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NotFoundException"
    engine.close()


def test_keyplane_audit_lists_filters_and_verifies(tmp_path):
    state = str(tmp_path / "st")
    engine = Engine(state)
    kms = keyplane.connect(engine=engine).client("kms")
    a = kms.create_key()["KeyMetadata"]["KeyId"]
    b = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.encrypt(KeyId=a, Plaintext=b"x")
    engine.close()
    out = run_cli("audit", "--state", state, "--key", a, "--json")
    recs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["eventName"] for r in recs] == ["Encrypt", "CreateKey"]
    assert all(b not in json.dumps(r) for r in recs)
    out = run_cli("audit", "--state", state, "--operation", "CreateKey")
    assert len(out.stdout.splitlines()) == 2
    out = run_cli("audit", "--state", state, "--verify")
    assert out.returncode == 0 and "intact" in out.stdout


def test_signed_digests_detect_edited_records_and_edited_or_deleted_digests(engine, kms, clock):
    from keyplane.engine import audit_digests
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    store = engine.store_for("us-east-1")
    kms.create_key()
    first = audit_digests.make_digest(engine, store)
    assert first["recordCount"] == 1 and first["previousDigestSignature"] is None
    kms.create_key()
    kms.create_key()
    clock.advance(hours=1, minutes=1)
    assert engine.run_due()["audit.digest"] == 1            # hourly, on the injected clock
    assert engine.run_due()["audit.digest"] == 0
    assert audit_digests.verify_digests(engine, store) == (True, 2, None)
    # a digest verifies with nothing but the public key (as an outside auditor would)
    public = serialization.load_pem_public_key(audit_digests.public_key_pem(engine, store).encode())
    with store.read() as conn:
        row = conn.execute(audit_digests.digests.select().order_by(audit_digests.digests.c.seq)).first()
    public.verify(bytes.fromhex(row.signature),
                  audit_digests.string_to_sign(row.body, json.loads(row.body)), padding.PKCS1v15(), hashes.SHA256())
    kms.create_key()
    audit_digests.make_digest(engine, store)
    with store.read() as conn:
        original = conn.execute(audit_digests.digests.select().where(audit_digests.digests.c.seq == 2)).one()
    with store.write() as conn:   # forge a digest body: its signature fails
        conn.execute(audit_digests.digests.update().where(audit_digests.digests.c.seq == 2).values(
            body=sa.func.replace(audit_digests.digests.c.body, '"recordCount": 2', '"recordCount": 1')))
    assert audit_digests.verify_digests(engine, store) == (False, 1, 2)
    with store.write() as conn:   # delete it instead: the digest after it no longer chains
        conn.execute(audit_digests.digests.delete().where(audit_digests.digests.c.seq == 2))
    assert audit_digests.verify_digests(engine, store) == (False, 1, 3)
    assert original.signature


def test_signed_digest_notices_a_rewritten_record_even_with_a_rebuilt_chain(engine, kms):
    import hashlib
    from keyplane.engine import audit_digests
    store = engine.store_for("us-east-1")
    for _ in range(3):
        kms.create_key()
    audit_digests.make_digest(engine, store)
    with store.write() as conn:   # rewrite record 3 and recompute its hash: the chain alone looks fine
        rec = conn.execute(audit.select().where(audit.c.seq == 3)).one()
        prev = conn.execute(audit.select().where(audit.c.seq == 2)).one().hash
        body = rec.record.replace("CreateKey", "DeleteKey")
        conn.execute(audit.update().where(audit.c.seq == 3).values(
            record=body, hash=hashlib.sha256((prev + body).encode()).hexdigest()))
    assert engine.audit.verify(store)[0] is True
    assert audit_digests.verify_digests(engine, store)[0] is False
