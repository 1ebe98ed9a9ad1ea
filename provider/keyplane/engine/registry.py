"""How a function declares that it is an AWS operation.

`@operation("kms", "Encrypt", readonly=True)` marks a function that takes `(call, params)` (params
already validated and deserialised from the botocore model) and returns the AWS-shaped output
dict. Read-only operations run without a write lock; `tracks_use=True` makes each successful
call a use of the resources it names. The mark is all this does: which modules the
engine serves is listed in services.py, which builds the operation table from their marks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class OperationSpec:
    service: str
    name: str
    fn: Callable
    readonly: bool
    tracks_use: bool = False


def operation(service: str, name: str, *, readonly: bool = False, tracks_use: bool = False):
    """`tracks_use`: a successful call is a use of the resources it names (`call.resource`), kept
    as each resource's last use (KMS's GetKeyLastUsage reads it)."""
    def mark(fn: Callable) -> Callable:
        fn.operation_spec = OperationSpec(service, name, fn, readonly, tracks_use)
        return fn
    return mark


def operations_of(modules) -> dict[tuple[str, str], OperationSpec]:
    """(service, name) -> OperationSpec for every operation the modules define."""
    table: dict[tuple[str, str], OperationSpec] = {}
    for module in modules:
        for value in vars(module).values():
            spec = getattr(value, "operation_spec", None)
            if not isinstance(spec, OperationSpec):
                continue
            key = (spec.service, spec.name)
            if key in table and table[key] != spec:
                raise RuntimeError(f"operation {spec.service}.{spec.name} is defined twice")
            table[key] = spec
    return table
