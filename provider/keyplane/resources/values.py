"""Values as the dynamic provider protocol carries them (unknowns in a preview, secrets, numbers
as doubles), and the checks of inputs and policy documents against the JSON Schemas: each problem
a CheckFailure naming the property and the JSON path."""
from __future__ import annotations

import difflib
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Optional

from pulumi.dynamic import CheckFailure
from pulumi.output import Unknown
from pulumi.runtime import rpc


# ---- values ----------------------------------------------------------------------------------
def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown) or value == rpc.UNKNOWN


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(contains_unknown(v) for v in value)
    return False


def plain(value: Any) -> Any:
    """Engine values as Python wants them: secrets unwrapped, whole floats back to int
    (protobuf carries every number as a double, botocore rejects 7.0 for an integer)."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def json_path(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# ---- schemas ---------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def validator(schema: "str | Path"):
    """A validator for a schema under schemas/ (`"resources/key"`, `"key-policy"`) or a schema
    file elsewhere (a Path); cross-file `$ref`s resolve through keyplane's schema registry."""
    from keyplane import schemas

    if not isinstance(schema, Path):
        return schemas.validator(schema)
    import jsonschema

    contents = json.loads(schema.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(contents, default=jsonschema.Draft202012Validator)
    return cls(contents, registry=schemas.registry())


def schema_failures(check, instance: Any, prefix: tuple = ()) -> list[CheckFailure]:
    """CheckFailures for `instance`, each naming the property and the JSON path; a problem in a
    value (or subtree) still unknown during preview is skipped: it is checked once known."""
    failures = []
    for error in sorted(_closest(check.iter_errors(instance)), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if contains_unknown(_at(instance, path)):
            continue
        message = error.message
        if error.validator == "required":
            missing = re.match(r"'(.+)' is a required property", message)
            if missing:
                path = path + [missing.group(1)]
        elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            extra = sorted(k for k in error.instance if k not in allowed)
            if extra:
                path = path + [extra[0]]
                message = f"unknown property {extra[0]!r}"
                nearest = difflib.get_close_matches(extra[0], sorted(allowed), n=1, cutoff=0.6)
                if nearest:
                    message += f"; did you mean {nearest[0]!r}?"
                if allowed:
                    message += f"; expected one of: {', '.join(sorted(allowed))}"
        full = list(prefix) + path
        prop = str(full[0]) if full else ""
        where = json_path(full)
        failures.append(CheckFailure(prop, f"{where}: {message}" if where else message))
    return failures


def _closest(errors) -> list:
    """Errors as the user needs them: for an anyOf / oneOf, those of the branch meant for this
    kind of value (all of them), else the best match across branches."""
    from jsonschema.exceptions import best_match

    out = []
    for error in errors:
        if not error.context:
            out.append(error)
            continue
        branches: dict = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        meant = [errs for errs in branches.values()
                 if not any(e.validator == "type" and not e.relative_path for e in errs)]
        out.extend(_closest(meant[0]) if len(meant) == 1 else [best_match(error.context)])
    return out


def _at(instance: Any, path: list) -> Any:
    for part in path:
        try:
            instance = instance[part]
        except (KeyError, IndexError, TypeError):
            return None
    return instance


def parse_document(value: Any) -> Any:
    """A policy given as a dict or a JSON string, as a JSON value (ValueError if not JSON)."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def policy_text(inputs: dict, name: str) -> dict:
    """A policy input given as a dict, as the JSON text AWS stores (once fully known)."""
    if isinstance(inputs.get(name), dict) and not contains_unknown(inputs[name]):
        inputs[name] = json.dumps(inputs[name], indent=2)
    return inputs


def live_document(declared: Any, live: Optional[str]) -> Any:
    """What a read reports for a JSON document: the declared form when it means the live one
    (so formatting never shows as drift), else the live text."""
    if declared is not None and live is not None:
        try:
            if parse_document(declared) == json.loads(live):
                return declared
        except ValueError:
            pass
    return live


