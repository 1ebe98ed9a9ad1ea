"""Fixtures for the HTTP tests: one shared `keyplane serve` for the session, and its clients."""
from __future__ import annotations

import pytest

from keyplane_server import Server, free_port, keyplane, keyplane_env, role, start_server, wait_healthy  # noqa: F401


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server for the real-client tests (starting one costs seconds); tests that need their own
    (workers, TLS, dev mode) start it themselves."""
    srv = start_server(tmp_path_factory.mktemp("keyplane"))
    yield srv
    srv.stop()


@pytest.fixture
def kms(server):
    return server.client("kms")


@pytest.fixture
def sts(server):
    return server.client("sts")


@pytest.fixture
def cli_env(server, tmp_path):
    """The environment the AWS CLI (or any SDK) needs to use `server`, and nothing from the host."""
    return keyplane_env(AWS_ACCESS_KEY_ID=server.access_key, AWS_SECRET_ACCESS_KEY=server.secret_key,
                        AWS_DEFAULT_REGION="us-east-1", AWS_ENDPOINT_URL=server.endpoint,
                        AWS_CONFIG_FILE=str(tmp_path / "none"),
                        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
