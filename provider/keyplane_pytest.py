"""keyplane's pytest plugin (registered as the `keyplane` pytest11 entry point): the fixtures
`keyplane_mock` — an isolated in-process keyplane for the test, boto3 clients created in the test
reach it — and `keyplane_server` — one served keyplane for the session, emptied before each test
that asks for it. See keyplane.testing.

A top-level module, not part of the keyplane package: pytest loads plugins before it reads a
project's settings, and importing the package that early would fix where `keyplane` comes from
for the whole run. keyplane is imported when a fixture is first used."""
from __future__ import annotations

import pytest


@pytest.fixture
def keyplane_mock():
    from keyplane.testing import mock_keyplane
    with mock_keyplane() as kp:
        yield kp


@pytest.fixture(scope="session")
def _keyplane_served():
    from keyplane.testing import serve_keyplane
    with serve_keyplane() as server:
        yield server


@pytest.fixture
def keyplane_server(_keyplane_served):
    _keyplane_served.reset()
    return _keyplane_served
