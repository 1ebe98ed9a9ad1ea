"""ListSecrets / BatchGetSecretValue filters, matched as AWS matches them.

AWS breaks a secret's name and description into words (at spaces and / _ + = . @ -), and a filter
value into words the same way: every word of the value must begin some word of the field. `name`
is case-sensitive, `description` and `all` are not; tag keys and values, the primary Region and the
owning service are plain prefix matches. A value starting with `!` negates. Values of one filter
are alternatives; every filter, even two with the same key, must match.
(https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_Filter.html,
https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_search-secret.html)
"""
from __future__ import annotations

import re

from .errors import InvalidParameterException
from .model import Secret

_SEPARATORS = re.compile(r"[ /_+=.@\-]+")


def words(text: str) -> list[str]:
    return [w for w in _SEPARATORS.split(text) if w]


def validate_filters(filters) -> None:
    """A filter needs both its Key and its Values (the model makes neither required)."""
    for f in filters or []:
        if not f.get("Key"):
            raise InvalidParameterException("Every filter must have a Key.")
        if not f.get("Values"):
            raise InvalidParameterException(f"The filter {f['Key']} must have Values.")


def _words_match(value: str, fields: list[str], fold: bool) -> bool:
    """Every word of `value` begins some word of one of `fields`."""
    if fold:
        value, fields = value.lower(), [f.lower() for f in fields]
    have = [w for f in fields for w in words(f)]
    wanted = words(value)
    return bool(wanted) and all(any(h.startswith(w) for h in have) for w in wanted)


def _prefix_match(value: str, fields: list[str]) -> bool:
    return any(f.startswith(value) for f in fields)


def _hit(key: str, value: str, secret: Secret, tags: dict, owning: str | None) -> bool:
    if key == "name":
        return _words_match(value, [secret.name], fold=False)
    if key == "description":
        return _words_match(value, [secret.description or ""], fold=True)
    if key == "tag-key":
        return _prefix_match(value, list(tags))
    if key == "tag-value":
        return _prefix_match(value, list(tags.values()))
    if key == "primary-region":
        return _prefix_match(value, [secret.primary_region or secret.region])
    if key == "owning-service":
        return _prefix_match(value, [owning] if owning else [])
    # "all": the value's words against every attribute, case-insensitive
    return _words_match(value, [secret.name, secret.description or "", *tags, *tags.values(),
                                secret.primary_region or secret.region, owning or ""], fold=True)


def matches(filters, secret: Secret, tags: dict, owning: str | None) -> bool:
    for f in filters or []:
        key, values = f["Key"], f["Values"]
        positive = [v for v in values if not v.startswith("!")]
        negative = [v[1:] for v in values if v.startswith("!")]
        if positive and not any(_hit(key, v, secret, tags, owning) for v in positive):
            return False
        if any(_hit(key, v, secret, tags, owning) for v in negative):
            return False
    return True
