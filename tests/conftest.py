"""Shared fixtures: an engine on a fresh SQLite store with a manual clock, boto3 clients bound to
it in-process, a throw-away PostgreSQL database, and `require()` for optional real parts."""
from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone

import pytest

from keyplane.engine.clock import ManualClock
from keyplane.engine.core import Engine

REQUIRE_ALL = os.environ.get("KEYPLANE_REQUIRE_ALL") == "1"
PG_DSN = os.environ.get("KEYPLANE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def require(ok: bool, reason: str) -> None:
    """Skip when a real part (PostgreSQL, SoftHSM, openssl...) is missing — except in CI, where
    KEYPLANE_REQUIRE_ALL=1 makes a missing part a failure, so nothing is silently untested."""
    if ok:
        return
    if REQUIRE_ALL:
        pytest.fail(f"required for this test but missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(name="require")
def _require_fixture():
    """`require` for test modules, which cannot import it reliably (several conftest modules)."""
    return require


@pytest.fixture
def clock():
    return ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc))


@pytest.fixture
def engine(tmp_path, clock):
    eng = Engine(str(tmp_path / "state"), clock=clock)
    yield eng
    eng.close()


@pytest.fixture
def kp(engine):
    import keyplane
    return keyplane.connect(engine=engine)


@pytest.fixture
def kms(kp):
    return kp.client("kms", region="us-east-1")


@pytest.fixture(scope="module")
def module_kms(tmp_path_factory):
    """A KMS client on an engine shared by one test module: for tests whose keys are slow to make
    (RSA) or that do not need an empty store. The clock is manual, as with `engine`."""
    import keyplane
    eng = Engine(str(tmp_path_factory.mktemp("module") / "state"),
                 clock=ManualClock(datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)))
    yield keyplane.connect(engine=eng).client("kms", region="us-east-1")
    eng.close()


def _pg_admin():
    try:
        import psycopg
        return psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "no PostgreSQL here"
        return exc


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    admin = _pg_admin()
    require(not isinstance(admin, Exception), f"PostgreSQL not reachable at {PG_DSN}: {admin}")
    name = "keyplane_test_" + uuid.uuid4().hex[:12]
    admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_DSN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
