"""The audit log: every write and read of clinical data, hash-chained so edits show.

Each event's hash is sha256 over its canonical fields and the previous event's hash, so changing,
removing or reordering any past row breaks every hash after it. Rows hold ids and action names
only, never client content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, RowMapping, func, insert, select, text

from alliance.store.base import Actor, as_utc, utc_now
from alliance.store.engine import AUDIT_LATER
from alliance.store.tables import audit_events

GENESIS = "0" * 64
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


def canonical(
    seq: int,
    at: datetime,
    actor: int | None,
    action: str,
    object_type: str,
    object_id: str | None,
    ip: str | None,
    prev_hash: str,
) -> bytes:
    """The exact bytes that are hashed: a JSON array, UTC time to the microsecond."""
    stamp = as_utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields = [seq, stamp, actor, action, object_type, object_id, ip, prev_hash]
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=True).encode("ascii")


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
    last = conn.execute(
        select(audit_events.c.seq, audit_events.c.hash).where(
            audit_events.c.seq == select(func.max(audit_events.c.seq)).scalar_subquery()
        )
    ).first()
    seq, prev_hash = (1, GENESIS) if last is None else (last.seq + 1, last.hash)
    oid = None if object_id is None else str(object_id)
    digest = hashlib.sha256(
        canonical(seq, at, actor.user_id, action, object_type, oid, actor.ip, prev_hash)
    ).hexdigest()
    event = AuditEvent(
        seq, at, actor.user_id, action, object_type, oid, actor.ip, prev_hash, digest
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
        )
        if (
            event.seq != expected_seq
            or event.prev_hash != prev_hash
            or hashlib.sha256(canonical(*fields)).hexdigest() != event.hash
        ):
            return event.seq
        prev_hash, expected_seq = event.hash, event.seq + 1
    return None


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
