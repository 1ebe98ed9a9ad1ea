"""examples/db_credentials as a Pulumi program (under `pulumi.runtime.set_mocks`, every resource
forwarded through the plugin protocol to the real provider) against a PostgreSQL that checks
passwords: after `up` the role's password has really been rotated, the app snippet connects with
what it reads from the secret, and the configured password no longer works."""
from __future__ import annotations

import importlib.util
import json
import runpy
import sys
import time
from pathlib import Path

import pulumi
from pulumi.runtime.mocks import MockMonitor

TREE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TREE / "tests" / "provider"))
from harness import Engine, ForwardingMocks, ProviderProcess, observer  # noqa: E402



class RecordingMonitor(MockMonitor):
    """The mock monitor, remembering which outputs each resource asked to keep secret."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.secret_outputs = {}

    def RegisterResource(self, request):
        self.secret_outputs[f"{request.type.rsplit(':', 1)[-1]}/{request.name}"] = sorted(request.additionalSecretOutputs)
        return super().RegisterResource(request)


PROGRAM = TREE / "examples" / "db_credentials" / "__main__.py"


def _app():
    spec = importlib.util.spec_from_file_location("db_credentials_app", TREE / "examples" / "db_credentials" / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_db_credentials_example_attaches_rotates_and_the_app_connects(tmp_path, scram_postgres, role_name):
    scram_postgres.create_role(role_name, "configured-pw")
    state = str(tmp_path / "state")
    config = {"db_credentials:engine": "postgres", "db_credentials:host": scram_postgres.host, "db_credentials:port": str(scram_postgres.port),
              "db_credentials:username": role_name, "db_credentials:password": "configured-pw"}
    for key, value in config.items():
        pulumi.runtime.set_config(key, value)
    with ProviderProcess({"keyplane:state": state, "keyplane:region": "us-east-1"}) as process:
        mocks = ForwardingMocks(Engine(process, stack="dev"))
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_mocks(mocks, project="db_credentials", stack="dev", preview=False, monitor=monitor)
        pulumi.runtime.test(lambda: runpy.run_path(str(PROGRAM)) and None)()
    assert set(mocks.created) == {"Secret/app-db", "SecretAttachment/app-db"}
    assert monitor.secret_outputs["Secret/app-db"] == ["secret_string"]      # encrypted in state

    sm = observer(state).client("secretsmanager", region="us-east-1")
    value = json.loads(sm.get_secret_value(SecretId=f"db/{role_name}")["SecretString"])
    assert value["host"] == scram_postgres.host and value["port"] == scram_postgres.port
    assert value["engine"] == "postgres" and value["dbInstanceIdentifier"]
    assert value["password"] != "configured-pw"                     # rotated once attached
    assert not scram_postgres.can_login(role_name, "configured-pw")
    described = sm.describe_secret(SecretId=f"db/{role_name}")
    assert described["RotationEnabled"] and described["LastRotatedDate"]

    with _app().connect(sm, f"db/{role_name}") as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role_name


def test_db_credentials_example_on_mariadb_attaches_rotates_and_the_app_connects(tmp_path, mariadb, mysql_user):
    """The same program with `db_credentials:engine mariadb`: the MariaDB rotator changes the user's
    password in the server; the configured one is refused afterwards, the app connects with the
    rotated one it reads from the secret. The attachment completes AWS's RDS MariaDB structure
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html)."""
    mariadb.create_user(mysql_user, "configured-pw", "SELECT ON `test`.*")
    state = str(tmp_path / "state")
    config = {"db_credentials:engine": "mariadb", "db_credentials:host": mariadb.host,
              "db_credentials:port": str(mariadb.port), "db_credentials:dbname": "test",
              "db_credentials:username": mysql_user, "db_credentials:password": "configured-pw"}
    from harness import run_program
    provider_config = {"keyplane:state": state, "keyplane:region": "us-east-1"}
    with ProviderProcess(provider_config) as process:      # run_program restores the stack config after
        run = run_program(PROGRAM, Engine(process, stack="dev", project="db_credentials"),
                          {**provider_config, **config}, project="db_credentials",
                          secret_keys=("db_credentials:password",))
    assert set(run.mocks.created) == {"Secret/app-db", "SecretAttachment/app-db"}
    assert run.secret_outputs["Secret/app-db"] == ["secret_string"]

    sm = observer(state).client("secretsmanager", region="us-east-1")
    value = _assert_rotated_and_the_app_connects(sm, mariadb, mysql_user)
    assert value["dbInstanceIdentifier"]


def _assert_rotated_and_the_app_connects(sm, mariadb, mysql_user: str) -> dict:
    """After `up` on MariaDB: the secret holds AWS's fields and a rotated password, the configured
    one no longer logs in, and the app connects with what the secret holds. The secret's value."""
    value = json.loads(sm.get_secret_value(SecretId=f"db/{mysql_user}")["SecretString"])
    assert (value["engine"], value["port"], value["dbname"]) == ("mariadb", 3306, "test")
    assert value["password"] != "configured-pw" and not mariadb.can_login(mysql_user, "configured-pw")
    assert sm.describe_secret(SecretId=f"db/{mysql_user}")["RotationLambdaARN"] == "keyplane:mariadb-single-user"
    conn = _app().connect(sm, f"db/{mysql_user}")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT CURRENT_USER()")
            assert cur.fetchone()[0].startswith(mysql_user + "@")
    finally:
        conn.close()
    return value


