"""Fixtures for Secrets Manager tests: a Secrets Manager client, and a throw-away PostgreSQL cluster
that really checks passwords (scram-sha-256), because the machine's server trusts everyone and a
rotation test must see the old password refused."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid

import pytest


def _root_require():
    """tests/conftest.py's `require` (both files are named conftest, so it is loaded by path)."""
    import importlib.util
    import pathlib
    import sys
    name = "keyplane_tests_root_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, pathlib.Path(__file__).parents[1] / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name].require


require = _root_require()

SUPERUSER_PASSWORD = "kp-super-" + uuid.uuid4().hex


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.superuser, self.superuser_password = "postgres", SUPERUSER_PASSWORD

    def connect(self, user: str = "postgres", password: str = SUPERUSER_PASSWORD, dbname: str = "postgres"):
        import psycopg
        return psycopg.connect(host=self.host, port=self.port, user=user, password=password, dbname=dbname,
                               autocommit=True, connect_timeout=5)

    def can_login(self, user: str, password: str, dbname: str = "postgres") -> bool:
        import psycopg
        try:
            self.connect(user, password, dbname).close()
            return True
        except psycopg.OperationalError:
            return False

    def create_role(self, name: str, password: str, *extra: str) -> None:
        from psycopg import sql
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {} " + " ".join(extra)).format(
                sql.Identifier(name), sql.Literal(password)))


@pytest.fixture(scope="session")
def scram_postgres():
    """A PostgreSQL cluster of our own (initdb --auth=scram-sha-256, pg_ctl) on a free port, run as
    the postgres OS user in a temp dir it owns; stopped and removed afterwards."""
    bindir = _pg_bin()
    require(bindir is not None, "PostgreSQL server binaries (/usr/lib/postgresql/*/bin) are not installed")
    try:
        pg_user = pwd.getpwnam("postgres")
    except KeyError:
        pg_user = None
    require(pg_user is not None, "no 'postgres' OS user to run a throw-away cluster as")
    require(os.geteuid() == 0 or os.geteuid() == pg_user.pw_uid,
            "a throw-away cluster must run as the postgres user (run the tests as root or postgres)")
    base = tempfile.mkdtemp(prefix="keyplane-pg-")
    os.chown(base, pg_user.pw_uid, pg_user.pw_gid)
    data, pwfile = os.path.join(base, "data"), os.path.join(base, "pw")
    with open(pwfile, "w") as f:
        f.write(SUPERUSER_PASSWORD + "\n")
    os.chown(pwfile, pg_user.pw_uid, pg_user.pw_gid)
    os.chmod(pwfile, 0o600)
    port = _free_port()

    def as_postgres():
        if os.geteuid() == 0:
            os.setgid(pg_user.pw_gid)
            os.setuid(pg_user.pw_uid)

    def run(*args):
        return subprocess.run(args, preexec_fn=as_postgres, cwd=base, capture_output=True, text=True,
                              env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"}, timeout=120)

    r = run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync")
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {r.stderr}")
    r = run(f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
    if r.returncode != 0:
        log = open(os.path.join(base, "log")).read() if os.path.exists(os.path.join(base, "log")) else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"pg_ctl start failed: {r.stderr} {log}")
    try:
        cluster = Cluster("127.0.0.1", port)
        for _ in range(50):
            try:
                cluster.connect().close()
                break
            except Exception:   # noqa: BLE001 - the server may still be starting
                time.sleep(0.1)
        yield cluster
    finally:
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sm(kp):
    return kp.client("secretsmanager", region="us-east-1")


@pytest.fixture
def rotation_failure(engine):
    """The details (step, message) of a secret's last RotationFailed service event, as CloudTrail
    records a failed rotation; None if its rotations never failed."""
    def last(arn: str) -> dict | None:
        failed = engine.audit.query(engine.store_for("us-east-1"), event_name="RotationFailed")
        mine = [e for e in failed if any(r["ARN"] == arn for r in e["resources"])]
        return mine[0]["serviceEventDetails"] if mine else None
    return last


@pytest.fixture
def role_name():
    return "app_" + uuid.uuid4().hex[:8]


MARIADB_SOCKETS = ("/run/mysqld/mysqld.sock", "/var/run/mysqld/mysqld.sock", "/tmp/mysql.sock")


class MariaDB:
    """The machine's MariaDB/MySQL server (127.0.0.1:3306) as an admin sees it: MariaDB checks
    every password, so a rotation test can see the old one refused. Users it creates are dropped
    at the end of the session."""

    def __init__(self, admin_kwargs: dict):
        self.host, self.port = "127.0.0.1", 3306
        self._admin = admin_kwargs
        self.created: list[tuple[str, str]] = []

    def admin(self):
        import pymysql
        return pymysql.connect(**self._admin, autocommit=True, charset="utf8mb4", connect_timeout=5)

    def execute(self, statement: str, args=None) -> list:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(statement, args)
            return list(cur.fetchall())

    def create_user(self, name: str, password: str, *grants: str, host: str = "%", limits: str = "") -> None:
        self.execute("CREATE USER %s@%s IDENTIFIED BY %s" + (f" WITH {limits}" if limits else ""),
                     (name, host, password))
        self.created.append((name, host))
        for privileges in grants:
            option = " WITH GRANT OPTION" if privileges.endswith(" WITH GRANT OPTION") else ""
            privileges = privileges.removesuffix(" WITH GRANT OPTION")
            self.execute(f"GRANT {privileges} TO %s@%s{option}", (name, host))

    def connect(self, user: str, password: str):
        import pymysql
        return pymysql.connect(host=self.host, port=self.port, user=user, password=password,
                               connect_timeout=5, autocommit=True, charset="utf8mb4")

    def can_login(self, user: str, password: str) -> bool:
        import pymysql
        try:
            self.connect(user, password).close()
            return True
        except pymysql.MySQLError:
            return False

    def grants(self, user: str, host: str = "%") -> list[str]:
        return [row[0] for row in self.execute("SHOW GRANTS FOR %s@%s", (user, host))]

    def drop_created(self) -> None:
        for name, host in self.created:
            for user in (name, name + "_clone"):
                self.execute("DROP USER IF EXISTS %s@%s", (user, host))


@pytest.fixture(scope="session")
def mariadb():
    """The local MariaDB/MySQL server, reached as root (TCP with an empty password, as these machines
    have it, or the unix socket, as a fresh Debian install has it)."""
    try:
        import pymysql
    except ImportError:
        pymysql = None
    require(pymysql is not None, "PyMySQL is not installed (pip install 'keyplane[mysql]')")
    candidates = [{"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}]
    candidates += [{"unix_socket": path, "user": "root"} for path in MARIADB_SOCKETS if os.path.exists(path)]
    admin = None
    for kwargs in candidates:
        try:
            pymysql.connect(**kwargs, connect_timeout=3).close()
            admin = kwargs
            break
        except pymysql.MySQLError:
            continue
    require(admin is not None, "no MariaDB/MySQL server reachable as root on 127.0.0.1:3306 or its socket")
    server = MariaDB(admin)
    try:
        yield server
    finally:
        server.drop_created()


@pytest.fixture
def mysql_user():
    return "kp_" + uuid.uuid4().hex[:8]
