"""A call in progress: who calls, from where (`RequestContext`), and the `Call` an operation gets —
its store, clock, root key and what its audit record will say. Service modules that act in another
Region or on the service's own behalf make Calls here; `core.Engine` runs them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from .crypto import random_uuid
from .identity import Principal
from .sealing import RootKey

DEFAULT_REGION = "us-east-1"


@dataclass
class RequestContext:
    """Who calls, from where, in which Region; and on whose behalf if a service calls for them."""
    principal: Principal
    region: str = DEFAULT_REGION
    request_id: str = field(default_factory=random_uuid)
    source_ip: str | None = None
    user_agent: str | None = None
    via_service: str | None = None        # "ssm", "secretsmanager" when a service calls KMS for a user
    secure_transport: bool = False
    service_event: bool = False           # work the service does on its own (scheduler)
    request_bytes: int = 0                # size of the request body, when it came over the wire


class Call:
    """One operation in progress: its context, store and what its audit record will say."""

    def __init__(self, engine, ctx: RequestContext, spec, store, params: dict):
        self.engine = engine
        self.ctx = ctx
        self.spec = spec
        self.store = store
        self.params = params
        self.resources: list[tuple[str, str, str]] = []   # (type, arn, account)
        self.audit_params: dict = {}
        self.audit_extra: dict = {}
        self.request_alias: str | None = None
        self._now: datetime | None = None

    @property
    def principal(self) -> Principal:
        return self.ctx.principal

    @property
    def account(self) -> str:
        return self.ctx.principal.account

    @property
    def region(self) -> str:
        return self.ctx.region

    @property
    def now(self) -> datetime:
        if self._now is None:
            self._now = self.engine.clock.now()
        return self._now

    @property
    def root_key(self) -> RootKey:
        return self.engine.root_key_for(self.store)

    def resource(self, arn: str, type_: str, account: str | None = None) -> None:
        """Name a resource this call touched (audit `resources`, filtering by key)."""
        entry = (type_, arn, account or self.account)
        if entry not in self.resources:
            self.resources.append(entry)

    def invalidate(self, cache_key) -> None:
        self.engine.cache.pop(cache_key)
        self.store.after_commit(lambda: self.engine.cache.pop(cache_key))

    def invoke(self, service: str, operation: str, params: dict, *, via: bool = True) -> dict:
        """Call another operation for the same caller; `via` marks it as made by this service
        (kms:ViaService), as Parameter Store and Secrets Manager do when they call KMS."""
        ctx = replace(self.ctx, via_service=self.spec.service if via else self.ctx.via_service)
        return self.engine.invoke(service, operation, params, ctx)

    def kms(self, operation: str, params: dict) -> dict:
        return self.invoke("kms", operation, params)
