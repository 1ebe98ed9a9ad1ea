"""The `keyplane` command: init, tick, audit, bench (and serve, from server.py).

Each subcommand is a `(name, help, add_arguments, run)` entry in COMMANDS; a feature adds its own
entry next to its code rather than growing this file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone

COMMANDS: list = []


def command(name: str, help: str):
    def register(fn):
        COMMANDS.append((name, help, fn))
        return fn
    return register


def _state_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default=None,
                   help="state folder or store URL (default: $KEYPLANE_STATE or ./.keyplane)")


def _engine(args, **kwargs):
    from .engine.core import Engine
    return Engine(args.state, **kwargs)


@command("init", "create the state folder, its root key (mode 0600) and the store")
def _init(sub):
    p = sub.add_parser("init", help="create the state folder, root key and store")
    _state_arg(p)
    p.add_argument("--root-key", default=None, help="root key source: a file, env:VAR or pkcs11:...")

    def run(args):
        from .engine.core import resolve_state
        url, folder = resolve_state(args.state)
        if folder:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        engine = _engine(args, root_key=args.root_key)
        store = engine.store_for("us-east-1")
        print(f"keyplane state: {url}")
        print(f"root key: {engine.root_key_for(store).source}")
        for hook in INIT_HOOKS:
            hook(args, engine)
        engine.close()
        return 0
    p.set_defaults(run=run)


# extra work `keyplane init` does (identities file, credentials): fn(args, engine)
INIT_HOOKS: list = []


def _parse_duration(text: str) -> timedelta:
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if not text or text[-1] not in units:
        raise argparse.ArgumentTypeError("durations look like 30s, 15m, 12h or 8d")
    return timedelta(**{units[text[-1]]: float(text[:-1])})


@command("tick", "perform the time-driven work that is due (deletions, rotations, expiry)")
def _tick(sub):
    p = sub.add_parser("tick", help="perform the work that is due now (or at --at / after --advance)")
    _state_arg(p)
    p.add_argument("--at", default=None, help="act as if it were this ISO-8601 time")
    p.add_argument("--advance", type=_parse_duration, default=None, help="act as if this much later (e.g. 31d)")

    def run(args):
        engine = _engine(args)
        now = datetime.fromisoformat(args.at) if args.at else datetime.now(timezone.utc)
        if now.tzinfo is None:
            now = now.replace(tzinfo=timezone.utc)
        if args.advance:
            now += args.advance
        done = engine.run_due(now)
        engine.close()
        print(json.dumps({"at": now.isoformat(), "done": done}, indent=2))
        return 0
    p.set_defaults(run=run)


@command("audit", "list the audit trail, newest first")
def _audit(sub):
    p = sub.add_parser("audit", help="list audit records, newest first")
    _state_arg(p)
    p.add_argument("--key", default=None, help="only records about this key id or ARN")
    p.add_argument("--operation", default=None, help="only this operation (e.g. Decrypt)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="full records as JSON lines")
    p.add_argument("--verify", action="store_true", help="check the hash chain and the signed digests")
    p.add_argument("--digest", action="store_true", help="sign a digest of the records since the last one")
    p.add_argument("--public-key", action="store_true", help="print the PEM key that verifies digests")

    def run(args):
        engine = _engine(args)
        store = engine.store_for(args.region)
        from .engine import audit_digests
        if args.public_key:
            print(audit_digests.public_key_pem(engine, store), end="")
            engine.close()
            return 0
        if args.digest:
            print(json.dumps(audit_digests.make_digest(engine, store), indent=2))
            engine.close()
            return 0
        if args.verify:
            ok, n, bad = engine.audit.verify(store)
            print(f"audit chain {'intact' if ok else 'BROKEN at seq ' + str(bad)}: {n} records verified")
            dok, dn, dbad = audit_digests.verify_digests(engine, store)
            print(f"signed digests {'intact' if dok else 'BROKEN at digest ' + str(dbad)}: {dn} digests verified")
            engine.close()
            return 0 if ok and dok else 1
        for rec in engine.audit.query(store, resource=args.key, event_name=args.operation, limit=args.limit):
            if args.json:
                print(json.dumps(rec, sort_keys=True))
            else:
                res = (rec.get("resources") or [{}])[0].get("ARN", "-")
                who = (rec.get("userIdentity") or {}).get("arn") or (rec.get("userIdentity") or {}).get("invokedBy")
                print(f"{rec['eventTime']}  {rec['eventName']:<32} {rec.get('errorCode') or 'OK':<28} {who}  {res}")
        engine.close()
        return 0
    p.set_defaults(run=run)


@command("bench", "measure Encrypt, Decrypt and GenerateDataKey throughput")
def _bench(sub):
    from . import bench
    bench.add_arguments(sub)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="keyplane", description="self-hosted key management plane")
    sub = parser.add_subparsers(dest="command", required=True)
    try:
        from . import server  # noqa: F401  (registers `serve`)
    except ImportError:
        pass
    for _name, _help, register in COMMANDS:
        register(sub)
    args = parser.parse_args(argv)
    from .engine.sealing import RootKeyError
    try:
        return args.run(args) or 0
    except RootKeyError as exc:
        print(f"keyplane: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
