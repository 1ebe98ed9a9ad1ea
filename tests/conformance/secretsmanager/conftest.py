"""Fixtures for the Secrets Manager conformance tests: `wire`, raw calls for the account root."""
from __future__ import annotations

import pytest
from sm_wire import Wire

from keyplane.engine.identity import Principal


@pytest.fixture
def wire(engine) -> Wire:
    return Wire(engine, Principal.root(engine.default_account))
