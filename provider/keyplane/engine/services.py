"""What the engine serves, named in one place: each service's operation modules, the scheduled
tasks, and the table modules whose migrations build a store. To add an operation, define it with
`@operation(service, name)` in a service module and, if the module is new, list it here.

Nothing registers itself on import: the operation table is built from the modules listed below,
and the scheduler and the store are handed the tasks and migrations listed below.
"""
from __future__ import annotations

from . import audit_delivery, audit_digests, audit_pruning, events, registry
from .kms import (aliases, asymmetric, cryptographic, custom_key_stores, encapsulation, grants, hmac_keys,
                  imports, keys, multi_region, multi_region_sync, usage)
from .kms import policies as kms_policies
from .kms import rotation as kms_rotation
from .kms import tables as kms_tables
from .kms import tags as kms_tags
from .secrets import cross_account as secrets_cross_account
from .secrets import operations as secrets_operations
from .secrets import policies as secrets_policies
from .secrets import replication as secrets_replication
from .secrets import rotation as secrets_rotation
from .secrets import tables as secrets_tables
from .ssm import labels, listing, parameters, settings
from .ssm import policies as ssm_policies
from .ssm import tables as ssm_tables
from .ssm import tags as ssm_tags
from .store import tables as store_tables
from .sts import operations as sts_operations
from .sts import sessions as sts_sessions
from .sts import tables as sts_tables

# service -> the modules that define its operations
SERVICES = {
    "kms": (aliases, asymmetric, cryptographic, custom_key_stores, encapsulation, grants, hmac_keys, imports,
            keys, multi_region, kms_policies, kms_rotation, kms_tags, usage),
    "ssm": (labels, listing, parameters, settings, ssm_tags),
    "secretsmanager": (secrets_cross_account, secrets_operations, secrets_policies, secrets_replication,
                       secrets_rotation),
    "sts": (sts_operations,),
}

OPERATIONS: dict[tuple[str, str], registry.OperationSpec] = registry.operations_of(
    module for modules in SERVICES.values() for module in modules)

# name -> fn(engine, store, now) -> how many things it did. The scheduler runs them in name order;
# "~events.deliver" sorts last, so events other tasks emit in a tick go out in that same tick.
TASKS = {
    "audit.deliver": audit_delivery.deliver_due,      # log files of the closed periods, then
    "audit.digest": audit_digests.hourly_digest,      # the hourly signed digest that lists them, then
    "audit.prune": audit_pruning.prune_due,           # records delivered, listed and past retention go
    "kms.delete-keys": keys.delete_due_keys,
    "kms.expire-import-parameters": imports.expire_import_parameters,
    "kms.expire-key-material": imports.expire_key_material,
    "kms.multi-region": multi_region_sync.synchronize_due,
    "kms.rotate-keys": kms_rotation.rotate_due_keys,
    "secretsmanager.delete-secrets": secrets_operations.delete_due_secrets,
    "secretsmanager.rotate-secrets": secrets_rotation.rotate_due_secrets,
    "ssm.parameter-policies": ssm_policies.enforce_policies,
    "sts.purge-expired-sessions": sts_sessions.purge_expired,
    "~events.deliver": events.deliver_task,
}

# every table module; each names its migrations in MIGRATIONS
TABLE_MODULES = (store_tables, kms_tables, ssm_tables, secrets_tables, sts_tables)


def _migrations(modules) -> dict:
    out: dict = {}
    for module in modules:
        for name, fn in module.MIGRATIONS.items():
            if name in out:
                raise RuntimeError(f"duplicate migration {name}")
            out[name] = fn
    return out


MIGRATIONS = _migrations(TABLE_MODULES)


def lookup(service: str, name: str) -> registry.OperationSpec | None:
    return OPERATIONS.get((service, name))


def operations(service: str | None = None) -> list[registry.OperationSpec]:
    return [s for (svc, _), s in sorted(OPERATIONS.items()) if service in (None, svc)]
