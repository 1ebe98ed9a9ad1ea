"""The engine: stores per Region, root keys, clock, audit, and `invoke`, the one way in.

`Engine.invoke(service, operation, params, ctx)` runs an operation of services.OPERATIONS for the
caller in `ctx`: in a write transaction (state-changing operations, audit record included) or a
plain read (read-only ones, audit record buffered), and turns any unexpected failure into the
service's internal-error code so no traceback ever reaches a client.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from datetime import datetime

from . import apimodel, crypto, registry, scheduler
from .regions import known_regions
from .audit import AuditTrail
from .calls import DEFAULT_REGION, Call, RequestContext  # noqa: F401  (RequestContext: part of the engine's API)
from .clock import Clock
from .errors import AwsError, UnknownOperationException, internal_error
from .identity import DEFAULT_ACCOUNT, Principal
from .refusals import RefusalRecords
from .root_keys import load_root_key
from .sealing import ROOT_KEY_FILE, RootKey, RootKeyError
from .store import Store
from .store.tables import meta

log = logging.getLogger("keyplane.engine")


def _services():
    """services.py, imported when an engine first needs it rather than with this module, so
    `import keyplane` stays light for applications that only talk to a remote endpoint."""
    from . import services
    return services

DEFAULT_STATE_DIR = ".keyplane"
# a buffered read-only record is built by the flusher, from the call's parameters; above this
# request size it is built (and bounded) at once, so the buffer never holds large requests
LAZY_AUDIT_MAX_REQUEST = 16 * 1024


CACHE_TTL_ENV = "KEYPLANE_CACHE_TTL"
DEFAULT_CACHE_TTL = 0.5


class TTLCache:
    """A small cache whose entries live `ttl` seconds: state changed by another server is honoured
    within that time; changes made through this engine invalidate their entries at once. `ttl` 0
    is read-through: every lookup reads the store (`peek` still offers the last value, so what a
    fresh read proves unchanged, like a key's unsealed material, is kept)."""

    def __init__(self, ttl: float = DEFAULT_CACHE_TTL):
        self.ttl = ttl
        self._data: dict = {}

    def peek(self, key):
        """The cached value whatever its age (to reuse what a fresh read shows is unchanged)."""
        hit = self._data.get(key)
        return None if hit is None else hit[1]

    def get(self, key):
        hit = self._data.get(key)
        if hit is None:
            return None
        if time.monotonic() - hit[0] >= self.ttl:
            return None
        return hit[1]

    def put(self, key, value) -> None:
        if len(self._data) > 100_000:
            self._data.clear()
        self._data[key] = (time.monotonic(), value)

    def pop(self, key) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()


def resolve_state(state: str | None) -> tuple[str, str]:
    """(store URL, state folder) from a URL, a folder, or KEYPLANE_STATE / ./.keyplane."""
    state = state or os.environ.get("KEYPLANE_STATE") or DEFAULT_STATE_DIR
    if state in ("memory", "sqlite://", "sqlite:///:memory:"):
        return "sqlite://", ""
    if "://" in state:
        if state.startswith("sqlite:///"):
            return state, os.path.dirname(os.path.abspath(state[len("sqlite:///"):]))
        return state, os.path.abspath(DEFAULT_STATE_DIR)
    folder = os.path.abspath(state)
    return f"sqlite:///{os.path.join(folder, 'state.db')}", folder


REGIONS_FILE = "regions.yaml"


def load_region_map(state_dir: str) -> dict:
    """The Region → store map of a state folder (`regions.yaml`), so every engine on that folder
    (`keyplane serve`, the Pulumi provider, `keyplane.connect`) puts each Region in the same place:

        eu-west-1: west                      # a folder (relative to the state folder) or a store URL
        ap-southeast-2: {state: postgresql://db/ap, root_key: env:AP_ROOT_KEY}

    Regions not named share the default store."""
    path = os.path.join(state_dir, REGIONS_FILE) if state_dir else None
    if not path or not os.path.exists(path):
        return {}
    import yaml
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f) or {}

    def place(spec: str) -> str:
        return spec if "://" in spec or os.path.isabs(spec) else os.path.join(state_dir, spec)

    out = {}
    for region, spec in data.items():
        if isinstance(spec, dict):
            out[region] = {**spec, "state": place(spec["state"])}
        else:
            out[region] = place(str(spec))
    return out