def _wait_rotated(sm, secret_id: str) -> None:
    """A server runs RotateSecret in the background, as AWS does: wait for the run to finish
    (a process to complete, not domain time to pass)."""
    deadline = time.monotonic() + 60
    while not sm.describe_secret(SecretId=secret_id).get("LastRotatedDate"):
        assert time.monotonic() < deadline, "the rotation on the server did not finish"
        time.sleep(0.1)


def test_db_credentials_example_runs_remote_against_keyplane_serve(tmp_path, scram_postgres, role_name):
    """The same program with keyplane:endpoint (SigV4 with `keyplane init`'s access key): the
    server process runs the rotation that changes the role's password in PostgreSQL."""
    from harness import run_program
    from served import Served

    scram_postgres.create_role(role_name, "configured-pw")
    server = Served(tmp_path / "served")
    try:
        config = {**server.config(), "db_credentials:host": scram_postgres.host,
                  "db_credentials:port": str(scram_postgres.port), "db_credentials:username": role_name,
                  "db_credentials:password": "configured-pw"}
        with ProviderProcess(config) as process:
            run = run_program(PROGRAM, Engine(process, stack="dev", project="db_credentials"), config,
                              project="db_credentials", secret_keys=("keyplane:secretKey", "db_credentials:password"))
        assert set(run.mocks.created) == {"Secret/app-db", "SecretAttachment/app-db"}
        sm = server.connect().client("secretsmanager")
        _wait_rotated(sm, f"db/{role_name}")
        value = json.loads(sm.get_secret_value(SecretId=f"db/{role_name}")["SecretString"])
        assert value["password"] != "configured-pw" and not scram_postgres.can_login(role_name, "configured-pw")
        with _app().connect(sm, f"db/{role_name}") as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role_name
    finally:
        server.stop()


def test_db_credentials_example_on_mariadb_runs_remote_against_keyplane_serve(tmp_path, mariadb, mysql_user):
    """The MariaDB variant with keyplane:endpoint: the server process runs the MariaDB rotator
    against the secret in AWS's RDS MariaDB structure
    (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_secret_json_structure.html),
    completed by the attachment (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-secretsmanager-secrettargetattachment.html);
    the configured password is refused afterwards and the app connects with the rotated one."""
    from harness import run_program
    from served import Served

    mariadb.create_user(mysql_user, "configured-pw", "SELECT ON `test`.*")
    server = Served(tmp_path / "served")
    try:
        config = {**server.config(), "db_credentials:engine": "mariadb", "db_credentials:host": mariadb.host,
                  "db_credentials:port": str(mariadb.port), "db_credentials:dbname": "test",
                  "db_credentials:username": mysql_user, "db_credentials:password": "configured-pw"}
        with ProviderProcess(config) as process:
            run = run_program(PROGRAM, Engine(process, stack="dev", project="db_credentials"), config,
                              project="db_credentials", secret_keys=("keyplane:secretKey", "db_credentials:password"))
        assert set(run.mocks.created) == {"Secret/app-db", "SecretAttachment/app-db"}
        assert run.secret_outputs["Secret/app-db"] == ["secret_string"]
        sm = server.connect().client("secretsmanager")
        _wait_rotated(sm, f"db/{mysql_user}")
        _assert_rotated_and_the_app_connects(sm, mariadb, mysql_user)
    finally:
        server.stop()
