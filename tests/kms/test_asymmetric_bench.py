"""`keyplane bench --sign` runs Sign and Verify, Encapsulate and Decapsulate at every layer and reports
each next to its floor."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TREE = Path(__file__).resolve().parents[2]


def test_bench_sign_reports_floor_engine_and_client_for_rsa_ecc_ed25519ph_and_ml_kem(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(TREE / "provider")}
    done = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--sign", "--seconds", "0.02"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures = re.findall(r"^(sign|verify|encapsulate|decapsulate) (RSA_2048|ECC_NIST_P256|ECC_NIST_EDWARDS25519|"
                         r"ML_KEM_768): (raw cryptography|raw libsodium|engine API|boto3 client)"
                         r".*?([\d,]+) ops/s", done.stdout, re.M)
    expected = {(op, spec, layer) for op in ("sign", "verify") for spec in ("RSA_2048", "ECC_NIST_P256")
                for layer in ("raw cryptography", "engine API", "boto3 client")}
    expected |= {(op, "ECC_NIST_EDWARDS25519", layer) for op in ("sign", "verify")
                 for layer in ("raw libsodium", "engine API", "boto3 client")}
    expected |= {(op, "ML_KEM_768", layer) for op in ("encapsulate", "decapsulate")
                 for layer in ("raw cryptography", "engine API", "boto3 client")}
    assert len(figures) == len(expected) == 24
    assert {(op, spec, layer) for op, spec, layer, _ in figures} == expected
    assert all(int(n.replace(",", "")) > 0 for *_, n in figures)
