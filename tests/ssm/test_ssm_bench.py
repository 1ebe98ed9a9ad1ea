"""`keyplane bench --ssm` runs end to end (small sizes here; the real figures come from the CLI)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]


def test_bench_ssm_reports_the_bypath_ratio_and_get_parameter_rates():
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--ssm", "--ssm-big", "3000",
                          "--seconds", "0.1"], env={"PYTHONPATH": str(TREE / "provider"), "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ByPath walk cost, 3,000 vs 1,000 parameters" in out.stdout
    assert "GetParameter(WithDecryption) engine API" in out.stdout
    assert '"bypath_ratio_wall"' in out.stdout
