"""The engine factory: SQLite by default (WAL, foreign keys, durable commits), PostgreSQL by URL.

Never called at import time: the CLI and the web app factory build one from validated settings,
so tests can hold a SQLite and a PostgreSQL engine in one process.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from alliance.files import private_file

# Execution option for a connection that only reads (`conn.execution_options(**{READ_ONLY: True})`).
READ_ONLY = "alliance_read_only"
# Execution option: a list that collects the audit events of a read, to be written afterwards
# through the writer (alliance.store.audit.record appends to it instead of inserting).
AUDIT_LATER = "alliance_audit_later"
# How long a writer of this process waits for the others before it gives up (DatabaseBusyError).
WRITE_WAIT_S = 60.0
_write_locks: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


class DatabaseBusyError(RuntimeError):
    """The database stayed busy with other writes for longer than the wait allowed.

    Not an `AllianceError`: nothing the caller sent is wrong; the web app answers 503 with
    Retry-After, and nothing was written.
    """


def write_lock(engine: Engine) -> threading.Lock:
    """The engine's one in-process write lock: every write transaction of this process holds it.

    SQLite lets one writer in at a time anyway; queueing this process's writers here means they
    never spin on SQLite's busy handler against each other (it retries by sleeping, unfairly, and
    gives up after busy_timeout). Writers in other processes still queue on busy_timeout.
    """
    with _locks_lock:
        lock = _write_locks.get(engine)
        if lock is None:
            lock = _write_locks[engine] = threading.Lock()
        return lock


@contextmanager
def writing(engine: Engine, *, wait_s: float = WRITE_WAIT_S) -> Iterator[Connection]:
    """One write transaction: BEGIN IMMEDIATE on SQLite, once this process's write lock is held.

    PostgreSQL takes row locks as it goes and needs no process lock.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    lock = write_lock(engine)
    if not lock.acquire(timeout=wait_s):
        raise DatabaseBusyError(f"the database stayed busy for over {wait_s:.0f} seconds")
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        lock.release()


@contextmanager
def reading(engine: Engine, audit_later: list[Any] | None = None) -> Iterator[Connection]:
    """One read transaction that never takes the write lock (a plain BEGIN on SQLite).

    With `audit_later`, audit events recorded on it are collected there instead of inserted:
    the caller writes them once the read is over (alliance.store.audit.record_later).
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if audit_later is not None:
        options[AUDIT_LATER] = audit_later
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


def make_engine(database_url: str, *, busy_timeout_ms: int = 30000, echo: bool = False) -> Engine:
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
