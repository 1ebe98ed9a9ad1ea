"""`keyplane bench` on the command line: every mode's options, and which mode a command line asks for."""
from __future__ import annotations

import argparse

from . import kms, over_http, policy, scale, secrets, sign, ssm


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ops", default=",".join(kms.OPS), help="comma-separated: " + ", ".join(kms.OPS))
    p.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    p.add_argument("--state", default=None, help="store to bench on (default: a temporary folder)")
    over_http.add_arguments(p)
    policy.add_arguments(p)
    scale.add_arguments(p)
    secrets.add_arguments(p)
    sign.add_arguments(p)
    ssm.add_arguments(p)


def run(args) -> int:
    if args.scale is not None:
        return scale.run(args)
    if args.endpoint is not None:
        return over_http.run(args)
    if args.floor or args.compare:
        print("keyplane bench: --floor and --compare go with --endpoint URL")
        return 2
    if args.policy_statements is not None:
        return policy.run(args)
    if args.secrets:
        return secrets.run(args)
    if args.sign:
        return sign.run(args)
    if args.ssm:
        return ssm.run(args)
    return kms.run(args)
