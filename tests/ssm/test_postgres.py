"""Parameter Store on PostgreSQL: the same hierarchy semantics (path ranges, paging, one level) under
PostgreSQL's collation rules, and SecureString through KMS on the shared store."""
from __future__ import annotations

import os

import pytest

import keyplane
from keyplane.engine.clock import ManualClock
from keyplane.engine.core import Engine
from keyplane.engine.sealing import RootKey


# the admin connection tests/conftest.py uses (both conftest files are named conftest: read the same env)
PG_DSN = os.environ.get("KEYPLANE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def icu_postgres_url(postgres_url, require):
    """A database whose default collation is ICU en-US (punctuation sorts unlike bytes), as a
    deployment's may be; the fixture's own database is C."""
    import psycopg
    name = postgres_url.rsplit("/", 1)[1] + "_icu"
    base = postgres_url.rsplit("/", 1)[0]
    admin = psycopg.connect(PG_DSN, autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu '
                      "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
    except psycopg.Error as exc:
        admin.close()
        require(False, f"PostgreSQL cannot create an ICU database here: {exc}")
    try:
        yield f"{base}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_path_queries_keep_byte_order_on_a_postgresql_with_icu_collation(icu_postgres_url, clock: ManualClock):
    engine = Engine(icu_postgres_url, clock=clock, root_key=RootKey(os.urandom(32), "test"))
    try:
        ssm = keyplane.connect(engine=engine).client("ssm")
        names = ["/app/a", "/app/B", "/app/a-b", "/app/a/x", "/app/a.b", "/app/a_b", "/app0", "/app-x/y", "/APP/z"]
        for n in names:
            ssm.put_parameter(Name=n, Value=n, Type="String")
        ssm.put_parameter(Name="/app/s", Value="secret", Type="SecureString")
        rec = [p["Name"] for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/app", Recursive=True)
               for p in page["Parameters"]]
        assert sorted(rec) == sorted(["/app/a", "/app/B", "/app/a-b", "/app/a/x", "/app/a.b", "/app/a_b", "/app/s"])
        assert rec == sorted(rec)            # byte order, whatever the database's collation
        one = [p["Name"] for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/app")
               for p in page["Parameters"]]
        assert "/app/a/x" not in one and len(one) == 6
        assert ssm.get_parameter(Name="/app/s", WithDecryption=True)["Parameter"]["Value"] == "secret"
        described = [p["Name"] for page in ssm.get_paginator("describe_parameters").paginate(
            ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": ["/app/a"]}]) for p in page["Parameters"]]
        assert sorted(described) == ["/app/a", "/app/a-b", "/app/a.b", "/app/a/x", "/app/a_b"]
    finally:
        engine.close()