class Engine:
    def __init__(self, state: str | None = None, *, regions: dict | None = None,
                 root_key: str | RootKey | None = None, clock: Clock | None = None,
                 identities=None, default_account: str = DEFAULT_ACCOUNT, cache_ttl: float | None = None):
        self.url, self.state_dir = resolve_state(state)
        # what this engine serves: operations, scheduled tasks, the migrations its stores get
        self.services = _services()
        self.clock = clock or Clock()
        self.default_account = default_account
        self.identities = identities
        self.audit = AuditTrail()
        # how stale cached key, grant, secret and parameter state may be when another server
        # changes it (0: read-through); see README "Several servers"
        if cache_ttl is None:
            cache_ttl = float(os.environ.get(CACHE_TTL_ENV) or DEFAULT_CACHE_TTL)
        self.cache = TTLCache(cache_ttl)
        self.quotas = None    # request quotas (engine.quotas.Quotas); `keyplane serve` turns them on
        self.refusals = RefusalRecords(self.clock)   # how many refused authentications are recorded
        # where the audit trail is delivered and how long delivered records stay in the store
        # (engine/audit_delivery.py); None: KEYPLANE_AUDIT_DIR / KEYPLANE_AUDIT_RETENTION, else defaults
        self.audit_dir: str | None = None
        self.audit_retention: float | None = None
        self._lock = threading.RLock()
        self._stores: dict[str, Store] = {}
        self._root_keys: dict[int, RootKey] = {}
        self._root_key_sources: dict[str, str | RootKey | None] = {self.url: root_key}
        # Region -> store URL; Regions not named share the default store
        self.region_urls: dict[str, str] = {}
        if regions is None:
            regions = load_region_map(self.state_dir)
        for region, spec in (regions or {}).items():
            if isinstance(spec, dict):
                url, _ = resolve_state(spec["state"])
                self._root_key_sources[url] = spec.get("root_key")
            else:
                url, _ = resolve_state(spec)
            self.region_urls[region] = url
        self.regions = known_regions(self.region_urls)
        # the default store opens now; a Region mapped to a store of its own opens on first use,
        # so one Region's lost store does not keep the engine (and every other Region) down
        self._open_store(self.url)

    # ---- stores ------------------------------------------------------------------------------
    def default_store(self) -> Store:
        """The store of Regions no region map names (where shared state such as identities lives)."""
        return self._open_store(self.url)

    def store_for(self, region: str) -> Store:
        return self._open_store(self.region_urls.get(region, self.url))

    def _open_store(self, url: str) -> Store:
        store = self._stores.get(url)
        if store is None:
            with self._lock:
                store = self._stores.get(url)
                if store is None:
                    store = Store(url, self.services.MIGRATIONS)
                    self._root_keys[id(store)] = self._open_root_key(store)
                    self._stores[url] = store
        return store

    def all_stores(self) -> list[Store]:
        for region in self.region_urls:
            try:
                self.store_for(region)
            except Exception:
                # a Region whose store is gone must not stop the others' scheduled work
                log.exception("the store of %s cannot be opened; skipping it", region)
        return list(self._stores.values())

    def _open_root_key(self, store: Store) -> RootKey:
        source = self._root_key_sources.get(store.url)
        if isinstance(source, RootKey):
            key = source
        elif store.path is None and source is None and store.url == "sqlite://":
            key = RootKey(os.urandom(32), "ephemeral")        # in-memory state: nothing persists
        else:
            default_file = None
            if store.url == self.url:
                default_file = os.path.join(self.state_dir, ROOT_KEY_FILE)
            elif store.path:
                default_file = os.path.splitext(store.path)[0] + ".root.key"
            key = load_root_key(source, default_file)
        with store.write() as conn:
            row = conn.execute(meta.select().where(meta.c.name == "root_key_check")).first()
            if row is None:
                conn.execute(meta.insert().values(name="root_key_check", value=key.check_value))
            elif row.value != key.check_value:
                raise RootKeyError(f"the root key ({key.source}) does not match the store {store.url}")
        return key

    def root_key_for(self, store: Store) -> RootKey:
        return self._root_keys[id(store)]

    # ---- operations --------------------------------------------------------------------------
    def invoke(self, service: str, operation: str, params: dict, ctx: RequestContext) -> dict:
        spec = self.services.OPERATIONS.get((service, operation))
        if spec is None:
            raise UnknownOperationException(f"Operation {operation} is not supported by keyplane's {service}.")
        store = self.store_for(ctx.region)
        call = Call(self, ctx, spec, store, params)
        try:
            if spec.readonly:
                # no transaction up front: the hot path (cached key) never touches the database
                result = spec.fn(call, params)
                self.audit.record(store, self._event(call, result, None))
            else:
                with store.write():
                    result = spec.fn(call, params)
                    self.audit.record(store, self._event(call, result, None))
            return result
        except AwsError as err:
            self._record_failure(call, store, err)
            raise
        except Exception as exc:
            log.exception("internal error in %s.%s (request %s)", service, operation, ctx.request_id)
            err = internal_error(service)
            self._record_failure(call, store, err)
            raise err from exc

    def reject(self, service: str, operation: str, ctx: RequestContext, err: AwsError) -> None:
        """Audit a call refused before it reached its operation (validation, unknown operation).
        Its readOnly is the operation's, as CloudTrail's is: a refused CreateGrant is no read."""
        served = self.services.OPERATIONS.get((service, operation))
        spec = registry.OperationSpec(service, operation, None, served.readonly if served else True)
        store = self.store_for(ctx.region)
        self._record_failure(Call(self, ctx, spec, store, {}), store, err)

    def _record_failure(self, call: Call, store: Store, err: AwsError) -> None:
        try:
            self.audit.record(store, self._event(call, None, err))
        except Exception:
            log.exception("could not audit a failed call")

    def _event(self, call: Call, result: dict | None, err: AwsError | None):
        """The call's audit record. For read-only calls it is built later, by the audit flusher,
        from what is captured here; that keeps the record's cost off the hot path."""
        when = call.now
        resources = list(call.resources)
        audit_params = dict(call.audit_params) if call.audit_params else None
        extra = call.audit_extra or None
        # a successful call of an operation that tracks use is a use of the resources it names
        uses = tuple(arn for _, arn, _ in resources) if call.spec.tracks_use and err is None else ()
        args = (call.spec, call.ctx, call.params, result, err, when, resources, audit_params, extra, uses)
        if call.spec.readonly and call.ctx.request_bytes <= LAZY_AUDIT_MAX_REQUEST:
            return lambda: _build_event(*args)
        return _build_event(*args)

    def refused_authentication(self, service: str | None, region: str | None, access_key_id: str | None,
                               source_ip: str | None, user_agent: str | None, err: AwsError) -> int | None:
        """Record a request refused by authentication (bad signature, unknown or expired key), as
        CloudTrail records failed sign-ins: who claimed to call (the access key id, never a
        secret), from where, and why. Claimed Regions and key ids are bounded before they are kept.
        At most so many a second are recorded (engine.refusals); None if this one is only counted,
        else the number of refusals before it that were not recorded (the record carries it)."""
        unrecorded = self.refusals.admit(source_ip)
        if unrecorded is None:
            return None

        def bounded(text):
            return None if text is None else "".join(c for c in str(text)[:128] if c.isprintable())
        region = region if region in self.regions else DEFAULT_REGION
        now = self.clock.now()
        identity = {"type": "Unknown"}
        if access_key_id:
            identity["accessKeyId"] = bounded(access_key_id)
        try:
            self.audit.record(self.store_for(region), {
                "eventVersion": "1.08", "userIdentity": identity,
                "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "eventSource": apimodel.EVENT_SOURCES.get(service or "", f"{bounded(service) or 'keyplane'}.amazonaws.com"),
                "eventName": "RefusedAuthentication", "awsRegion": region,
                "sourceIPAddress": bounded(source_ip) or "-", "userAgent": bounded(user_agent) or "-",
                "requestParameters": None, "responseElements": None, "requestID": str(uuid.uuid4()),
                "eventID": str(uuid.uuid4()), "readOnly": True, "resources": [], "eventType": "AwsApiCall",
                "managementEvent": True, "eventCategory": "Management", "errorCode": err.code,
                "errorMessage": bounded(err.message), "recipientAccountId": None, "_time": now.timestamp(),
                **({"additionalEventData": {"unrecordedRefusals": unrecorded}} if unrecorded else {}),
            })
        except Exception:
            log.exception("could not audit a refused authentication")
        return unrecorded

    def service_event(self, store: Store, service: str, name: str, region: str, account: str,
                      resources: list[tuple[str, str]], details: dict | None = None) -> None:
        """Record work the service did on its own (scheduled deletion, rotation, expiry)."""
        now = self.clock.now()
        self.audit.record(store, {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": account, "invokedBy": "AWS Internal"},
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": apimodel.EVENT_SOURCES.get(service, f"{service}.amazonaws.com"),
            "eventName": name, "awsRegion": region, "sourceIPAddress": "AWS Internal",
            "userAgent": "AWS Internal", "requestParameters": None, "responseElements": None,
            "requestID": str(uuid.uuid4()), "eventID": str(uuid.uuid4()), "readOnly": False,
            "resources": [{"accountId": account, "type": t, "ARN": arn} for t, arn in resources],
            "eventType": "AwsServiceEvent", "managementEvent": True, "eventCategory": "Management",
            "recipientAccountId": account, "serviceEventDetails": details or {}, "_time": now.timestamp(),
        })

    # ---- time-driven work --------------------------------------------------------------------
    def run_due(self, now: datetime | None = None) -> dict[str, int]:
        return scheduler.run_due(self, self.services.TASKS, now)

    def context(self, principal: Principal | str | None = None, region: str = DEFAULT_REGION,
                **kwargs) -> RequestContext:
        if principal is None:
            principal = Principal.root(self.default_account)
        elif isinstance(principal, str):
            principal = Principal.from_arn(principal)
        return RequestContext(principal=principal, region=region, **kwargs)

    def close(self) -> None:
        self.audit.close()
        for store in self._stores.values():
            store.dispose()


