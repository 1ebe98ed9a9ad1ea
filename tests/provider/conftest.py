"""Pulumi's mocks run on the thread's current event loop; a test that ran before may have left the
thread without one (asyncio.run() ends by clearing it), so each provider test gets one back."""
from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(autouse=True)
def _current_event_loop():
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())
    yield
