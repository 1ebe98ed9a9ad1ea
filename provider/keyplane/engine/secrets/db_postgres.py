"""PostgreSQL (and Aurora PostgreSQL) for the managed rotators: psycopg, identifiers and
passwords quoted by psycopg.sql, so no user name or password can change the statement."""
from __future__ import annotations

from .. import extras
from .rotator_base import RotatorError

ENGINES = ("postgres", "aurora-postgresql")
default_port = 5432
default_dbname = "postgres"


def check_engine(d: dict) -> None:
    if (d.get("engine") or "postgres") not in ENGINES:
        raise RotatorError(f"the secret's engine is {d.get('engine')!r}; this rotator handles postgres")


def connect(d: dict):
    try:
        import psycopg
    except ImportError:
        raise RotatorError(extras.message("psycopg", "PostgreSQL rotation")) from None
    try:
        return psycopg.connect(host=d["host"], port=int(d.get("port", default_port)),
                               dbname=d.get("dbname", default_dbname), user=d["username"],
                               password=d["password"], connect_timeout=5, autocommit=True)
    except psycopg.Error as exc:
        text = str(exc).strip()
        raise RotatorError(f"cannot log in to {d['host']}:{d.get('port', default_port)} as {d['username']}: "
                           f"{text.splitlines()[-1] if text else type(exc).__name__}") from None
    except KeyError as exc:
        raise RotatorError(f"the secret's JSON has no {exc.args[0]!r} field") from None


def ping(conn) -> None:
    conn.execute("SELECT now()")


def close(conn) -> None:
    conn.close()


def set_own_password(conn, username: str, password: str) -> None:
    from psycopg import sql
    conn.execute(sql.SQL("ALTER USER {} WITH PASSWORD {}").format(sql.Identifier(username), sql.Literal(password)))


set_password = set_own_password      # a superuser changes another role's password the same way


def user_exists(conn, username: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone() is not None


def create_clone(conn, source: str, clone: str, password: str) -> None:
    from psycopg import sql
    conn.execute(sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(clone), sql.Literal(password)))
    # the clone gets everything the original has, by membership
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(source), sql.Identifier(clone)))
