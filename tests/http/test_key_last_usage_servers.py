"""GetKeyLastUsage through two `keyplane serve` processes on one PostgreSQL store: the use one server
answered is what the other reports, once the first has written its audit batch (a flush interval,
0.25 s; AWS allows "a delay of up to one hour between the time a cryptographic operation occurs and
the time that usage is recorded":
https://docs.aws.amazon.com/kms/latest/developerguide/monitoring-keys-determining-usage.html)."""
from __future__ import annotations

import time

from keyplane_server import start_servers


def _eventually(fn, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_a_use_answered_by_one_server_is_reported_by_the_other(postgres_url, tmp_path):
    servers = start_servers(tmp_path, postgres_url, 2)
    try:
        a, b = (s.client("kms") for s in servers)
        key = a.create_key()["KeyMetadata"]["KeyId"]
        assert b.get_key_last_usage(KeyId=key)["KeyLastUsage"] == {}
        request = a.encrypt(KeyId=key, Plaintext=b"x")["ResponseMetadata"]["RequestId"]

        def seen_by_b():
            usage = b.get_key_last_usage(KeyId=key)["KeyLastUsage"]
            return usage.get("Operation"), usage.get("KmsRequestId")
        assert _eventually(seen_by_b, ("Encrypt", request)) == ("Encrypt", request)
        request = b.generate_data_key(KeyId=key, KeySpec="AES_256")["ResponseMetadata"]["RequestId"]
        assert seen_by_b() == ("GenerateDataKey", request)      # b's own use: at once
    finally:
        for s in servers:
            s.stop()
