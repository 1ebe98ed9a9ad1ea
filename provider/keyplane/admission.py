"""Who gets in, and how much they may hold before proving who they are: the HTTP server's limits.

- Connections: every new connection must finish its request headers within HEADER_TIMEOUT (and so
  must each next request on a kept-alive connection), or it is closed; beyond MAX_CONNECTIONS in
  all, or PER_CLIENT from one address, the connection silent longest (of all, or of that address)
  makes room, and if none is silent the new one is closed at once. uvicorn closes idle
  kept-alive connections after a request but never one that sends nothing, hence `GuardedProtocol`.
- Headers: a request's line and headers may take MAX_HEADER_BYTES; past that it is answered 431
  and closed (uvicorn and httptools keep every header byte they are sent until the last arrives).
- Bodies: a Content-Length over MAX_BODY is refused before a byte of the body is read; at most
  UNVERIFIED_BODIES bodies whose signature is not yet settled are read at a time, each within
  BODY_TIMEOUT. A body declared no larger than uvicorn's flow-control window (SMALL_BODY: nearly
  every call) needs no place, as uvicorn holds that much of any body whether or not it is read, so
  clients trickling large bodies cannot lock out the ones that send small ones.
- Host: a request is answered only for a Host this server is (its addresses, its names,
  localhost) or was told to be (`--allowed-hosts`, KEYPLANE_ALLOWED_HOSTS); a request signed for
  kms.us-east-1.amazonaws.com and replayed here is refused, and a browser page on another origin
  cannot reach a development server through DNS rebinding.
- Files: the server raises its own open-file soft limit to the hard limit.
- CPU: `cpu_heavy` names the calls (key generation, RSA/EC work, user patterns) the server runs off
  its event loop.
"""
from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from keyplane.engine.errors import AwsError, error_type

MAX_BODY = 1024 * 1024          # the largest valid request (a 128 KiB key policy, JSON-escaped) fits
HEADER_TIMEOUT = 10.0           # seconds for a connection to send a request's headers
MAX_HEADER_BYTES = 64 * 1024    # a request line and headers (SigV4 with a session token: ~3 KB)
BODY_TIMEOUT = 10.0             # seconds to send a body once its headers are in
UNVERIFIED_BODIES = 64          # bodies read at once before their signature is settled
SMALL_BODY = HIGH_WATER_LIMIT   # what uvicorn buffers of a body before it stops reading (64 KiB)
MAX_CONNECTIONS = 4096          # and never more than the open-file limit allows
PER_CLIENT = 512
ALLOWED_HOSTS_ENV = "KEYPLANE_ALLOWED_HOSTS"
_SPARE_FILES = 64               # descriptors kept for the store, logs and the listening socket


@dataclass
class Limits:
    header_timeout: float = HEADER_TIMEOUT
    max_header_bytes: int = MAX_HEADER_BYTES
    body_timeout: float = BODY_TIMEOUT
    max_body: int = MAX_BODY
    unverified_bodies: int = UNVERIFIED_BODIES
    max_connections: int = MAX_CONNECTIONS
    per_client: int = PER_CLIENT


LIMITS = Limits()


def raise_file_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit; the resulting soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def connection_cap() -> int:
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return LIMITS.max_connections
    return max(16, min(LIMITS.max_connections, soft - _SPARE_FILES))


class GuardedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for request headers and connection caps.

    The deadline is an attribute (`_header_deadline`, None while a request is being answered) that
    one timer per connection checks when it fires, re-arming itself for a later deadline: a kept-
    alive connection's requests move the deadline, not a timer, so a request costs no timer."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._header_timer = None
        self._header_deadline = None
        self._waiting_since = 0.0
        self._header_bytes = 0
        peer = self.client[0] if self.client else None
        if peer is not None:
            same_peer = [c for c in self.connections if c.client and c.client[0] == peer]
            if len(same_peer) > LIMITS.per_client and not self._evict_a_silent_one(same_peer):
                transport.close()       # one address may not take every descriptor
                return
        if len(self.connections) > connection_cap() and not self._evict_a_silent_one(self.connections):
            transport.close()       # full of connections in the middle of requests: refuse
            return
        self._arm_header_timer()

    def _evict_a_silent_one(self, among) -> bool:
        """At a cap, the connection `among` those counted that has waited longest without sending a
        request goes, so silent sockets cannot lock out a client that has something to say (behind
        one address: a NAT, a container's published port, localhost, every client shares it)."""
        silent = [c for c in among if c is not self and getattr(c, "_header_deadline", None) is not None]
        if not silent:
            return False
        oldest = min(silent, key=lambda c: c._waiting_since)
        oldest._headers_too_slow()
        self.connections.discard(oldest)
        return True

    def data_received(self, data: bytes) -> None:
        waiting = self._header_deadline is not None
        super().data_received(data)
        if waiting and self._header_deadline is not None and not self.transport.is_closing():
            # the headers are still not complete, so all of `data` was request line and headers:
            # counted exactly, at most one read (256 KiB) past the limit before the refusal
            self._header_bytes += len(data)
            if self._header_bytes > LIMITS.max_header_bytes:
                self._cancel_header_timer()
                self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                     b"content-length: 0\r\nconnection: close\r\n\r\n")
                self.transport.close()

    def _arm_header_timer(self) -> None:
        self._header_bytes = 0
        self._waiting_since = now = self.loop.time()
        self._header_deadline = now + LIMITS.header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_at(self._header_deadline, self._header_time_up)

    def _header_time_up(self) -> None:
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None:
            return                  # a request is being answered; its response re-arms
        if self.loop.time() < deadline:
            self._header_timer = self.loop.call_at(deadline, self._header_time_up)   # moved on since
            return
        self._headers_too_slow()

    def _cancel_header_timer(self) -> None:
        self._header_deadline = None
        timer = getattr(self, "_header_timer", None)
        if timer is not None:
            timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.close()

    def on_headers_complete(self) -> None:
        self._header_deadline = None    # the timer, if it fires meanwhile, lets this request be
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # armed before uvicorn resumes reading: a pipelined request's headers cancel it at once
        if not self.transport.is_closing():
            self._arm_header_timer()
        super().on_response_complete()

    def connection_lost(self, exc) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)


# ---- Host ---------------------------------------------------------------------------------------
def default_hosts(bind_host: str) -> set[str]:
    """This machine's names and addresses, localhost, and the address it listens on."""
    names = {"localhost", "127.0.0.1", "::1", "localhost.localdomain"}
    if bind_host not in ("", "0.0.0.0", "::"):
        names.add(bind_host.lower())
    for name in {socket.gethostname(), socket.getfqdn()}:
        names.add(name.lower())
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    return names


def allowed_hosts(bind_host: str, configured: str | None) -> set[str] | None:
    """The Host names to answer: the defaults plus `configured` (comma-separated; "*" = any)."""
    extra = [h.strip().lower() for h in (configured or os.environ.get(ALLOWED_HOSTS_ENV) or "").split(",") if h.strip()]
    if "*" in extra:
        return None
    return default_hosts(bind_host) | set(extra)


def host_name(header: str | None) -> str:
    """The name in a Host header, without its port ("[::1]:4566" -> "::1")."""
    value = (header or "").strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


# ---- bodies -------------------------------------------------------------------------------------
class BodyTooLarge(Exception):
    pass


async def read_body(receive, limit: int, timeout: float) -> bytes | None:
    """The request body, or None if the client went away or took longer than `timeout`;
    BodyTooLarge as soon as it passes `limit` (nothing more is read)."""
    # A body that arrived with its headers (nearly every call) is there for the taking: the first
    # receive() completes without waiting, so no timer is armed for it (asyncio.timeout costs
    # ~4 µs a request). Only a receive() that has to wait goes on under the deadline.
    step = receive()
    try:
        waiting_on = step.send(None)
    except StopIteration as done:
        message = done.value
        if message["type"] != "http.disconnect" and not message.get("more_body"):
            body = message.get("body", b"")
            if len(body) > limit:
                raise BodyTooLarge() from None
            return bytes(body)
        first = message
        step = waiting_on = None
    else:
        first = None

    async def collect():
        body = bytearray()
        message = first if first is not None else await _resumed(step, waiting_on)
        while True:
            if message["type"] == "http.disconnect":
                return None
            body += message.get("body", b"")
            if len(body) > limit:
                raise BodyTooLarge()
            if not message.get("more_body"):
                return bytes(body)
            message = await receive()
    try:
        if _timeout is None:     # Python 3.10
            return await asyncio.wait_for(collect(), timeout)
        # asyncio.timeout arms one timer on the running task; wait_for would wrap collect() in a
        # new task and cost the loop extra turns on every request (measured: ~15% of server CPU)
        async with _timeout(timeout):
            return await collect()
    except asyncio.TimeoutError:
        return None
    finally:
        if step is not None:
            step.close()        # a receive() abandoned at the deadline


async def _resumed(step, waiting_on):
    """Finish a coroutine that was started by hand and is waiting on the future `waiting_on`:
    wait for that future here (so a deadline can cancel the wait), then step it on."""
    while True:
        try:
            if waiting_on is None:
                await asyncio.sleep(0)      # a bare yield: it waits for the loop's next turn
            else:
                waiting_on._asyncio_future_blocking = False   # as a Task takes a future it is handed
                await waiting_on
        except BaseException as exc:       # cancelled (the deadline) or failed: the step sees it too
            try:
                waiting_on = step.throw(exc)
            except StopIteration as done:
                return done.value
            continue
        try:
            waiting_on = step.send(None)
        except StopIteration as done:
            return done.value


