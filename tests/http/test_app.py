"""The ASGI app in-process: internal faults, request ids, the scheduler lock."""
from __future__ import annotations

import json
import logging

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from keyplane.engine.identity import Identities
from keyplane.server import KeyplaneApp, SchedulerLock


def _scope_and_body(akid, secret, target, body=b"{}", service="kms"):
    request = AWSRequest(method="POST", url="http://127.0.0.1:4566/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target,
                                  "Host": "127.0.0.1:4566"})
    SigV4Auth(Credentials(akid, secret), service, "us-east-1").add_auth(request)
    headers = [(k.lower().encode(), v.encode() if isinstance(v, str) else v) for k, v in request.headers.items()]
    return {"type": "http", "method": "POST", "path": "/", "query_string": b"", "headers": headers,
            "scheme": "http", "client": ("127.0.0.1", 5555)}, body


def test_unexpected_fault_is_the_services_internal_error_with_the_request_id_logged(tmp_path, engine, caplog,
                                                                                   monkeypatch):
    from datetime import datetime, timezone
    engine.clock.set(datetime.now(timezone.utc))  # SigV4 is checked against the engine's clock
    ids = Identities.create_default(tmp_path / "ids.yaml")
    akid, secret = ids.default_credentials()
    app = KeyplaneApp(engine, ids)

    def broken(*a, **k):
        raise RuntimeError("disk on fire at /secret/path")
    from dataclasses import replace

    from keyplane.engine import services
    spec = services.lookup("kms", "ListKeys")
    monkeypatch.setitem(services.OPERATIONS, ("kms", "ListKeys"), replace(spec, fn=broken))
    scope, body = _scope_and_body(akid, secret, "TrentService.ListKeys")
    with caplog.at_level(logging.ERROR):
        status, headers, payload = app.handle(scope, body, "req-123")
    doc = json.loads(payload)
    assert status == 500 and doc["__type"] == "KMSInternalException"
    assert "disk on fire" not in payload.decode() and "Traceback" not in payload.decode()
    assert "req-123" in caplog.text and "disk on fire" in caplog.text
    app.close()


def test_only_one_process_holds_the_scheduler_lock(engine):
    first, second = SchedulerLock(engine), SchedulerLock(engine)
    assert first.acquire()
    assert not second.acquire()
    first.release()
    assert second.acquire()
    second.release()


def test_bodies_whose_signature_is_not_settled_are_read_a_bounded_number_at_a_time(tmp_path, engine):
    """Issue 17, finding 4: 100 requests with valid-looking signed headers and slow 100 KB bodies
    hold at most LIMITS.unverified_bodies body buffers at once; the rest wait for a place. Meanwhile
    a request with a small body needs no place and is answered: 200 connections trickling forged
    1 MiB bodies once kept every honest client waiting 10 s for a 503."""
    import asyncio
    from datetime import datetime, timezone

    from keyplane import admission
    engine.clock.set(datetime.now(timezone.utc))
    ids = Identities.create_default(tmp_path / "ids.yaml")
    akid, secret = ids.default_credentials()
    engine.identities = ids           # the admin's policies allow ListKeys
    app = KeyplaneApp(engine, ids)
    body = b"{" + b" " * 100_000 + b"}"
    scope, _ = _scope_and_body(akid, secret, "TrentService.ListKeys", body)
    scope["headers"].append((b"content-length", str(len(body)).encode()))
    small, small_body = _scope_and_body(akid, secret, "TrentService.ListKeys")
    small["headers"].append((b"content-length", str(len(small_body)).encode()))
    waiting, most = [0], [0]

    async def run():
        release = asyncio.Event()

        def slow_body():
            """The body's first byte comes with the headers; the rest only after `release`."""
            calls = [0]

            async def receive():
                calls[0] += 1
                if calls[0] == 1:
                    return {"type": "http.request", "body": body[:1], "more_body": True}
                waiting[0] += 1
                most[0] = max(most[0], waiting[0])
                await release.wait()
                waiting[0] -= 1
                return {"type": "http.request", "body": body[1:], "more_body": False}
            return receive

        async def whole_body():
            return {"type": "http.request", "body": small_body, "more_body": False}

        answers = []

        async def send(message):
            if message["type"] == "http.response.start":
                answers.append(message["status"])

        tasks = [asyncio.create_task(app(scope, slow_body(), send)) for _ in range(100)]
        # scheduling, not domain time: wait until every request that can start reading has started
        for _ in range(200):
            await asyncio.sleep(0.05)
            if sum(t.done() for t in tasks) == 0 and most[0] >= admission.LIMITS.unverified_bodies:
                break
        await asyncio.sleep(0.3)
        held = most[0]
        await app(small, whole_body, send)       # every place is taken, and still it is answered
        whole = list(answers)
        release.set()
        await asyncio.gather(*tasks)
        return held, whole, answers
    # a loop of its own: asyncio.run() would leave the main thread without a current loop, which
    # Pulumi's mocks (later tests) still ask for
    loop = asyncio.new_event_loop()
    try:
        held, whole, answers = loop.run_until_complete(run())
        assert held == admission.LIMITS.unverified_bodies
        assert whole == [200]
        assert answers == [200] * 101
    finally:
        loop.close()
        app.close()