_last_second = [None, ""]


def event_time(now: datetime) -> str:
    """CloudTrail's eventTime (whole seconds, UTC); formatting is cached per second."""
    second = int(now.timestamp())
    if _last_second[0] != second:
        _last_second[0], _last_second[1] = second, now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _last_second[1]


fast_uuid4 = crypto.random_uuid      # a random (version 4) UUID string, from the batched CSPRNG


def _build_event(spec, ctx: RequestContext, params, result, err, now, resources, audit_params, extra,
                 uses=()) -> dict:
    p = ctx.principal
    try:
        op_model = apimodel.operation_model(spec.service, spec.name)
    except Exception:
        op_model = None
    request_params = apimodel.audit_view(op_model.input_shape, params) if op_model else None
    if audit_params:
        request_params = {**(request_params or {}), **audit_params}
    response = None
    if result is not None and not spec.readonly and op_model is not None:
        response = apimodel.audit_view(op_model.output_shape, result)
    identity = {"type": p.type, "arn": p.arn, "accountId": p.account}
    if p.access_key_id:
        identity["accessKeyId"] = p.access_key_id
    if p.name and p.type == "IAMUser":
        identity["userName"] = p.name
    if ctx.via_service:
        identity["invokedBy"] = f"{ctx.via_service}.amazonaws.com"
    event = {
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": event_time(now),
        "eventSource": apimodel.EVENT_SOURCES.get(spec.service, f"{spec.service}.amazonaws.com"),
        "eventName": spec.name,
        "awsRegion": ctx.region,
        "sourceIPAddress": (f"{ctx.via_service}.amazonaws.com" if ctx.via_service
                            else ctx.source_ip or "127.0.0.1"),
        "userAgent": ctx.user_agent or "keyplane",
        "requestParameters": request_params,
        "responseElements": response,
        "requestID": ctx.request_id,
        "eventID": fast_uuid4(),
        "readOnly": spec.readonly,
        "resources": [{"accountId": acct, "type": t, "ARN": arn} for t, arn, acct in resources],
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "eventCategory": "Management",
        "recipientAccountId": resources[0][2] if resources else p.account,
    }
    if extra:
        event["additionalEventData"] = extra
    if err is not None:
        event["errorCode"] = err.code
        event["errorMessage"] = err.message
    event["_time"] = now.timestamp()
    if uses:
        event["_uses"] = uses       # not part of the record: the audit trail keeps them apart
    return event
