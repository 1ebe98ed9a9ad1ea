"""Store connections, re-entrant per-thread transactions and named migrations."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.pool import StaticPool

from .. import extras
from ..private_dirs import make_private_dirs

metadata = sa.MetaData()

migrations_table = sa.Table(
    "keyplane_migrations", metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)


def create_tables(*tables: sa.Table) -> Callable[[Connection], None]:
    """A migration body that creates tables (and their indexes) if they do not exist yet."""
    def run(conn: Connection) -> None:
        for t in tables:
            t.create(conn, checkfirst=True)
    return run


def add_column(table: sa.Table, column_name: str) -> Callable[[Connection], None]:
    """A migration body that adds a column declared on `table` to a database that predates it."""
    def run(conn: Connection) -> None:
        existing = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        if column_name in existing:
            return
        col = table.c[column_name]
        ddl = f"{col.name} {col.type.compile(dialect=conn.dialect)}"
        default = col.default.arg if col.default is not None and col.default.is_scalar else None
        if default is not None:
            # existing rows need a value for a NOT NULL column: the Python-side default, as DDL
            ddl += " DEFAULT " + str(sa.literal(default).compile(dialect=conn.dialect,
                                                                 compile_kwargs={"literal_binds": True}))
        if not col.nullable and default is not None:
            ddl += " NOT NULL"
        conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {ddl}")
    return run


def drop_columns(table: sa.Table, *names: str) -> Callable[[Connection], None]:
    """A migration body that removes columns `table` no longer declares from a database made before.
    PostgreSQL drops them in place; SQLite gets the table rebuilt with what is declared (its
    documented way to change a table, and one every SQLite version supports), rows and indexes kept."""
    def run(conn: Connection) -> None:
        existing = {c["name"] for c in sa.inspect(conn).get_columns(table.name)}
        gone = [n for n in names if n in existing]
        if not gone:
            return
        if conn.dialect.name == "postgresql":
            for name in gone:
                conn.exec_driver_sql(f"ALTER TABLE {table.name} DROP COLUMN {name}")
            return
        for index in sa.inspect(conn).get_indexes(table.name):
            conn.exec_driver_sql(f'DROP INDEX "{index["name"]}"')
        conn.exec_driver_sql(f"ALTER TABLE {table.name} RENAME TO {table.name}__old")
        table.create(conn)
        kept = ", ".join(c.name for c in table.columns)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({kept}) SELECT {kept} FROM {table.name}__old")
        conn.exec_driver_sql(f"DROP TABLE {table.name}__old")
    return run


def normalise_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _keep_private(path: str) -> None:
    """The database file exists 0600 before SQLite opens it: SQLite gives its -wal, -shm and
    -journal files the database file's mode. Files an older keyplane made 0644 are tightened."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for name in (path, path + "-wal", path + "-shm", path + "-journal"):
        try:
            if os.stat(name).st_mode & 0o077:
                os.chmod(name, 0o600)
        except FileNotFoundError:
            pass


