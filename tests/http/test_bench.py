"""`keyplane bench --endpoint`: the HTTP workload against keyplane and the canned-response floor."""
from __future__ import annotations

import re
import subprocess
import sys

from keyplane_server import keyplane_env


def test_bench_over_http_reports_keyplane_the_floor_and_their_ratio(server):
    env = keyplane_env(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
                       AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--endpoint", server.endpoint,
                          "--floor", "--ops", "encrypt", "--seconds", "0.5", "--clients", "1"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    text = out.stdout
    kp = re.search(r"encrypt: keyplane \(.*\)\s+([\d,]+) ops/s", text)
    floor = re.search(r"encrypt: floor \(.*\)\s+([\d,]+) ops/s", text)
    ratio = re.search(r"encrypt: keyplane / floor = ([\d.]+)", text)
    assert kp and floor and ratio, text
    assert int(kp.group(1).replace(",", "")) > 0 and "errors" not in text


def test_bench_floor_without_endpoint_is_refused():
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--floor"], env=keyplane_env(),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "--endpoint" in out.stdout
