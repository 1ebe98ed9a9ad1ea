"""The AWS-compatible HTTP endpoint: an ASGI app and `keyplane serve` on uvicorn.

Every request is authenticated with SigV4 against the identities file (plus STS sessions in the
store), then handed to the JSON 1.1 protocol (`X-Amz-Target`: KMS, SSM, Secrets Manager) or to the
Query protocol (STS). Whatever happens, the client gets an AWS-shaped answer with an
`x-amzn-RequestId`; an unexpected fault is logged here with that id and answered with the
service's internal-error code, never a traceback.

Several uvicorn workers share one store; time-driven work (deletion windows, rotation, expiry)
runs in exactly one of them, the holder of the scheduler lock (a file lock beside a SQLite store, an
advisory lock on PostgreSQL). `--dev` keeps state in a temporary folder and adds
`POST /_keyplane/reset`; `GET /_keyplane/health` always answers.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from keyplane import admission, logs
from keyplane.engine.crypto import random_uuid
from keyplane.engine.errors import AwsError, UnknownOperationException, internal_error
from keyplane.engine.identity import DEV_ACCOUNT
from keyplane.wire import services
from keyplane.wire.protocol import error_response, handle_json
from keyplane.wire.sigv4 import headers_from_asgi, verify_headers

log = logging.getLogger("keyplane.server")

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 4566
CONFIG_ENV = "KEYPLANE_SERVE_CONFIG"
IDENTITIES_FILE = "identities.yaml"
SCHEDULER_TICK = 1.0
# SIGTERM: in-flight requests get this long to finish (KMS calls take milliseconds; an idle TLS
# keep-alive connection whose client never says goodbye would otherwise hold shutdown for 30 s)
GRACE_SECONDS = 10
# Python's default 5 ms GIL switch interval makes the request path wait on the audit flusher and
# scheduler threads (and on pool threads with --threads); 0.2 ms measured best
GIL_SWITCH = 0.0002  # seconds

# X-Amz-Target prefix -> service (signing name)
TARGETS = {"TrentService": "kms", "AmazonSSM": "ssm", "secretsmanager": "secretsmanager"}
# the signing names a request for each service may carry
_ONLY = {name: frozenset((name,)) for name in (*TARGETS.values(), "sts")}


@dataclass
class ServeConfig:
    """What `keyplane serve` was asked for; travels to worker processes as JSON in the env."""
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    state: str | None = None
    identities: str | None = None
    workers: int = 1
    dev: bool = False
    tls: bool = False
    tls_cert: str | None = None
    tls_key: str | None = None
    log_level: str = "warning"
    access_log: bool = False
    scheduler: bool = True
    threads: int = 0
    quotas: str | None = None           # "aws" (default; "off" with --dev), "off", or a YAML file
    cache_ttl: float | None = None      # seconds another server's change may go unseen; 0 = read-through
    allowed_hosts: str | None = None    # extra Host names to answer, comma-separated ("*": any)
    max_connections: int = admission.MAX_CONNECTIONS
    header_timeout: float = admission.HEADER_TIMEOUT
    dev_account: str = DEV_ACCOUNT      # --dev: the account unknown access keys act as the root of
    log_format: str = "text"            # or "json"

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> "ServeConfig":
        return cls(**json.loads(os.environ[CONFIG_ENV]))


def _header_list(headers: dict) -> list:
    # the request id header is added once, for every response, by the app
    return [(k.lower().encode(), v.encode()) for k, v in headers.items() if k.lower() != "x-amzn-requestid"]


def json_error(err: AwsError, service: str | None, request_id: str) -> tuple[int, list, bytes]:
    """The JSON protocol's error response, as the wire layer writes it for every service."""
    response = error_response(service, err, request_id)
    return response.status, _header_list(response.headers), response.body


