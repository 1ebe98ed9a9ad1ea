"""The `keyplane` command line: `build_parser` names every subcommand and the module that runs it.

    init   -> here (state folder, root key, store) + the identities file the server reads
    tick   -> Engine.run_due
    audit  -> the engine's audit trail, engine/audit_digests.py, audit_delivery.py, audit_verify.py
    events -> engine/events.py (pending deliveries and the dead-letter list)
    bench  -> keyplane/bench/command.py (which names each bench mode)
    identities -> keyplane/identities_command.py (identities kept in the store, engine/identity_store.py)
    serve  -> keyplane/startup.py (checks, seed, announcement), then keyplane/server.py in each worker

This module only builds the command line and calls the modules above; server.py never imports it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timedelta, timezone

def _state_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default=None,
                   help="state folder or store URL (default: $KEYPLANE_STATE or ./.keyplane)")


def _engine(args, **kwargs):
    from .engine.core import Engine
    return Engine(args.state, **kwargs)


def _init(p: argparse.ArgumentParser) -> None:
    from .server import DEFAULT_PORT
    _state_arg(p)
    p.add_argument("--root-key", default=None, help="root key source: a file, env:VAR or pkcs11:...")
    _option(p, "--port", DEFAULT_PORT, kind=int, help="the port `keyplane serve` will use, for the endpoints printed")
    _option(p, "--tls", False, kind=bool, help="the server will use --tls: print https endpoints")
    p.add_argument("--profile", metavar="NAME", default=None,
                   help="also write an AWS profile NAME (~/.aws/config with a services section pointing KMS, "
                        "SSM, Secrets Manager and STS at keyplane; ~/.aws/credentials 0600)")

    def run(args):
        from .engine.core import resolve_state
        from .engine.private_dirs import make_private_dirs
        url, folder = resolve_state(args.state)
        if folder:
            make_private_dirs(folder)
        engine = _engine(args, root_key=args.root_key)
        store = engine.store_for("us-east-1")
        print(f"keyplane state: {url}")
        print(f"root key: {engine.root_key_for(store).source}")
        akid, secret = _init_identities(engine)
        engine.close()
        from .server import DEFAULT_HOST
        from .startup import endpoint_exports
        endpoint = f"{'https' if args.tls else 'http'}://{DEFAULT_HOST}:{args.port}"
        print(f"export AWS_ACCESS_KEY_ID={akid} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION=us-east-1 "
              f"{endpoint_exports(endpoint)}")
        if args.tls:
            print(f"export AWS_CA_BUNDLE={os.path.join(folder or '.', 'tls', 'ca.pem')}   "
                  "# made by the first `keyplane serve --tls`")
        if args.profile:
            from . import profiles
            config_path, credentials_path = profiles.write_profile(args.profile, endpoint, akid, secret)
            print(f"AWS profile {args.profile}: {config_path} and {credentials_path} "
                  f"(use it with AWS_PROFILE={args.profile} or --profile {args.profile})")
        return 0
    p.set_defaults(run=run)


def _init_identities(engine) -> tuple[str, str]:
    """Make the identities file `keyplane serve` reads (once); its working credentials."""
    from .engine.identity import Identities
    from .server import IDENTITIES_FILE
    path = os.path.join(engine.state_dir or ".", IDENTITIES_FILE)
    if os.path.exists(path):
        ids = Identities.load(path)
        print(f"identities: {path} (existing)")
    else:
        ids = Identities.create_default(path)
        print(f"identities: {path} (created, mode 0600)")
    return ids.default_credentials()


def _parse_duration(text: str) -> timedelta:
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    if not text or text[-1] not in units:
        raise argparse.ArgumentTypeError("durations look like 30s, 15m, 12h or 8d")
    return timedelta(**{units[text[-1]]: float(text[:-1])})


def _tick(p: argparse.ArgumentParser) -> None:
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


def _audit(p: argparse.ArgumentParser) -> None:
    _state_arg(p)
    p.add_argument("--key", default=None, help="only records about this key id or ARN")
    p.add_argument("--operation", default=None, help="only this operation (e.g. Decrypt)")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="full records as JSON lines")
    p.add_argument("--verify", action="store_true",
                   help="check the trail across the store and the delivered files: hash chain, log files, "
                        "signed digests, missing records")
    p.add_argument("--digest", action="store_true", help="sign a digest of the records since the last one")
    p.add_argument("--deliver", action="store_true",
                   help="deliver the closed periods to log files now, sign a digest listing them, and prune "
                        "delivered records older than the retention")
    p.add_argument("--audit-dir", default=None, metavar="DIR",
                   help="where log files are delivered (default: $KEYPLANE_AUDIT_DIR, else <state>/audit)")
    p.add_argument("--retention", type=_seconds, default=None,
                   help="with --deliver: how long delivered records stay in the store (default: "
                        "$KEYPLANE_AUDIT_RETENTION seconds, else 24h)")
    p.add_argument("--public-key", action="store_true", help="print the PEM key that verifies digests")

    def run(args):
        engine = _engine(args)
        engine.audit_dir = args.audit_dir
        engine.audit_retention = args.retention
        store = engine.store_for(args.region)
        from .engine import audit_digests
        try:
            if args.public_key:
                print(audit_digests.public_key_pem(engine, store), end="")
                return 0
            if args.digest:
                print(json.dumps(audit_digests.make_digest(engine, store), indent=2))
                return 0
            if args.deliver:
                return _audit_deliver(engine, store)
            if args.verify:
                from .engine import audit_verify
                report = audit_verify.verify(engine, store)
                for line in report.lines:
                    print(line)
                for problem in report.problems:
                    print(f"  PROBLEM: {problem}")
                return 0 if report.ok else 1
            for rec in engine.audit.query(store, resource=args.key, event_name=args.operation, limit=args.limit):
                if args.json:
                    print(json.dumps(rec, sort_keys=True))
                else:
                    res = (rec.get("resources") or [{}])[0].get("ARN", "-")
                    who = (rec.get("userIdentity") or {}).get("arn") or (rec.get("userIdentity") or {}).get("invokedBy")
                    print(f"{rec['eventTime']}  {rec['eventName']:<32} {rec.get('errorCode') or 'OK':<28} {who}  {res}")
            return 0
        finally:
            engine.close()
    p.set_defaults(run=run)


def _audit_deliver(engine, store) -> int:
    from .engine import audit_delivery, audit_digests, audit_pruning
    folder = audit_delivery.audit_dir(engine, store)
    if folder is None:
        print("keyplane: no audit folder: give --audit-dir or KEYPLANE_AUDIT_DIR (the store is not a folder)",
              file=sys.stderr)
        return 2
    now = engine.clock.now()
    files = audit_delivery.deliver(engine, store, folder, (now.timestamp() // audit_delivery.PERIOD)
                                   * audit_delivery.PERIOD)
    digest = audit_digests.make_digest(engine, store, now)
    pruned = audit_pruning.prune_due(engine, store, now)
    print(json.dumps({"folder": folder, "logFiles": [f.object for f in files],
                      "records": sum(f.count for f in files), "bytes": sum(f.size for f in files),
                      "digest": digest["digestS3Object"], "pruned": pruned}, indent=2))
    return 0


def _events(p: argparse.ArgumentParser) -> None:
    _state_arg(p)
    p.add_argument("action", nargs="?", choices=("list", "retry", "drop"), default="list",
                   help="list (default) what is pending or dead; retry or drop dead letters")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--dead", action="store_true", help="list only the dead-letter list")
    p.add_argument("--seq", type=int, action="append", default=None, help="only this event (repeatable)")
    p.add_argument("--sink", default=None, help="only deliveries to this sink (file:/path or webhook:URL)")
    p.add_argument("--pending", action="store_true", help="drop: also deliveries still being tried")

    def run(args):
        from .engine import events
        engine = _engine(args)
        store = engine.store_for(args.region)
        try:
            if args.action == "retry":
                print(f"{events.retry(store, engine.clock.now(), seqs=args.seq, sink=args.sink)} dead letters due again")
            elif args.action == "drop":
                print(f"{events.drop(store, seqs=args.seq, sink=args.sink, dead_only=not args.pending)} deliveries dropped")
            else:
                for row in events.pending(store, dead=True if args.dead else None):
                    evt = row["event"]
                    print(json.dumps({"seq": row["seq"], "sink": row["sink"], "dead": row["dead"],
                                      "attempts": row["attempts"], "last_error": row["last_error"],
                                      "detail-type": evt.get("detail-type"), "time": evt.get("time"),
                                      "resources": evt.get("resources")}, sort_keys=True))
        finally:
            engine.close()
        return 0
    p.set_defaults(run=run)


def _bench(p: argparse.ArgumentParser) -> None:
    from .bench import command
    command.add_arguments(p)
    p.set_defaults(run=command.run)


def _identities(p: argparse.ArgumentParser) -> None:
    from . import identities_command
    identities_command.add_arguments(p)


def _seconds(text: str) -> float:
    """A duration (90s, 15m, 24h, 7d) or a number of seconds."""
    from .engine.audit_delivery import parse_seconds
    return parse_seconds(text)


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def _truthy(text: str) -> bool:
    return text.strip().lower() in TRUE_WORDS


def _option(p: argparse.ArgumentParser, flag: str, default=None, *, kind=str, help: str, flag_only=False,
            shown=None, **kwargs) -> None:
    """A `serve` option whose default comes from KEYPLANE_<NAME> when set (the flag wins), with the
    variable and the default in its help (`shown` when the default is not a plain value). Booleans get
    --x / --no-x. A variable's value is checked as the flag's would be (its type, its choices), and a
    bad one stops the command naming the variable, before anything is started or announced."""
    env = "KEYPLANE_" + flag.lstrip("-").replace("-", "_").upper()
    raw = None if flag_only else os.environ.get(env)
    if kind is bool:
        if raw is not None and raw.strip().lower() not in TRUE_WORDS + FALSE_WORDS:
            p.error(f"{env}={raw!r} is not on or off (1/true/yes/on, 0/false/no/off)")
        value = _truthy(raw) if raw is not None else default
        p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value,
                       help=f"{help} [env {env}; default: {shown or ('on' if default else 'off')}]", **kwargs)
        return
    if kind is list:
        value = [v for v in raw.split(",") if v] if raw else list(default or [])
        p.add_argument(flag, action="append", default=None,
                       help=f"{help} (repeatable) [env {env}, comma-separated; default: {shown or 'none'}]",
                       **kwargs)
        p.set_defaults(**{flag.lstrip("-").replace("-", "_") + "_env": value})
        return
    value = default
    if raw not in (None, ""):
        choices = kwargs.get("choices")
        if choices is not None and raw.strip().lower() in choices:
            raw = raw.strip().lower()      # KEYPLANE_LOG_LEVEL=INFO, as containers tend to write it
        try:
            value = kind(raw)
        except ValueError:
            p.error(f"{env}={raw!r} is not a valid value for {flag}")
        if choices is not None and value not in choices:
            p.error(f"{env}={raw!r} is not one of {', '.join(choices)}")
    shown = shown or ("none" if default is None else default)
    p.add_argument(flag, type=kind, default=value,
                   help=f"{help} [{'' if flag_only else f'env {env}; '}default: {shown}]", **kwargs)


def _serve(p: argparse.ArgumentParser) -> None:
    from . import admission
    from .engine.identity import DEV_ACCOUNT
    from .server import DEFAULT_HOST, DEFAULT_PORT
    _option(p, "--host", DEFAULT_HOST, help="address to listen on (0.0.0.0 in a container)")
    _option(p, "--port", DEFAULT_PORT, kind=int, help="port to listen on")
    _option(p, "--state", None, help="state folder or database URL (none: ./.keyplane)")
    _option(p, "--identities", None, metavar="FILE", help="identities file (none: <state>/identities.yaml)")
    _option(p, "--workers", 1, kind=int, help="worker processes")
    _option(p, "--threads", 0, kind=int,
            help="handle calls on a pool of this many threads per worker (0: on the event loop)")
    _option(p, "--tls", False, kind=bool, help="serve HTTPS (certificate generated into the state folder)")
    _option(p, "--tls-cert", None, help="PEM certificate chain to serve with --tls")
    _option(p, "--tls-key", None, help="PEM private key for --tls-cert")
    _option(p, "--dev", False, kind=bool,
            help="development mode: temporary state unless --state, any access key accepted as the dev "
                 "account's root (test/test printed), signed POST /_keyplane/reset, access log on")
    _option(p, "--dev-account", DEV_ACCOUNT, help="--dev: the account unknown access keys act as the root of")
    _option(p, "--seed", None, metavar="FILE",
            help="apply this seed file at start (keys with fixed ids/material, aliases, parameters, "
                 "secrets, identities; schemas/seed.schema.json)")
    _option(p, "--log-level", "warning", choices=("critical", "error", "warning", "info", "debug"),
            help="log level of keyplane's and uvicorn's lines")
    _option(p, "--log-format", "text", choices=("text", "json"), help="log line format")
    _option(p, "--access-log", None, kind=bool, shown="on with --dev, else off",
            help="one log line per call: service.Operation, status, error code, caller, request id, latency")
    _option(p, "--events-file", None, metavar="FILE",
            help="append events (parameter policies and changes) to this JSON-lines file")
    _option(p, "--events-webhook", None, kind=list, metavar="URL",
            help="POST each event to this URL, retried with backoff")
    _option(p, "--events-max-attempts", None, kind=int,
            help="give up on a delivery after this many attempts (none: 185, as EventBridge)")
    _option(p, "--events-max-age", None, kind=float, metavar="SECONDS",
            help="give up on a delivery this long after its event (none: 86400, as EventBridge)")
    _option(p, "--audit-dir", None, metavar="DIR|off",
            help="deliver the audit trail to CloudTrail log files and signed digest files here (none: "
                 "<state>/audit when the state is a folder; off: keep the whole trail in the store)")
    _option(p, "--audit-retention", None, kind=_seconds, metavar="DURATION",
            help="how long delivered audit records stay in the store, e.g. 6h (none: 24h)")
    _option(p, "--quotas", None, metavar="aws|off|FILE",
            help="request quotas: AWS's defaults (none: aws; off with --dev), off, or a YAML file of "
                 "quota name: requests per second")
    _option(p, "--cache-ttl", None, kind=float, metavar="SECONDS",
            help="how long state changed through another server may go unseen (none: 0.5; 0 reads through)")
    _option(p, "--allowed-hosts", None, metavar="NAMES",
            help="more Host names to answer, comma-separated ('*': any); always this machine's names and "
                 "addresses and localhost")
    _option(p, "--max-connections", admission.MAX_CONNECTIONS, kind=int,
            help="open connections per worker (never more than the open-file limit allows)")
    _option(p, "--header-timeout", admission.HEADER_TIMEOUT, kind=float, metavar="SECONDS",
            help="close a connection that has not sent a request's headers in this long")

    def run(args):
        from .engine import events
        from .server import ServeConfig
        from .startup import serve
        webhooks = args.events_webhook if args.events_webhook is not None else args.events_webhook_env
        events.configure_environment(file=args.events_file, webhooks=webhooks,  # workers inherit it
                                     max_attempts=args.events_max_attempts, max_age=args.events_max_age)
        from .engine import audit_delivery
        audit_delivery.configure_environment(audit_dir=args.audit_dir, retention=args.audit_retention)
        access_log = args.access_log if args.access_log is not None else args.dev
        return serve(ServeConfig(host=args.host, port=args.port, state=args.state, identities=args.identities,
                                 workers=args.workers, threads=args.threads, dev=args.dev,
                                 tls=args.tls or bool(args.tls_cert), tls_cert=args.tls_cert,
                                 tls_key=args.tls_key, log_level=args.log_level, access_log=access_log,
                                 quotas=args.quotas, cache_ttl=args.cache_ttl, allowed_hosts=args.allowed_hosts,
                                 max_connections=args.max_connections, header_timeout=args.header_timeout,
                                 dev_account=args.dev_account, log_format=args.log_format),
                     seed_file=args.seed)
    p.set_defaults(run=run)


def build_parser() -> argparse.ArgumentParser:
    from .version import version
    parser = argparse.ArgumentParser(prog="keyplane", description="self-hosted key management plane")
    parser.add_argument("--version", action="version", version=f"keyplane {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    _init(sub.add_parser("init", help="create the state folder, root key and store"))
    _tick(sub.add_parser("tick", help="perform the work that is due now (or at --at / after --advance)"))
    _audit(sub.add_parser("audit", help="list audit records, newest first"))
    _events(sub.add_parser("events", help="list, retry or drop undelivered events (and the dead-letter list)"))
    _bench(sub.add_parser("bench", help="measure Encrypt / Decrypt / GenerateDataKey throughput"))
    _identities(sub.add_parser("identities", help="the identities every server on the store shares: import, "
                                                  "export, add-user, add-key, deactivate-key"))
    _serve(sub.add_parser("serve", help="serve the AWS-compatible endpoint (KMS, SSM, Secrets Manager, STS)"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .engine.sealing import RootKeyError
    try:
        return args.run(args) or 0
    except RootKeyError as exc:
        print(f"keyplane: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
