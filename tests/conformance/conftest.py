"""Fixtures for conformance tests: `wire`, raw signed calls into an in-process keyplane."""
from __future__ import annotations

import pytest

from .wire import make_wire


@pytest.fixture
def wire(engine, tmp_path):
    w, app = make_wire(engine, tmp_path / "identities.yaml")
    yield w
    app.close()
