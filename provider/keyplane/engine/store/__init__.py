"""The store: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL (shared deployments).

Services use SQLAlchemy Core against the tables they declare in their own `tables.py`; this package
owns connections, transactions and applying the named, versioned migrations (services.py lists
the table modules, each names its migrations). Every state change runs in one
write transaction (`Store.write()`), audit record included. Write transactions are serialised
(SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock), so services can read,
decide and write without lost updates, on one server or many.
"""
from .base import Store, add_column, create_tables, drop_columns, metadata, open_store  # noqa: F401
