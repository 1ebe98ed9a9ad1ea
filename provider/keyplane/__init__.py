"""keyplane: a self-hosted key management plane with the semantics of AWS KMS, SSM Parameter Store
and AWS Secrets Manager.

    import keyplane
    kms = keyplane.connect().client("kms", region="us-east-1")   # a real boto3 client

The Pulumi resources (Key, Alias, Grant, ...) and lookups (get_key, get_parameter, ...) are exported
lazily, so `import keyplane` stays light for applications that only want clients.
"""
from typing import TYPE_CHECKING

from .client import Connection, connect  # noqa: F401

__all__ = ["connect", "Connection"]

# Public Pulumi resources: name -> the module under keyplane.resources that implements it. The
# typed classes users get are generated from them into keyplane.resources.typed (imported on first use).
RESOURCES = {"Key": "key", "Alias": "alias", "Grant": "grant", "MultiRegionReplica": "multi_region_replica",
              "Secret": "secret", "SecretAttachment": "secret_attachment", "Parameter": "parameter",
              "CustomKeyStore": "custom_key_store", "KeyPolicy": "key_policy", "SecretPolicy": "secret_policy",
              "SecretRotation": "secret_rotation", "SecretVersion": "secret_version"}


if TYPE_CHECKING:  # what IDEs and type checkers see: the typed classes, their Args, the lookups
    from .resources.lookups import (get_alias, get_alias_output, get_key, get_key_output,  # noqa: F401
                                    get_parameter, get_parameter_output, get_public_key, get_public_key_output,
                                    get_secret_version, get_secret_version_output)
    from .resources.typed import *  # noqa: F401,F403


def __getattr__(name: str):
    if name in RESOURCES or (name.endswith("Args") and name[:-4] in RESOURCES):
        from .engine import extras
        extras.require("pulumi", f"keyplane.{name} (a Pulumi resource)")
        from .resources import typed

        return getattr(typed, name)
    if name.startswith("get_"):
        from .engine import extras
        extras.require("pulumi", f"keyplane.{name} (a Pulumi lookup)")
        from .resources import lookups

        if name in lookups.LOOKUPS:
            return getattr(lookups, name)
    raise AttributeError(f"module 'keyplane' has no attribute {name!r}")
