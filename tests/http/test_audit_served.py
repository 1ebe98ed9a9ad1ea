"""`keyplane serve --audit-dir`: the server's workers deliver the trail and sign its digests into the
folder given, not into the state folder, and `keyplane audit --verify` checks it afterwards."""
from __future__ import annotations

import time

from keyplane_server import keyplane, start_server


def test_serve_delivers_digests_to_the_audit_dir_it_is_given(tmp_path):
    trail = tmp_path / "trail"
    srv = start_server(tmp_path, "--audit-dir", str(trail), "--audit-retention", "6h", "--workers", "2")
    try:
        srv.client("kms").create_key(Description="served")
        deadline = time.monotonic() + 30
        # a store's first digest is signed at the scheduler's first tick (wall clock: we wait for it)
        while not list(trail.glob("AWSLogs/*/CloudTrail-Digest/*/*/*/*/*.json.gz")) and time.monotonic() < deadline:
            time.sleep(0.2)
        digests = list(trail.glob("AWSLogs/*/CloudTrail-Digest/us-east-1/*/*/*/*_keyplane_us-east-1_*.json.gz"))
        assert digests
        assert not (srv.state / "audit").exists()
    finally:
        srv.stop()
    out = keyplane("audit", "--state", str(srv.state), "--audit-dir", str(trail), "--verify")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "digest files checked" in out.stdout
