"""Property: whatever a client sends, keyplane answers it without a 5xx, with a bounded error body,
changes nothing when it refuses, and keeps an audit trail that verifies with no gap.

Requests are generated from botocore's KMS, SSM and Secrets Manager models (tests/fuzz/requests.py)
and sent through the real JSON 1.1 path (`handle_json`, what `keyplane serve` runs after SigV4). A
bounded run is part of every test run (KEYPLANE_FUZZ_EXAMPLES, default 600 examples, about half a
minute here); set KEYPLANE_FUZZ_EXAMPLES=20000 for a long one.
"""
from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keyplane
from keyplane.engine import apimodel, services
from keyplane.engine.clock import ManualClock
from keyplane.engine.core import Engine
from keyplane.engine.identity import Principal
from keyplane.engine.store.base import metadata
from keyplane.wire.protocol import handle_json

from .requests import encode, valid

EXAMPLES = int(os.environ.get("KEYPLANE_FUZZ_EXAMPLES", "600"))
MAX_ERROR_BODY = 8192
TARGETS = {"kms": "TrentService", "ssm": "AmazonSSM", "secretsmanager": "secretsmanager"}
# tables whose rows are the trail of calls, not state a refused call may not change (resource_uses
# is the trail's newest successful use per resource, written with earlier calls' records)
_TRAIL = {"audit_events", "audit_writers", "audit_digests", "resource_uses", "audit_delivery", "audit_log_files"}


def _operations() -> list[tuple[str, str]]:
    ops = []
    for service in TARGETS:
        for name in apimodel.service_model(service).operation_names:
            if services.lookup(service, name) is not None:
                ops.append((service, name))
    return ops


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An engine with a key, an alias, a grant, parameters and secrets to aim at."""
    eng = Engine(str(tmp_path_factory.mktemp("fuzz") / "state"),
                 clock=ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)))
    conn = keyplane.connect(engine=eng)
    kms, ssm, sm = conn.client("kms"), conn.client("ssm"), conn.client("secretsmanager")
    key = kms.create_key(Description="fuzz")["KeyMetadata"]
    kms.create_alias(AliasName="alias/fuzz", TargetKeyId=key["KeyId"])
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="arn:aws:iam::111122223333:role/app",
                             Operations=["Encrypt", "Decrypt"])["GrantId"]
    ssm.put_parameter(Name="/fuzz/a", Value="v1", Type="String", AllowedPattern="^v[0-9]+$")
    ssm.put_parameter(Name="/fuzz/b", Value="s", Type="SecureString")
    secret = sm.create_secret(Name="fuzz/secret", SecretString="s3cret")["ARN"]
    seeds = {"key": [key["KeyId"], key["Arn"], "alias/fuzz"], "alias": ["alias/fuzz", "alias/new"],
             "grant": [grant], "name": ["/fuzz/a", "/fuzz/b", "fuzz/secret"], "secret": ["fuzz/secret", secret],
             "resource": ["/fuzz/a", key["KeyId"]], "arn": [key["Arn"], secret]}
    yield eng, seeds
    eng.close()


def _snapshot(store) -> str:
    digest = hashlib.sha256()
    with store.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in _TRAIL:
                continue
            try:
                rows = conn.execute(sa.select(table)).all()
            except sa.exc.OperationalError:
                continue
            for row in sorted(repr(tuple(r)) for r in rows):
                digest.update(row.encode())
    return digest.hexdigest()


_CALLERS = [Principal.root("111122223333"), Principal.root("444455556666"),
            Principal.from_arn("arn:aws:iam::111122223333:user/nobody")]


@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_input_gets_a_5xx_a_big_error_or_changes_state_when_refused(world, data):
    engine, seeds = world
    service, name = data.draw(st.sampled_from(OPERATIONS), label="operation")
    shape = apimodel.operation_model(service, name).input_shape
    hostile = data.draw(st.booleans(), label="hostile")
    body = valid(data.draw, shape, seeds, hostile=hostile) if shape is not None else {}
    if hostile and data.draw(st.integers(0, 20)) == 0:
        body = data.draw(st.sampled_from([[], "x", 1, None, [body]]))
    raw = encode(body)
    caller = data.draw(st.sampled_from(_CALLERS), label="caller")
    ctx = engine.context(caller)
    store = engine.store_for(ctx.region)
    before = _snapshot(store)
    resp = handle_json(engine, target=f"{TARGETS[service]}.{name}", body=raw, ctx=ctx)
    assert resp.status < 500, (service, name, raw[:400], resp.body[:400])
    if resp.status >= 400:
        assert len(resp.body) <= MAX_ERROR_BODY, (service, name, len(resp.body))
        err = json.loads(resp.body)
        assert err["__type"] and isinstance(err.get("message", err.get("Message", "")), str)
        assert _snapshot(store) == before, (service, name, raw[:400], resp.body[:400])


def test_the_trail_verifies_after_the_run(world):
    engine, _ = world
    store = engine.store_for("us-east-1")
    assert engine.audit.verify(store)[0]
    assert engine.audit.gaps(store) == []
