"""keyplane: a self-hosted key management plane with the semantics of AWS KMS, SSM Parameter Store
and AWS Secrets Manager.

    import keyplane
    kms = keyplane.connect().client("kms", region="us-east-1")   # a real boto3 client

The Pulumi resources (Key, Alias, Grant, ...) are exported lazily, so `import keyplane` stays light
for applications that only want clients.
"""
from .client import Connection, connect  # noqa: F401

__all__ = ["connect", "Connection"]

# Public Pulumi resources: name -> module under keyplane.resources (imported on first use).
_RESOURCES = {"Key": "key", "Alias": "alias", "Grant": "grant", "MultiRegionReplica": "multi_region_replica",
              "Secret": "secret", "SecretAttachment": "secret_attachment", "Parameter": "parameter",
              "CustomKeyStore": "custom_key_store"}


def __getattr__(name: str):
    if name in _RESOURCES:
        import importlib

        from .engine import extras
        extras.require("pulumi", f"keyplane.{name} (a Pulumi resource)")
        return getattr(importlib.import_module(f"keyplane.resources.{_RESOURCES[name]}"), name)
    raise AttributeError(f"module 'keyplane' has no attribute {name!r}")
