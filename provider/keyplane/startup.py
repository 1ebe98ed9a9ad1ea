"""What `keyplane serve` does before uvicorn takes over, in order: a throw-away state folder in dev
mode, the port (checked free before anything is announced), the identities (dev mode makes them),
the store (opened once so migrations and the root key are settled before any worker), the seed
file, TLS, the announcement with working credentials and endpoints, then uvicorn with keyplane's
log format. server.py is what each worker runs."""
from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path

from keyplane import admission, logs
from keyplane.server import CONFIG_ENV, GRACE_SECONDS, ServeConfig, identities_path

log = logging.getLogger("keyplane.server")

# the per-service endpoint variables AWS SDKs and the AWS CLI read (service-specific endpoints),
# so S3 and every other service keep going to AWS
ENDPOINT_VARIABLES = {"kms": "AWS_ENDPOINT_URL_KMS", "ssm": "AWS_ENDPOINT_URL_SSM",
                      "secretsmanager": "AWS_ENDPOINT_URL_SECRETS_MANAGER", "sts": "AWS_ENDPOINT_URL_STS"}


class StartupError(Exception):
    """Why the server cannot start: one line for the terminal."""


def endpoint_exports(endpoint: str) -> str:
    return " ".join(f"{var}={endpoint}" for var in ENDPOINT_VARIABLES.values())


