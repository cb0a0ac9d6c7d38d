"""Online backup and restore of a SQLite database through SQLite's own backup API.

The backup API copies pages under a read transaction, so a running server can keep writing and
the copy is still one consistent snapshot. PostgreSQL has its own tools (pg_dump, pg_restore);
see docs/security.md. Backups and restored databases are created 0600 (alliance.files).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from alliance.errors import AllianceError
from alliance.files import private_file
from alliance.store import audit

PAGES_PER_STEP = 256


class BackupError(AllianceError, ValueError):
    """The backup or restore cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    audit_events: int
    audit_first_bad: int | None
    audit_head: str | None = None


def sqlite_path(database_url: str) -> Path:
    """The file behind a SQLite URL, or BackupError for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"backup: {url.get_backend_name()} databases are backed up with their own tools "
            "(pg_dump / pg_restore for PostgreSQL); see docs/security.md"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("backup: an in-memory database has no file to back up")
    return Path(url.database).expanduser()


def _check(path: Path) -> tuple[int, int | None, str | None]:
    """Integrity check, then the audit chain; returns (events, first bad seq, head hash)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        if result is None or result[0] != "ok":
            raise BackupError(f"{path.name}: SQLite integrity check failed ({result})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "audit_events" not in tables:
        raise BackupError(f"{path.name}: not an Alliance database (no audit_events table)")
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            count = len(audit.events(conn))
            return count, audit.verify(conn), audit.head(conn)
    finally:
        engine.dispose()


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    source.backup(target, pages=PAGES_PER_STEP)


def backup(database_url: str, destination: Path, *, overwrite: bool = False) -> BackupResult:
    """Write a consistent copy of the live database to `destination` (a new file)."""
    source_path = sqlite_path(database_url)
    if not source_path.exists():
        raise BackupError(f"backup: {source_path.name} does not exist; nothing to back up")
    destination = destination.expanduser()
    if destination.exists() and not overwrite:
        raise BackupError(f"backup: {destination} already exists; choose a new file name")
    if destination.resolve() == source_path.resolve():
        raise BackupError("backup: the destination is the database itself; choose another file")
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    private_file(partial)  # 0600 (and 0700 folders) before a page of the database is in it
    source = sqlite3.connect(str(source_path), timeout=30)
    try:
        target = sqlite3.connect(str(partial))
        try:
            _copy(source, target)
            # A single self-contained file: no -wal beside the backup.
            target.execute("PRAGMA journal_mode=DELETE")
        finally:
            target.close()
    finally:
        source.close()
    with open(partial, "rb+") as handle:
        os.fsync(handle.fileno())
    events, bad, head = _check(partial)
    os.replace(partial, destination)
    return BackupResult(destination, destination.stat().st_size, events, bad, head)


def restore(
    source: Path, database_url: str, *, overwrite: bool = False, engine: Engine | None = None
) -> BackupResult:
    """Copy a backup file into the database at `database_url` after checking it."""
    source = source.expanduser()
    if not source.is_file():
        raise BackupError(f"restore: {source} is not a file")
    try:
        _, bad, _ = _check(source)
    except sqlite3.DatabaseError:
        raise BackupError(f"restore: {source.name} is not a SQLite database") from None
    if bad is not None:
        raise BackupError(
            f"restore: the audit chain in {source.name} breaks at seq {bad}; not restored"
        )
    target_path = sqlite_path(database_url)
    if target_path.exists() and target_path.stat().st_size > 0 and not overwrite:
        raise BackupError(
            f"restore: {target_path.name} already holds a database; restore into a new path "
            "or pass --force to replace it"
        )
    if engine is not None:
        engine.dispose()
    private_file(target_path)
    backup_conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(str(target_path), timeout=30)
        try:
            _copy(backup_conn, target)
            target.execute("PRAGMA journal_mode=WAL")
        finally:
            target.close()
    finally:
        backup_conn.close()
    events_after, bad_after, head = _check(target_path)
    return BackupResult(target_path, target_path.stat().st_size, events_after, bad_after, head)
