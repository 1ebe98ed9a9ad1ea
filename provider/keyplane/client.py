"""`keyplane.connect()`: real boto3 clients for keyplane, in-process or over HTTP.

In-process, a client is a genuine boto3 client: botocore serialises the request and parses the
response; a `before-send` hook hands the request to the wire layer instead of a socket. So an
application sees in-process exactly what it will see over HTTP from `keyplane serve`.
"""
from __future__ import annotations

import threading

from .connection import Connection
from .engine.core import DEFAULT_REGION, Engine, resolve_state
from .engine.identity import Principal

_engines: dict = {}
_engines_lock = threading.Lock()


def shared_engine(state: str | None = None, **kwargs) -> Engine:
    """One engine per store URL in a process, so every client shares its caches and audit."""
    url, _ = resolve_state(state)
    if url == "sqlite://" or kwargs:
        return Engine(state, **kwargs)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = Engine(state)
        return engine


def connect(state: str | None = None, *, account: str | None = None, principal: str | Principal | None = None,
            region: str = DEFAULT_REGION, endpoint: str | None = None, engine: Engine | None = None,
            access_key: str | None = None, secret_key: str | None = None,
            session_token: str | None = None, verify=None) -> Connection:
    """Connect to keyplane.

    Embedded (default): the engine runs in this process on `state` (a folder or store URL; default
    KEYPLANE_STATE or ./.keyplane). `account`/`principal` choose the caller (default: the root of
    the default account). Remote: `endpoint` is a `keyplane serve` URL and the access key pair is used
    to sign requests with SigV4, as any AWS SDK does."""
    if endpoint is not None:
        return Connection(endpoint=endpoint, region=region, access_key=access_key, secret_key=secret_key,
                          session_token=session_token, verify=verify)
    engine = engine or shared_engine(state)
    if isinstance(principal, str):
        principal = Principal.from_arn(principal)
    if principal is None:
        principal = Principal.root(account or engine.default_account)
    elif account is not None and principal.account != account:
        raise ValueError(f"principal {principal.arn} is not in account {account}")
    return Connection(engine, principal=principal, region=region)
