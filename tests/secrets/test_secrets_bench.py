"""`keyplane bench --secrets` runs and reports each layer it measures."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]


def test_bench_secrets_reports_get_secret_value_per_layer(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TREE / "provider")}
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--secrets", "--seconds", "0.2"],
                         env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if "ops/s" in line]
    assert [line.split("  ")[0].strip() for line in lines] == [
        "GetSecretValue (engine API)", "GetSecretValue (boto3 in-process)", "DescribeSecret (engine API)"]
    for line in lines:
        ops = float(line.split("ops/s")[0].split()[-1].replace(",", ""))
        assert ops > 0, line