class Store:
    """One database. `write()` and `read()` are re-entrant within a thread: a service operation that
    calls another (SSM calling KMS, say) shares the caller's transaction instead of deadlocking."""

    def __init__(self, url: str, migrations: dict[str, Callable[[Connection], None]]):
        """Open the database at `url` and apply what it lacks of `migrations`: name -> function(conn).
        Names sort into the order they are applied ("<area>.<NNNN>_<what>"), each once per database,
        in its own transaction, so a database made by an older keyplane upgrades itself."""
        self.url = url
        self._migrations = dict(migrations)
        self.dialect = "postgresql" if url.startswith(("postgresql", "postgres")) else "sqlite"
        self.path: str | None = None
        self._local = threading.local()
        self._memory_lock = None
        if self.dialect == "postgresql":
            extras.require("psycopg", "A PostgreSQL store")
        real = normalise_url(url)
        if self.dialect == "sqlite":
            path = real.split("sqlite:///", 1)[1] if real.startswith("sqlite:///") else ""
            if path in ("", ":memory:"):
                # one shared connection for an in-memory database; a lock serialises its users
                self._memory_lock = threading.RLock()
                self._writer = sa.create_engine("sqlite://", poolclass=StaticPool,
                                                connect_args={"check_same_thread": False})
                self._reader = self._writer
                self._prepare_sqlite(self._writer, immediate=True)
            else:
                make_private_dirs(os.path.dirname(os.path.abspath(path)))
                _keep_private(path)
                self.path = path
                args = {"check_same_thread": False, "timeout": 30}
                self._writer = sa.create_engine(real, connect_args=args, pool_size=8, max_overflow=16)
                self._reader = sa.create_engine(real, connect_args=args, pool_size=8, max_overflow=16)
                self._prepare_sqlite(self._writer, immediate=True)
                self._prepare_sqlite(self._reader, immediate=False)
        else:
            self._writer = sa.create_engine(real, pool_size=8, max_overflow=16, pool_pre_ping=True)
            self._reader = self._writer
        self.migrate()

    @staticmethod
    def _prepare_sqlite(engine: sa.Engine, immediate: bool) -> None:
        @sa.event.listens_for(engine, "connect")
        def _connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    # ---- transactions ------------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (serialised against every other writer, in any process)."""
        current = getattr(self._local, "write", None)
        if current is not None:
            yield current
            return
        if self._memory_lock is not None and getattr(self._local, "read", None) is not None:
            # an in-memory store has one connection: a nested write joins the open read
            yield self._local.read
            return
        lock = self._memory_lock
        if lock:
            lock.acquire()
        try:
            self._local.after_commit = []
            self._local.on_rollback = []
            try:
                with self._writer.begin() as conn:
                    if self.dialect == "postgresql":
                        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7261000)")
                    self._local.write = conn
                    try:
                        yield conn
                    finally:
                        self._local.write = None
            except BaseException:
                undo, self._local.on_rollback = self._local.on_rollback, []
                for hook in undo:
                    hook()
                raise
            hooks = self._local.after_commit
            self._local.after_commit = []
            for hook in hooks:
                hook()
        finally:
            self._local.after_commit = []
            self._local.on_rollback = []
            if lock:
                lock.release()

    def after_commit(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the current write transaction commits (e.g. cache invalidation)."""
        if getattr(self._local, "write", None) is None:
            fn()
        else:
            self._local.after_commit.append(fn)

    def on_rollback(self, fn: Callable[[], None]) -> None:
        """Run `fn` if the current write transaction rolls back (e.g. give back what it took)."""
        if getattr(self._local, "write", None) is not None:
            self._local.on_rollback.append(fn)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent read (joins the thread's open transaction if there is one)."""
        current = getattr(self._local, "write", None) or getattr(self._local, "read", None)
        if current is not None:
            yield current
            return
        lock = self._memory_lock
        if lock:
            lock.acquire()
        try:
            with self._reader.begin() as conn:
                self._local.read = conn
                try:
                    yield conn
                finally:
                    self._local.read = None
        finally:
            if lock:
                lock.release()

    @property
    def in_write(self) -> bool:
        return getattr(self._local, "write", None) is not None

    # ---- migrations --------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        applied_now = []
        with self.write() as conn:
            migrations_table.create(conn, checkfirst=True)
            done = {r[0] for r in conn.execute(sa.select(migrations_table.c.name))}
        for name in sorted(self._migrations):
            if name in done:
                continue
            with self.write() as conn:
                # re-check inside the lock: another process may have applied it meanwhile
                if conn.execute(sa.select(migrations_table.c.name).where(
                        migrations_table.c.name == name)).first():
                    continue
                self._migrations[name](conn)
                conn.execute(migrations_table.insert().values(
                    name=name, applied_at=datetime.now(timezone.utc).timestamp()))
                applied_now.append(name)
        return applied_now

    def applied_migrations(self) -> list[str]:
        with self.read() as conn:
            return sorted(r[0] for r in conn.execute(sa.select(migrations_table.c.name)))

    def dispose(self) -> None:
        self._writer.dispose()
        if self._reader is not self._writer:
            self._reader.dispose()


def open_store(url: str, migrations: dict) -> Store:
    return Store(url, migrations)
