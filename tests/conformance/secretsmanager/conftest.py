"""Secrets Manager conformance fixtures: `sm`, signed calls through the whole HTTP app (the shared
`wire`); `clocked`, in-process calls for tests that move the clock or act as another account."""
from __future__ import annotations

import pytest

from keyplane.engine.identity import Principal

from .sm_wire import InProcess, Signed


@pytest.fixture
def sm(wire) -> Signed:
    return Signed(wire)


@pytest.fixture
def clocked(engine) -> InProcess:
    return InProcess(engine, Principal.root(engine.default_account))