_timeout = getattr(asyncio, "timeout", None)


async def take(slot: asyncio.Semaphore, timeout: float) -> bool:
    """Take a place in `slot` within `timeout` seconds; a free place is taken at once, without the
    task and timer that waiting for one costs."""
    if not slot.locked():
        await slot.acquire()       # returns without suspending while a place is free
        return True
    try:
        await asyncio.wait_for(slot.acquire(), timeout)
        return True
    except asyncio.TimeoutError:
        return False


def needs_a_place(headers) -> bool:
    """Must this request's body, its signature not yet settled, wait for one of the few places?
    Not if it declares at most SMALL_BODY bytes: uvicorn buffers that much of a body unread
    anyway, so reading it adds nothing, and such bodies (nearly every call) are never queued
    behind bodies that trickle in. 200 connections trickling forged 1 MiB bodies held every
    place and kept a ListKeys from an honest client waiting 10 s for a 503."""
    length = declared_length(headers)
    return length is None or length > SMALL_BODY


def declared_length(headers) -> int | None:
    value = headers.first("content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


# ---- what the headers decide -------------------------------------------------------------------
class Admitted:
    """A request as its headers describe it, and the answer if they already decide it."""

    def __init__(self, scope):
        self.scope = scope
        self.headers = None
        self.query_string = ""
        self.target: str | None = None
        self.service: str | None = None
        self.query_protocol = False
        self.pending = None          # sigv4.Pending: the signature, settled with the body
        self.caller: str | None = None   # the signer's ARN, once the signature is settled
        self.body_head = b""             # the body's start (the Query protocol's Action, for the log)
        self.answer: tuple[int, list, bytes] | None = None

    def operation(self) -> str:
        """service.Operation for the access log."""
        if self.target:
            return f"{self.service or '?'}.{self.target.rpartition('.')[2][:64]}"
        if self.query_protocol:
            from urllib.parse import parse_qs
            found = (parse_qs(self.query_string).get("Action")
                     or parse_qs(self.body_head[:4096].decode("latin-1")).get("Action"))
            return f"sts.{(found or ['?'])[0][:64]}"
        return self.scope.get("path", "?")[:64]


_ServiceUnavailable = error_type("ServiceUnavailable")   # AWS's common 503


def service_busy() -> AwsError:
    return _ServiceUnavailable("The request has failed due to a temporary failure of the server.")


TooLarge = error_type("SerializationException")


def too_large() -> AwsError:
    # AWS documents no answer for an oversized request; the limit is far above any valid one
    return TooLarge(f"The request body is larger than {LIMITS.max_body} bytes.")


def misdirected(host: str | None) -> tuple[int, list, bytes]:
    """421 Misdirected Request (RFC 9110): this server does not answer for that Host."""
    return 421, [(b"content-type", b"application/json"), (b"connection", b"close")], json.dumps(
        {"__type": "MisdirectedRequest", "message": f"This endpoint does not serve the host {str(host)[:255]!r}."}
    ).encode()


def admin_refusal(err: AwsError) -> tuple[int, list, bytes]:
    return 403, [(b"content-type", b"application/json")], json.dumps(
        {"__type": err.code, "message": err.message}).encode()


_HEAVY = frozenset((
    "CreateKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReplicateKey",
    "GetParametersForImport", "DeriveSharedSecret", "RotateKeyOnDemand", "ImportKeyMaterial",
    # a parameter's AllowedPattern is the user's regular expression, from the request or from the
    # parameter an overwrite keeps it from; one RE2 cannot run is matched by a backtracking engine
    # for up to patterns.MATCH_SECONDS, with the GIL released (on the loop it held every other
    # caller: one client looping such a pattern took others' Encrypt p50 from 0.44 to 75 ms)
    "PutParameter",
))
_MAYBE_ASYMMETRIC = frozenset(("Sign", "Verify", "Encrypt", "Decrypt", "ReEncrypt", "GetPublicKey"))
_RSA_OR_EC = (b'"RSA', b'"ECDSA', b'"SM2', b'"ECC_',
              b"\\u")     # a \u escape can spell any of them ("\u0052SASSA_PSS_SHA_256" is RSASSA_...)


def cpu_heavy(target: str | None, body: bytes) -> bool:
    """Key generation, RSA/EC work and user patterns: up to seconds of CPU, off the event loop."""
    op = (target or "").rpartition(".")[2]
    if op in _HEAVY:
        return True
    return op in _MAYBE_ASYMMETRIC and any(marker in body for marker in _RSA_OR_EC)
