"""keyplane's version: the installed distribution's, or the source tree's pyproject when run from a
checkout that was never installed."""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=1)
def version() -> str:
    from importlib import metadata
    try:
        return metadata.version("keyplane")
    except metadata.PackageNotFoundError:
        import re
        from pathlib import Path
        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        found = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M) if pyproject.exists() else None
        return (found.group(1) + "+source") if found else "unknown"
