"""Where keyplane's JSON Schemas live and how to load them.

`schemas/` at the repository root is the single source of validation (IAM policy grammar, key and
secret policies, grant constraints, the identities file, resource inputs). A source checkout reads
it in place; an installed wheel carries the same files as data files under
`<prefix>/share/keyplane/schemas` (see pyproject), so nothing is copied into the package.
Schemas reference each other by `$id` (`https://keyplane.dev/schemas/<file>`); `registry()` holds
them all so a `$ref` to another file resolves offline.
"""
from __future__ import annotations

import json
import sys
from functools import lru_cache
from pathlib import Path

SCHEMA_BASE = "https://keyplane.dev/schemas/"


@lru_cache(maxsize=1)
def schemas_dir() -> Path:
    """The directory holding the schema files: the repository's first, then the installed copy."""
    candidates = [Path(__file__).resolve().parents[2] / "schemas",
                  Path(sys.prefix) / "share" / "keyplane" / "schemas"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("keyplane schemas not found in " + ", ".join(map(str, candidates)))


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    """One schema by file name (`key-policy` or `key-policy.schema.json`)."""
    if not name.endswith(".json"):
        name = f"{name}.schema.json"
    return json.loads((schemas_dir() / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def registry():
    """A `referencing` registry with every schema file, keyed by its `$id`."""
    from referencing import Registry, Resource

    resources = []
    for path in sorted(schemas_dir().glob("*.json")):
        schema = load_schema(path.name)
        resources.append((schema.get("$id", SCHEMA_BASE + path.name), Resource.from_contents(schema)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=None)
def validator(name: str):
    """A ready jsonschema validator for one schema, with cross-file `$ref`s resolved."""
    from jsonschema.validators import validator_for

    schema = load_schema(name)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry())
