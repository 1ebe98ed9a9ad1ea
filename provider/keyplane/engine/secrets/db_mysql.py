"""MySQL and MariaDB (RDS, Aurora MySQL or your own server) for the managed rotators, through
PyMySQL. Values travel as query parameters, which PyMySQL quotes for the server's SQL mode
(NO_BACKSLASH_ESCAPES included); account names in statements rebuilt from SHOW GRANTS are quoted
as the server quotes them, so no user name or password can change a statement.

An account is `user@host`: a password change applies to every host the user is defined for, and
a clone is created for each of them with the original's grants."""
from __future__ import annotations

import re

from .. import extras
from .rotator_base import RotatorError

ENGINES = ("mysql", "mariadb", "aurora-mysql", "aurora")
default_port = 3306
default_dbname = None

_IDENTIFIED = re.compile(r"^\s+IDENTIFIED\b.*?(?=\s+WITH\s|\s+REQUIRE\s|$)", re.S)


def _driver():
    try:
        import pymysql
    except ImportError:
        raise RotatorError(extras.message("pymysql", "MySQL/MariaDB rotation")) from None
    return pymysql


def check_engine(d: dict) -> None:
    if d.get("engine") not in ENGINES:
        raise RotatorError(f"the secret's engine is {d.get('engine')!r}; this rotator handles mysql and mariadb")


def connect(d: dict):
    pymysql = _driver()
    try:
        return pymysql.connect(host=d["host"], port=int(d.get("port", default_port)), user=d["username"],
                               password=d["password"], database=d.get("dbname") or None, connect_timeout=5,
                               autocommit=True, charset="utf8mb4")
    except pymysql.MySQLError as exc:
        reason = exc.args[1] if len(exc.args) > 1 else type(exc).__name__
        raise RotatorError(f"cannot log in to {d['host']}:{d.get('port', default_port)} as {d['username']}: "
                           f"{reason}") from None
    except KeyError as exc:
        raise RotatorError(f"the secret's JSON has no {exc.args[0]!r} field") from None


def _run(conn, statement: str, args=None) -> list:
    with conn.cursor() as cur:
        cur.execute(statement, args)
        return list(cur.fetchall())


def ping(conn) -> None:
    _run(conn, "SELECT NOW()")


def close(conn) -> None:
    conn.close()


def set_own_password(conn, username: str, password: str) -> None:
    # Each server lets an account change its own password without CREATE USER in its own syntax:
    # MariaDB: SET PASSWORD = PASSWORD(...); MySQL 5.7.6+ / 8: ALTER USER USER() IDENTIFIED BY ...
    if "mariadb" in conn.get_server_info().lower():
        _run(conn, "SET PASSWORD = PASSWORD(%s)", (password,))
    else:
        _run(conn, "ALTER USER USER() IDENTIFIED BY %s", (password,))


def _hosts(conn, username: str) -> list[str]:
    return [row[0] for row in _run(conn, "SELECT Host FROM mysql.user WHERE User = %s ORDER BY Host", (username,))]


def user_exists(conn, username: str) -> bool:
    return bool(_hosts(conn, username))


def set_password(conn, username: str, password: str) -> None:
    for host in _hosts(conn, username):
        _run(conn, "ALTER USER %s@%s IDENTIFIED BY %s", (username, host, password))


def _account(user: str, host: str) -> str:
    """An account name quoted as SHOW GRANTS prints it."""
    return "`" + user.replace("`", "``") + "`@`" + host.replace("`", "``") + "`"


def create_clone(conn, source: str, clone: str, password: str) -> None:
    hosts = _hosts(conn, source)
    if not hosts:
        raise RotatorError(f"the user {source!r} does not exist on the server")
    for host in hosts:
        grants = [row[0] for row in _run(conn, "SHOW GRANTS FOR %s@%s", (source, host))]
        _run(conn, "CREATE USER %s@%s IDENTIFIED BY %s", (clone, host, password))
        original, copy = " TO " + _account(source, host), " TO " + _account(clone, host)
        for grant in grants:
            at = grant.find(original)
            if not grant.startswith("GRANT ") or at < 0:
                continue                      # e.g. a proxy or default-role line: not a grant to copy
            # the clone has its own password: drop the original's IDENTIFIED ... clause
            tail = _IDENTIFIED.sub("", grant[at + len(original):])
            _run(conn, grant[:at] + copy + tail)
