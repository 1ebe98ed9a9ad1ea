"""`keyplane bench --sign` runs Sign and Verify at every layer and reports each next to its floor."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]


def test_bench_sign_reports_floor_engine_and_client_for_rsa_and_ecc(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TREE / "provider")}
    done = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--sign", "--seconds", "0.02"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = re.findall(r"^(sign|verify) (RSA_2048|ECC_NIST_P256): (raw cryptography|engine API|boto3 client)"
                         r".*?([\d,]+) ops/s", done.stdout, re.M)
    assert len(figures) == 12
    assert {(op, spec, layer) for op, spec, layer, _ in figures} == {
        (op, spec, layer) for op in ("sign", "verify") for spec in ("RSA_2048", "ECC_NIST_P256")
        for layer in ("raw cryptography", "engine API", "boto3 client")}
    assert all(int(n.replace(",", "")) > 0 for *_, n in figures)