class KeyplaneApp:
    """The ASGI application. `engine` is a keyplane Engine; `identities` an `Identities`."""

    def __init__(self, engine, identities, *, dev: bool = False, scheduler_lock: "SchedulerLock | None" = None,
                 threads: int = 0, allowed_hosts: set[str] | None = None):
        self.engine = engine
        self.identities = identities
        self.dev = dev
        self.scheduler_lock = scheduler_lock
        self._stop = threading.Event()
        self._scheduler_thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="keyplane-req") if threads else None
        self._heavy = ThreadPoolExecutor(max_workers=2, thread_name_prefix="keyplane-cpu")
        self._unverified = asyncio.Semaphore(admission.LIMITS.unverified_bodies)
        self.allowed_hosts = allowed_hosts     # None: any Host (in-process and test apps)

    # ---- ASGI ----------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request_id = random_uuid()
        admitted, status, headers, payload = await self._respond(scope, receive, request_id)
        headers = headers + [(b"x-amzn-requestid", request_id.encode()),
                             (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        if logs.ACCESS.isEnabledFor(logging.INFO) and admitted is not None:
            logs.access(admitted.operation(), status, _error_code(status, headers, payload), admitted.caller,
                        request_id, started, (scope.get("client") or (None,))[0])

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self.start_scheduler()
                except Exception as e:  # a worker that cannot start says so and exits
                    log.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---- one request ---------------------------------------------------------------------------
    async def _respond(self, scope, receive, request_id: str):
        """(admitted, status, headers, body): admit the request from its headers, then read its
        body (bounded), then answer it."""
        admitted = self.admit(scope, request_id)
        if admitted.answer is not None:
            return (admitted, *admitted.answer)     # refused before a byte of its body was read
        return (admitted, *await self._answer(admitted, receive, request_id))

    async def _answer(self, admitted: "admission.Admitted", receive, request_id: str) -> tuple[int, list, bytes]:
        limits = admission.LIMITS
        # a body whose signature is not settled yet holds one of a few places while it is read
        slot = None if admitted.pending is None or admitted.pending.signature_checked \
            or not admission.needs_a_place(admitted.headers) else self._unverified
        if slot is not None:
            if not await admission.take(slot, limits.body_timeout):
                return self._error(admission.service_busy(), admitted.service, admitted.query_protocol, request_id)
        try:
            body = await admission.read_body(receive, limits.max_body, limits.body_timeout)
        except admission.BodyTooLarge:
            return self._error(admission.too_large(), admitted.service, admitted.query_protocol, request_id)
        finally:
            if slot is not None:
                slot.release()
        if body is None:
            return 408, [(b"connection", b"close")], b""   # gone, or too slow to send its body
        admitted.body_head = body[:4096]
        if self._pool is not None:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, self.finish, admitted, body, request_id)
        if admission.cpu_heavy(admitted.target, body):
            # key generation and RSA work leave the loop, so cheap calls keep their latency
            return await asyncio.get_running_loop().run_in_executor(
                self._heavy, self.finish, admitted, body, request_id)
        # Handled on the loop's thread (the default): a call is a few hundred microseconds of CPU,
        # and on a quiet 2-core machine this matched a thread pool at 4 clients and beat it at 1.
        # `--threads N` hands calls to a pool instead, which held up better on a shared machine.
        return self.finish(admitted, body, request_id)

    def handle(self, scope, body: bytes, request_id: str) -> tuple[int, list, bytes]:
        """Authenticate and dispatch one request whose body is in; always an AWS-shaped response."""
        admitted = self.admit(scope, request_id)
        return admitted.answer if admitted.answer is not None else self.finish(admitted, body, request_id)

    def admit(self, scope, request_id: str) -> "admission.Admitted":
        """Every check the headers allow, in order: Host, the service it is signed for, Content-Length,
        SigV4 (all but the body's hash). A refusal is the answer, made before the body is read."""
        admitted = admission.Admitted(scope)
        try:
            method, path = scope["method"], scope["path"]
            headers = admitted.headers = headers_from_asgi(scope["headers"])
            if self.allowed_hosts is not None and admission.host_name(headers.first("host")) not in self.allowed_hosts:
                admitted.answer = admission.misdirected(headers.first("host"))
                return admitted
            if path.startswith("/_keyplane/") and not (self.dev and (method, path) == ("POST", "/_keyplane/reset")):
                admitted.answer = self._admin(method, path)    # health, or 404
                return admitted
            query_string = admitted.query_string = scope.get("query_string", b"").decode("latin-1")
            target = admitted.target = headers.first("x-amz-target")
            signed_for = services.signing_service(headers, query_string)
            if signed_for is not None and signed_for not in services.SERVED and not path.startswith("/_keyplane/"):
                refusal = services.error_response(signed_for, services.unsupported(signed_for), request_id)
                admitted.answer = refusal.status, _header_list(refusal.headers), refusal.body
                return admitted
            if path.startswith("/_keyplane/"):
                admitted.service = None            # any service's signature will do
            elif target is None:
                admitted.query_protocol = True
                admitted.service = "sts"
            else:
                admitted.service = TARGETS.get(target.split(".", 1)[0])
            length = admission.declared_length(headers)
            if length is not None and length > admission.LIMITS.max_body:
                raise admission.too_large()
            try:
                admitted.pending = verify_headers(
                    method, path, query_string, headers, self.identities, self.engine.clock.now(),
                    services=_ONLY.get(admitted.service), regions=self.engine.regions)
            except AwsError as err:
                self._refused(admitted, err, request_id)
                raise
        except AwsError as err:
            if path.startswith("/_keyplane/") and not isinstance(err, admission.TooLarge):
                admitted.answer = admission.admin_refusal(err)
            else:
                admitted.answer = self._error(err, admitted.service, admitted.query_protocol, request_id)
        except Exception:
            log.exception("internal error admitting request %s", request_id)
            admitted.answer = self._error(internal_error(admitted.service or "kms"), admitted.service,
                                          admitted.query_protocol, request_id)
        return admitted

    def finish(self, admitted: "admission.Admitted", body: bytes, request_id: str) -> tuple[int, list, bytes]:
        """Settle the signature with the body, then dispatch; always an AWS-shaped response."""
        scope, service, query_protocol = admitted.scope, admitted.service, admitted.query_protocol
        try:
            method, path, headers = scope["method"], scope["path"], admitted.headers
            try:
                principal, region, _ = admitted.pending.verify_body(body)
            except AwsError as err:
                self._refused(admitted, err, request_id)
                raise
            admitted.caller = principal.arn
            if path.startswith("/_keyplane/"):
                return self._admin(method, path)
            if service is None:
                raise UnknownOperationException()
            ctx = self.engine.context(
                principal, region=region, request_id=request_id,
                source_ip=(scope.get("client") or (None,))[0], user_agent=headers.first("user-agent"),
                secure_transport=scope.get("scheme") == "https")
            if query_protocol:
                return self._query(method, admitted.query_string, headers.first("content-type"), body, ctx)
            return self._json(service, admitted.target, body, ctx)
        except AwsError as err:
            if scope["path"].startswith("/_keyplane/"):
                return admission.admin_refusal(err)
            return self._error(err, service, query_protocol, request_id)
        except Exception:
            log.exception("internal error handling request %s", request_id)
            return self._error(internal_error(service or "kms"), service, query_protocol, request_id)

    def _refused(self, admitted: "admission.Admitted", err: AwsError, request_id: str) -> None:
        """A request authentication refused: a warning naming the access key id (never the
        secret) and the reason, and a record in the audit trail; both at a bounded rate, the
        next of each saying how many refusals went unrecorded before it."""
        access_key_id, region = _claimed_credential(admitted.headers, admitted.query_string)
        source_ip = (admitted.scope.get("client") or (None,))[0]
        unrecorded = self.engine.refused_authentication(
            admitted.service, region, access_key_id, source_ip,
            admitted.headers.first("user-agent") if admitted.headers else None, err)
        if unrecorded is not None:
            logs.refused(access_key_id, err.code, err.message[:200], request_id, source_ip, unrecorded)

    def _error(self, err: AwsError, service, query_protocol: bool, request_id: str):
        if query_protocol:
            from keyplane.wire.query import XML_TYPE, error_xml
            status, payload = error_xml(err, request_id)
            return status, [(b"content-type", XML_TYPE.encode())], payload
        return json_error(err, service, request_id)

    def _json(self, service: str, target: str, body: bytes, ctx):
        response = handle_json(self.engine, target=target, body=body, ctx=ctx)
        return response.status, _header_list(response.headers), response.body

    def _query(self, method: str, query_string: str, content_type: str | None, body: bytes, ctx):
        from keyplane.engine.apimodel import service_model
        from keyplane.wire import query
        flat = query.form_params(method, query_string, content_type, body)
        action = flat.get("Action")
        model = service_model("sts")
        if action not in model.operation_names:
            raise query.unknown_action(action)
        op = model.operation_model(action)
        from keyplane.wire import model as wire_model
        # the Query form gives strings; once typed, the JSON layer's model check applies unchanged
        params = wire_model.parse_input(op.input_shape, query.parse_input(op.input_shape, flat))
        result = self.engine.invoke("sts", action, params, ctx)
        return 200, [(b"content-type", query.XML_TYPE.encode())], query.response_xml(op, result, ctx.request_id)

    def _admin(self, method: str, path: str):
        if path == "/_keyplane/health" and method in ("GET", "HEAD"):
            return self._health()
        if path == "/_keyplane/reset" and method == "POST" and self.dev:
            reset_state(self.engine)
            return 200, [(b"content-type", b"application/json")], b'{"reset": true}'
        return 404, [(b"content-type", b"application/json")], json.dumps(
            {"__type": "UnknownOperationException", "message": f"No such keyplane endpoint: {method} {path}"}).encode()

    def _health(self) -> tuple[int, list, bytes]:
        """Version, services served, dev mode, and whether the store answers (503 when it does not)."""
        from keyplane.engine.core import DEFAULT_REGION
        from keyplane.version import version
        try:
            with self.engine.store_for(DEFAULT_REGION).read() as conn:
                conn.exec_driver_sql("SELECT 1")
            store = "reachable"
        except Exception as exc:   # noqa: BLE001 - any failure to reach the store is "unreachable"
            log.warning("health: the store is unreachable: %s", type(exc).__name__)
            store = "unreachable"
        # pid: examples/up.sh checks that the server answering is the one it started
        body = {"status": "ok" if store == "reachable" else "unavailable", "version": version(),
                "services": sorted(services.SERVED), "store": store, "dev": self.dev, "pid": os.getpid()}
        return (200 if store == "reachable" else 503), [(b"content-type", b"application/json")], json.dumps(body).encode()

    # ---- scheduler -----------------------------------------------------------------------------
    def start_scheduler(self) -> None:
        if self.scheduler_lock is None or self._scheduler_thread is not None:
            return
        if not self.scheduler_lock.acquire():
            return  # another worker runs it
        log.info("this worker (pid %d) runs the scheduler", os.getpid())
        self._scheduler_thread = threading.Thread(target=self._scheduler_loop, name="keyplane-scheduler",
                                                  daemon=True)
        self._scheduler_thread.start()

    def _scheduler_loop(self) -> None:
        # The server's wall-clock tick: the only place keyplane waits on real time.
        while not self._stop.wait(SCHEDULER_TICK):
            try:
                self.engine.run_due()
            except Exception:
                log.exception("scheduler tick failed; it runs again next tick")

    def close(self) -> None:
        self._stop.set()
        if self._scheduler_thread is not None:
            self._scheduler_thread.join(timeout=30)
        if self.scheduler_lock is not None:
            self.scheduler_lock.release()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self._heavy.shutdown(wait=True)


def reset_state(engine) -> None:
    """Empty every table but the schema bookkeeping and the root-key check, in one transaction per
    store, so every worker sharing the store sees the reset at once; the audit trail's delivered
    log and digest files go with the records they hold, so the trail that starts again verifies
    (they named records and digests the store no longer has)."""
    import shutil

    import sqlalchemy as sa

    from keyplane.engine.audit_delivery import audit_dir
    from keyplane.engine.store.base import metadata
    keep = {"keyplane_migrations", "keyplane_meta"}
    engine.audit.flush()  # records of calls made before the reset must not land after it
    for store in engine.all_stores():
        with store.write() as conn:
            for table in reversed(metadata.sorted_tables):
                if table.name not in keep and sa.inspect(conn).has_table(table.name):
                    conn.execute(table.delete())
        folder = audit_dir(engine, store)
        if folder:
            shutil.rmtree(os.path.join(folder, "AWSLogs"), ignore_errors=True)
    engine.cache.clear()
    sessions = getattr(engine.identities, "sessions", None)
    if hasattr(sessions, "cache_clear"):
        sessions.cache_clear()


class SchedulerLock:
    """Who runs the scheduler: the first process to take this lock, until it exits."""

    def __init__(self, engine):
        self.engine = engine
        self._fd = None
        self._conn = None

    def acquire(self) -> bool:
        store = self.engine.store_for("us-east-1")
        if store.dialect == "postgresql":
            conn = store._writer.connect()
            got = conn.exec_driver_sql("SELECT pg_try_advisory_lock(7261001)").scalar()
            if got:
                self._conn = conn
            else:
                conn.close()
            return bool(got)
        import fcntl
        folder = self.engine.state_dir or tempfile.gettempdir()
        path = os.path.join(folder, "scheduler.lock") if self.engine.state_dir else \
            os.path.join(folder, f"keyplane-scheduler-{os.getpid()}.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


# ---- building the app ---------------------------------------------------------------------------

def build_app(config: ServeConfig) -> KeyplaneApp:
    from keyplane.engine.core import Engine
    from keyplane.engine.identity import Identities
    from keyplane.engine.identity_store import StoredIdentities
    from keyplane.engine.sts.sessions import lookup_for

    from keyplane.engine import quotas
    engine = Engine(config.state, cache_ttl=config.cache_ttl)
    # each worker process enforces its share, so N workers together allow the quota
    engine.quotas = quotas.load(config.quotas or ("off" if config.dev else "aws"), engine.clock,
                                share=1 / max(1, config.workers))
    common = dict(sessions=lookup_for(engine), clock=engine.clock,
                  dev_account=config.dev_account if config.dev else None)
    stored = StoredIdentities.of(engine)
    if stored.version() is not None:      # identities in the store win over a file beside the server
        identities = Identities.from_store(stored, **common)
    else:
        identities = Identities.load(identities_path(config, engine.state_dir), **common)
    engine.identities = identities
    lock = SchedulerLock(engine) if config.scheduler else None
    return KeyplaneApp(engine, identities, dev=config.dev, scheduler_lock=lock, threads=config.threads,
                       allowed_hosts=admission.allowed_hosts(config.host, config.allowed_hosts))


def create_app_from_env() -> KeyplaneApp:
    """uvicorn's factory in each worker process."""
    sys.setswitchinterval(GIL_SWITCH)
    config = ServeConfig.from_env()
    admission.LIMITS.max_connections = config.max_connections
    admission.LIMITS.header_timeout = config.header_timeout
    logs.configure(config.log_level, config.log_format, config.access_log)
    app = build_app(config)
    settle_heap()
    return app


def settle_heap() -> None:
    """Hide what the process holds for good (modules, botocore's service models, the app) from the
    garbage collector. Requests leave objects behind for a while (buffered audit records), so full
    collections keep coming; without this each one walks ~100,000 startup objects, ~12 µs per
    Encrypt on average (measured with gc.callbacks), in pauses of ~80 ms."""
    import gc

    from keyplane.engine.apimodel import service_model
    for name in services.SERVED:      # loaded on first use otherwise: load them before freezing
        service_model(name)
    gc.collect()
    gc.freeze()


def _error_code(status: int, headers: list, payload: bytes) -> str | None:
    """The AWS error code of a response, for the access log."""
    if status < 400:
        return None
    for name, value in headers:
        if name == b"x-amzn-errortype":
            return value.decode("latin-1").split(":", 1)[0]
    import re
    found = re.search(rb'"__type"\s*:\s*"([^"]{1,128})"|<Code>([^<]{1,128})</Code>', payload[:2048])
    return (found.group(1) or found.group(2)).decode("latin-1").rpartition("#")[2] if found else None


def _claimed_credential(headers, query_string: str) -> tuple[str | None, str | None]:
    """(access key id, Region) a request claims in its credential scope, whatever it is worth."""
    import re
    from urllib.parse import parse_qs
    credential = None
    auth = headers.first("authorization") if headers is not None else None
    if auth:
        found = re.search(r"Credential=([^,\s]{1,512})", auth)
        credential = found.group(1) if found else None
    elif query_string:
        credential = (parse_qs(query_string).get("X-Amz-Credential") or [None])[0]
    if not credential:
        return None, None
    parts = credential.split("/")
    return parts[0][:128], (parts[2][:32] if len(parts) == 5 else None)


def identities_path(config: ServeConfig, state_dir: str) -> str:
    return config.identities or os.path.join(state_dir or ".", IDENTITIES_FILE)
