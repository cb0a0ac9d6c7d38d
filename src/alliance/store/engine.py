"""The engine factory: SQLite by default (WAL, foreign keys, durable commits), PostgreSQL by URL.

Never called at import time: the CLI and the web app factory build one from validated settings,
so tests can hold a SQLite and a PostgreSQL engine in one process.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from alliance.files import private_file

# Execution option for a connection that only reads (`conn.execution_options(**{READ_ONLY: True})`).
READ_ONLY = "alliance_read_only"


def make_engine(database_url: str, *, busy_timeout_ms: int = 5000, echo: bool = False) -> Engine:
    """Build an engine for `database_url`, creating the SQLite file's folder when needed."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:" and not url.query.get("uri"):
            # Created 0600 before SQLite opens it; SQLite gives -wal and -shm the same mode.
            private_file(Path(url.database).expanduser())
        engine = create_engine(url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000})
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself so transactions are real (pysqlite's legacy mode
        # would otherwise defer BEGIN and break SAVEPOINT semantics).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        # FULL: a commit that returned has reached the disk, even across power loss in WAL mode.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            # A reader needs no write lock: in WAL mode it reads one snapshot and never waits.
            conn.exec_driver_sql("BEGIN")
            return
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
        # instead of failing with "database is locked" on upgrade from a read lock.
        conn.exec_driver_sql("BEGIN IMMEDIATE")
