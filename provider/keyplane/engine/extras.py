"""Optional dependencies: the pip extra each feature needs, and the one clear error when it is
missing (`pip install keyplane` serves KMS, Parameter Store and Secrets Manager on SQLite; the
Pulumi provider, PostgreSQL, PKCS#11 and MySQL come with extras)."""
from __future__ import annotations

import importlib

# module -> (distribution, extra)
EXTRAS = {
    "pulumi": ("pulumi", "pulumi"),
    "psycopg": ("psycopg", "postgres"),
    "pkcs11": ("python-pkcs11", "hsm"),
    "pymysql": ("PyMySQL", "mysql"),
}


class MissingExtra(ImportError):
    """A feature's optional dependency is not installed; the message says which extra brings it."""


def message(module: str, feature: str) -> str:
    dist, extra = EXTRAS[module]
    return f"{feature} needs {dist}, which is not installed: pip install 'keyplane[{extra}]'"


def require(module: str, feature: str):
    """Import `module` (one of EXTRAS) or raise MissingExtra naming the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(message(module, feature)) from None