def check_port_free(host: str, port: int) -> None:
    """Bind and release the port, as uvicorn is about to bind it, so a taken port is one clear line
    before anything is announced."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {port} on {host} is already in use (another keyplane, LocalStack, "
                                   f"...?); choose another with --port or KEYPLANE_PORT") from None
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _identities(config: ServeConfig, state_dir: str, seed, engine):
    """The identities the server checks SigV4 against: the store's when it holds them (shared by
    every server on it), else the file, made in dev mode when missing; the seed's identities merged
    in. Returns (Identities, created by us)."""
    import yaml

    from keyplane.engine import seed as seeding
    from keyplane.engine.identity import Identities, validate_document, write_private
    from keyplane.engine.identity_store import StoredIdentities
    dev_account = config.dev_account if config.dev else None   # dev mode takes test tools' key shapes
    stored = StoredIdentities.of(engine)
    if stored.version() is not None:
        if seed is not None and seed.data.get("identities"):
            stored.change(lambda data: seeding.merge_identities(data, seed), dev=config.dev)
        config.identities = None
        return Identities.from_store(stored, dev_account=dev_account), False
    path = identities_path(config, state_dir)
    created = False
    if not os.path.exists(path):
        if not config.dev:
            raise StartupError(f"no identities file at {path} and none in the store; run `keyplane init` "
                               f"first (or pass --identities FILE, or --dev, or `keyplane identities import`)")
        Identities.create_default(path, account=config.dev_account)
        created = True
    if seed is not None and seed.data.get("identities"):
        merged = seeding.merge_identities(Identities._read(Path(path)), seed)
        validate_document(merged, dev=config.dev)     # a refused seed leaves the file as it was
        write_private(Path(path), yaml.safe_dump(merged))
    config.identities = path
    return Identities.load(path, dev_account=dev_account), created


def serve(config: ServeConfig, seed_file: str | None = None, out=sys.stdout) -> int:
    """Run the server until SIGINT/SIGTERM (uvicorn lets in-flight requests finish)."""
    from keyplane.engine.identity import IdentitiesFileError
    from keyplane.engine.root_keys import RootKeyError
    from keyplane.engine.seed import SeedError
    try:
        logs.config(config.log_level, config.log_format, config.access_log)   # a bad format stops here
        check_port_free(config.host, config.port)
        return _serve(config, seed_file, out)
    except (StartupError, IdentitiesFileError, SeedError, RootKeyError, ValueError) as exc:
        print(f"keyplane: {exc}", file=sys.stderr)
        return 2


def _serve(config: ServeConfig, seed_file: str | None, out) -> int:
    import uvicorn

    from keyplane.engine import seed as seeding
    from keyplane.engine.core import Engine, resolve_state
    from keyplane.engine.identity import DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY
    from keyplane.tls import ensure_tls

    seed = seeding.load(seed_file) if seed_file else None
    dev_dir = None
    if config.dev and not config.state:
        dev_dir = tempfile.mkdtemp(prefix="keyplane-dev-")
        config.state = dev_dir
    try:
        store_url, state_dir = resolve_state(config.state)
        # The parent opens the store once so migrations and the root key are settled before any
        # worker, and applies the seed.
        engine = Engine(config.state)
        try:
            ids, created = _identities(config, state_dir, seed, engine)
            account = config.dev_account if config.dev else next(iter(ids.accounts), None)
            if account:
                engine.default_account = account
            if seed is not None:
                done = seeding.apply(engine, seed)
                print(f"seed {seed_file}: {len(done.created)} created, {len(done.kept)} already there", file=out)
        finally:
            engine.close()

        ssl = {}
        scheme = "http"
        ca = None
        if config.tls:
            if config.tls_cert:
                cert, key = config.tls_cert, config.tls_key or config.tls_cert
            else:
                cert, key, ca = ensure_tls(state_dir or dev_dir or ".", config.host)
            ssl = {"ssl_certfile": cert, "ssl_keyfile": key}
            scheme = "https"
        shown_host = "127.0.0.1" if config.host in ("0.0.0.0", "", "::") else config.host
        endpoint = f"{scheme}://{shown_host}:{config.port}"
        print(f"keyplane serving on {endpoint} (state: {_shown_state(store_url, state_dir)}, identities: "
              f"{config.identities or 'the store'}, workers: {config.workers}{', dev mode' if config.dev else ''})",
              file=out)
        if ca:
            print(f"TLS CA certificate: {ca}  (export AWS_CA_BUNDLE={ca})", file=out)
        if config.dev:
            akid, secret = (DEV_ACCESS_KEY_ID, DEV_SECRET_ACCESS_KEY) if created else ids.default_credentials()
            print(f"export AWS_ACCESS_KEY_ID={akid} AWS_SECRET_ACCESS_KEY={secret} AWS_DEFAULT_REGION=us-east-1 "
                  f"{endpoint_exports(endpoint)}", file=out)
            print(f"dev mode: any access key is accepted as the root of account {config.dev_account}", file=out)
        out.flush()

        if config.quotas not in (None, "aws", "off", "default", "none"):
            from keyplane.engine import quotas
            try:
                quotas.load(config.quotas, None)       # a bad quota file stops the server here, not in a worker
            except (OSError, ValueError) as e:
                raise StartupError(f"--quotas: {e}") from None
        files = admission.raise_file_limit()           # workers inherit it
        log.info("open-file limit %d", files)
        os.environ[CONFIG_ENV] = config.to_env()
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; ending with status 0
        # tells a supervisor the stop was clean.
        signal.signal(signal.SIGTERM, _exit_cleanly)
        # proxy_headers off: uvicorn would take X-Forwarded-For from any loopback client as the
        # caller's address, and the audit trail's sourceIPAddress with it
        uvicorn.run("keyplane.server:create_app_from_env", factory=True, host=config.host, port=config.port,
                    workers=config.workers if config.workers > 1 else None, log_level=config.log_level,
                    log_config=logs.config(config.log_level, config.log_format, config.access_log),
                    access_log=False, timeout_graceful_shutdown=GRACE_SECONDS, lifespan="on",
                    server_header=False, http=admission.GuardedProtocol, proxy_headers=False, **ssl)
    finally:
        if dev_dir:
            shutil.rmtree(dev_dir, ignore_errors=True)
    return 0


def _shown_state(store_url: str, state_dir: str) -> str:
    """The state folder, or a database store's URL (its password hidden) beside the folder that
    holds the server's files; it used to show only the folder, as if a PostgreSQL URL were ignored."""
    if store_url.startswith("sqlite:"):
        return state_dir or "memory"
    import sqlalchemy as sa
    return f"{sa.make_url(store_url).render_as_string(hide_password=True)}, files in {state_dir}"


def _exit_cleanly(signum, frame):
    raise SystemExit(0)
