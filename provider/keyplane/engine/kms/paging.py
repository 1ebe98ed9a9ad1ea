"""Pagination with an opaque Marker, as every KMS List* operation pages."""
from __future__ import annotations

import base64

from ..errors import InvalidMarkerException
from .messages import INVALID_MARKER


def marker(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def unmarker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode()).decode()
    except Exception:
        raise InvalidMarkerException(INVALID_MARKER) from None


def page(rows: list, limit: int, marker_in: str | None, key_of) -> tuple[list, dict]:
    """Keyset pagination with an opaque Marker: rows must be sorted by key_of."""
    if marker_in is not None:
        after = unmarker(marker_in)
        rows = [r for r in rows if key_of(r) > after]
    chunk = rows[:limit]
    extra = {"Truncated": len(rows) > limit}
    if len(rows) > limit:
        extra["NextMarker"] = marker(key_of(chunk[-1]))
    return chunk, extra