def test_key_generation_and_user_patterns_leave_the_event_loop_to_cheap_calls(tmp_path, engine):
    """Issue 17, findings 6 and 12: an RSA-4096 GenerateDataKeyPair (a key generation, ~1 s of CPU)
    and a PutParameter whose AllowedPattern RE2 cannot run (a backtracking match stopped after
    patterns.MATCH_SECONDS) are sent first, then five ListKeys: the ListKeys are all answered
    before either, as the slow calls wait on their pool and the loop answers the rest. On the loop,
    one client looping either held every other caller (Encrypt p50 2 -> 445 ms; 0.44 -> 75 ms).
    AllowedPattern is "a regular expression used to validate the parameter value"
    (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html)."""
    import asyncio
    from datetime import datetime, timezone

    import keyplane
    engine.clock.set(datetime.now(timezone.utc))
    ids = Identities.create_default(tmp_path / "ids.yaml")
    akid, secret = ids.default_credentials()
    engine.identities = ids
    key_id = keyplane.connect(engine=engine).client("kms").create_key()["KeyMetadata"]["KeyId"]
    app = KeyplaneApp(engine, ids)
    slow = [
        _scope_and_body(akid, secret, "TrentService.GenerateDataKeyPair",
                        json.dumps({"KeyId": key_id, "KeyPairSpec": "RSA_4096"}).encode()),
        _scope_and_body(akid, secret, "AmazonSSM.PutParameter", json.dumps(
            {"Name": "/slow", "Type": "String", "Value": "a" * 26 + "!",
             "AllowedPattern": "^(?=a)(a|a)*$"}).encode(), service="ssm"),
    ]
    cheap = _scope_and_body(akid, secret, "TrentService.ListKeys")

    async def run():
        finished = []

        def answer(name):
            async def receive():
                return {"type": "http.request", "body": body, "more_body": False}
            scope, body = {"slow-0": slow[0], "slow-1": slow[1]}.get(name, cheap)

            async def send(message):
                if message["type"] == "http.response.start":
                    finished.append((name, message["status"]))
            return app(scope, receive, send)
        tasks = [asyncio.create_task(answer(f"slow-{i}")) for i in range(2)]
        tasks += [asyncio.create_task(answer(f"cheap-{i}")) for i in range(5)]
        await asyncio.gather(*tasks)
        return finished
    loop = asyncio.new_event_loop()
    try:
        finished = loop.run_until_complete(run())
    finally:
        loop.close()
        app.close()
    assert [name for name, _ in finished[:5]] == [f"cheap-{i}" for i in range(5)]
    assert dict(finished) == {**{f"cheap-{i}": 200 for i in range(5)}, "slow-0": 200, "slow-1": 400}
