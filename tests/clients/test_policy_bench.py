"""`keyplane bench --policy-statements N`: Encrypt under a large key policy vs the default one."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from keyplane.bench.policy import policy_with_conditions
from keyplane.engine.identity import Principal
from keyplane.engine.policy import AuthzRequest, decide, parse_policy

ROOT = Path(__file__).resolve().parents[2]


def test_bench_policy_has_n_statements_that_all_apply_to_the_caller():
    doc = parse_policy(policy_with_conditions("111122223333", 20), "key")
    assert len(doc.statements) == 20 and all(st.conditions for st in doc.statements[1:])
    root = Principal.root("111122223333")
    assert len(doc.applicable("kms:encrypt", root)) == 20
    context = {"kms:EncryptionContext:tenant": "tenant-3", "kms:EncryptionContextKeys": ["tenant", "app"],
               "kms:CallerAccount": "111122223333", "aws:ViaAWSService": False}
    assert decide(doc, AuthzRequest(root, "kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/x", context)).allowed
    outsider = Principal.root("444455556666")
    assert decide(doc, AuthzRequest(outsider, "kms:Encrypt", "arn", {"kms:CallerAccount": "444455556666"})).denied


def test_bench_policy_statements_prints_both_figures_and_their_ratio(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT / "provider") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "keyplane.cli", "bench", "--policy-statements", "20",
                          "--seconds", "0.3", "--state", str(tmp_path / "state")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr + out.stdout
    assert re.search(r"encrypt, default policy \(engine API\)\s+[\d,]+ ops/s", out.stdout), out.stdout
    assert re.search(r"encrypt, 20-statement policy \(engine API\)\s+[\d,]+ ops/s", out.stdout), out.stdout
    ratios = [float(x) for x in re.findall(r"ratio \(median latency, large ÷ default\)\s+([\d.]+)x", out.stdout)]
    assert len(ratios) == 2 and all(r > 0 for r in ratios), out.stdout
