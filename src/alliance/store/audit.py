"""The audit log: every write and read of clinical data, hash-chained so edits show.

Each event's hash is sha256 over its canonical fields and the previous event's hash, so changing,
removing or reordering any past row breaks every hash after it. Rows hold ids and action names
only, never client content.

A write to a clinical row (an administration, a note, a session, …) also keeps `row_hash`, the
sha256 of the row as written (`canonical_row`), inside the chained fields. `changed_rows`
re-hashes each row against the newest event for it, so an edit made behind the program's back
(a changed total, a rewritten note) or a deleted row is named. Deleting the newest events
leaves a shorter chain that still checks out: compare its head with one noted earlier
(`alliance backup` and `alliance audit verify` print it; `verify --expect-head`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, Table, func, insert, select, text

from alliance.store import tables as t
from alliance.store.base import Actor, as_utc, utc_now
from alliance.store.engine import AUDIT_LATER
from alliance.store.tables import audit_events

GENESIS = "0" * 64
AFTER_RESET = "_after_reset"
# Any fixed number: PostgreSQL transactions that append to the chain take this lock in turn.
_PG_LOCK_KEY = 7_241_905


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    actor: int | None
    action: str
    object_type: str
    object_id: str | None
    ip: str | None
    prev_hash: str
    hash: str
    row_hash: str | None = None


# The clinical rows whose writes carry a row hash, by the audit's object type.
ROW_TABLES: dict[str, Table] = {
    "administration": t.administrations,
    "relational_note": t.relational_notes,
    "boundary_event": t.boundary_events,
    "worksheet": t.worksheets,
    "session": t.sessions,
    "goal": t.goals,
    "task": t.tasks,
}
# Actions that write nothing to the object they name.
NOT_WRITES = frozenset({"read", "break_glass", "export"})


def canonical(
    seq: int,
    at: datetime,
    actor: int | None,
    action: str,
    object_type: str,
    object_id: str | None,
    ip: str | None,
    prev_hash: str,
    row_hash: str | None = None,
) -> bytes:
    """The exact bytes that are hashed: a JSON array, UTC time to the microsecond.

    The row hash is appended only when there is one, so events written before rows were
    hashed keep the hashes they were chained with.
    """
    stamp = as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = [seq, stamp, actor, action, object_type, object_id, ip, prev_hash]
    if row_hash is not None:
        fields.append(row_hash)
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_row(row: RowMapping) -> bytes:
    """A row as JSON: every column by name, sorted, UTC times to the microsecond."""
    fields = {name: _plain(value) for name, value in row.items()}
    return json.dumps(
        fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str
    ).encode("ascii")


def row_digest(row: RowMapping) -> str:
    return hashlib.sha256(canonical_row(row)).hexdigest()


def _written_row_hash(
    conn: Connection, action: str, object_type: str, object_id: str | None
) -> str | None:
    """The hash of the row this event wrote, read back inside the same transaction."""
    table = ROW_TABLES.get(object_type)
    if table is None or action in NOT_WRITES or object_id is None or not object_id.isdigit():
        return None
    row = conn.execute(select(table).where(table.c.id == int(object_id))).mappings().first()
    return None if row is None else row_digest(row)


@dataclass(frozen=True)
class PendingEvent:
    """An event recorded during a read, appended to the chain once the read is over."""

    actor: Actor
    action: str
    object_type: str
    object_id: object
    at: datetime


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object = None,
    *,
    now: datetime | None = None,
) -> AuditEvent | None:
    """Append one event to the chain inside the caller's transaction.

    On a read connection that collects its events (alliance.store.engine.reading with
    `audit_later`) the event is kept for `record_pending` instead, and None is returned: a read
    then never takes the write lock, and its events are written, in order, right after it.
    """
    later = conn.get_execution_options().get(AUDIT_LATER)
    if later is not None:
        later.append(PendingEvent(actor, action, object_type, object_id, now or utc_now()))
        return None
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    at = as_utc(now or utc_now()).astimezone(UTC)
    oid = None if object_id is None else str(object_id)
    # The row is judged by what the event does (a read hashes nothing), before any mark.
    row_hash = _written_row_hash(conn, action, object_type, oid)
    if actor.after_reset:
        # The account's password was reset by an admin, who knew the one-time password: every
        # event of such a sign-in says so, so the reads are not taken for the owner's own.
        action = f"{action}{AFTER_RESET}"
    last = conn.execute(
        select(audit_events.c.seq, audit_events.c.hash).where(
            audit_events.c.seq == select(func.max(audit_events.c.seq)).scalar_subquery()
        )
    ).first()
    seq, prev_hash = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
    digest = hashlib.sha256(
        canonical(seq, at, actor.user_id, action, object_type, oid, actor.ip, prev_hash, row_hash)
    ).hexdigest()
    event = AuditEvent(
        seq, at, actor.user_id, action, object_type, oid, actor.ip, prev_hash, digest, row_hash
    )
    # The event's fields are the table's columns, one for one.
    conn.execute(insert(audit_events).values(**asdict(event)))
    return event


def record_pending(conn: Connection, pending: list[PendingEvent]) -> None:
    """Append the events a read collected, in the order it recorded them."""
    for event in pending:
        record(conn, event.actor, event.action, event.object_type, event.object_id, now=event.at)


def events(conn: Connection, *, after_seq: int = 0, limit: int | None = None) -> list[AuditEvent]:
    query = select(audit_events).where(audit_events.c.seq > after_seq).order_by(audit_events.c.seq)
    if limit is not None:
        query = query.limit(limit)
    return [_event(row) for row in conn.execute(query).mappings()]


def verify(conn: Connection) -> int | None:
    """Walk the chain; return the seq of the first event that does not check out, else None."""
    prev_hash, expected_seq = GENESIS, 1
    for event in events(conn):
        fields = (
            event.seq,
            event.at,
            event.actor,
            event.action,
            event.object_type,
            event.object_id,
            event.ip,
            event.prev_hash,
            event.row_hash,
        )
        if (
            event.seq != expected_seq
            or event.prev_hash != prev_hash
            or hashlib.sha256(canonical(*fields)).hexdigest() != event.hash
        ):
            return event.seq
        prev_hash, expected_seq = event.hash, event.seq + 1
    return None


def head(conn: Connection) -> str | None:
    """The newest event's hash: note it, and a later chain without it has lost events."""
    return conn.execute(
        select(audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).scalar_one_or_none()


def contains(conn: Connection, event_hash: str) -> bool:
    found = conn.execute(select(audit_events.c.seq).where(audit_events.c.hash == event_hash))
    return found.first() is not None


@dataclass(frozen=True)
class RowCheck:
    checked: int
    changed: list[str]  # "administration:12 changed" or "relational_note:3 removed"


def changed_rows(conn: Connection) -> RowCheck:
    """Re-hash each clinical row against the newest event that wrote it; name those that differ."""
    newest: dict[tuple[str, str], str] = {}
    query = (
        select(audit_events.c.object_type, audit_events.c.object_id, audit_events.c.row_hash)
        .where(audit_events.c.row_hash.is_not(None))
        .order_by(audit_events.c.seq)
    )
    for object_type, object_id, row_hash in conn.execute(query):
        newest[object_type, object_id] = row_hash
    changed: list[str] = []
    for object_type, table in ROW_TABLES.items():
        expected = {oid: h for (kind, oid), h in newest.items() if kind == object_type}
        if not expected:
            continue
        current: dict[str, Any] = {
            str(row["id"]): row_digest(row) for row in conn.execute(select(table)).mappings()
        }
        for object_id, row_hash in sorted(expected.items(), key=lambda item: int(item[0])):
            if object_id not in current:
                changed.append(f"{object_type}:{object_id} removed")
            elif current[object_id] != row_hash:
                changed.append(f"{object_type}:{object_id} changed")
    return RowCheck(len(newest), changed)


def search(
    conn: Connection,
    *,
    actor: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
) -> list[AuditEvent]:
    """Events matching every filter given, oldest first."""
    query = select(audit_events).order_by(audit_events.c.seq)
    if actor is not None:
        query = query.where(audit_events.c.actor == actor)
    if object_type is not None:
        query = query.where(audit_events.c.object_type == object_type)
    if object_id is not None:
        query = query.where(audit_events.c.object_id == object_id)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    if since is not None:
        query = query.where(audit_events.c.at >= as_utc(since))
    if limit is not None:
        query = query.limit(limit)
    return [_event(row) for row in conn.execute(query).mappings()]


def _event(row: RowMapping) -> AuditEvent:
    return AuditEvent(**{**row, "at": as_utc(row["at"])})
