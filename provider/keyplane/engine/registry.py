"""The list of operations the engine serves, by service and AWS operation name.

A service module declares an operation with `@operation("kms", "Encrypt", readonly=True)`; the
function takes `(call, params)` (params already validated and deserialised from the botocore
model) and returns the AWS-shaped output dict. Read-only operations run without a write lock.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class OperationSpec:
    service: str
    name: str
    fn: Callable
    readonly: bool


_OPERATIONS: dict[tuple[str, str], OperationSpec] = {}
_loaded = False


def operation(service: str, name: str, *, readonly: bool = False):
    def register(fn: Callable) -> Callable:
        _OPERATIONS[(service, name)] = OperationSpec(service, name, fn, readonly)
        return fn
    return register


def load_services() -> None:
    """Import every service package under keyplane.engine (kms, ssm, secrets, sts, ...)."""
    global _loaded
    if _loaded:
        return
    import keyplane.engine as engine_pkg
    for mod in pkgutil.walk_packages(engine_pkg.__path__, engine_pkg.__name__ + "."):
        importlib.import_module(mod.name)
    _loaded = True


def lookup(service: str, name: str) -> OperationSpec | None:
    load_services()
    return _OPERATIONS.get((service, name))


def operations(service: str | None = None) -> list[OperationSpec]:
    load_services()
    return [s for (svc, _), s in sorted(_OPERATIONS.items()) if service in (None, svc)]
