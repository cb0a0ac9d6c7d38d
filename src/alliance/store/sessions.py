"""Sessions: numbered in order within an episode, dated, with attendance."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, select, update

from alliance.domain import Attendance, DomainError, Session, check_next_session
from alliance.store import audit
from alliance.store.access import load_for_write, open_for_entry
from alliance.store.base import (
    Actor,
    atomic,
    count_rows,
    insert_id,
    row_by_id,
    update_by_id,
    utc_now,
)
from alliance.store.tables import administrations, sessions


def episode_sessions(conn: Connection, episode_id: int) -> list[Session]:
    rows = conn.execute(
        select(sessions.c.number, sessions.c.held_on, sessions.c.attendance)
        .where(sessions.c.episode_id == episode_id)
        .order_by(sessions.c.number)
    )
    return [Session(r.number, r.held_on, Attendance(r.attendance)) for r in rows]


def session_number(conn: Connection, episode_id: int, session_id: int) -> int | None:
    """The number of session `session_id` when it is one of the episode's sessions, else None."""
    number = conn.execute(
        select(sessions.c.number).where(
            sessions.c.id == session_id, sessions.c.episode_id == episode_id
        )
    ).scalar_one_or_none()
    return None if number is None else int(number)


def record_session(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    held_on: date,
    *,
    attendance: Attendance | str = Attendance.ATTENDED,
    number: int | None = None,
    now: datetime | None = None,
) -> int:
    """Record the next session (number = last + 1 unless given, and then it must be that)."""
    now = now or utc_now()
    kind = Attendance.parse(attendance)
    with atomic(conn):
        episode, _ = load_for_write(conn, actor, episode_id)
        checked = check_next_session(
            episode, episode_sessions(conn, episode_id), number, held_on, now
        )
        session_id = insert_id(
            conn,
            sessions,
            episode_id=episode_id,
            number=checked,
            held_on=held_on,
            attendance=kind.value,
            created_by=actor.user_id,
            created_at=now,
        )
        audit.record(conn, actor, "create", "session", session_id, now=now)
        if kind == Attendance.ATTENDED:
            _place_forms_between_sessions(conn, actor, episode_id, session_id, held_on, now)
    return session_id


def _place_forms_between_sessions(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    session_id: int,
    held_on: date,
    now: datetime,
) -> None:
    """Forms answered through a link made for no session (the API's session_id left out) are
    charted at the next attended session on or after the day they were answered, as measures
    given before a session are; each placement is audited."""
    a = administrations
    day_after = datetime.combine(held_on + timedelta(days=1), time(), UTC)
    waiting = (
        conn.execute(
            select(a.c.id).where(
                a.c.episode_id == episode_id,
                a.c.session_id.is_(None),
                a.c.created_at < day_after,
            )
        )
        .scalars()
        .all()
    )
    if waiting:
        conn.execute(update(a).where(a.c.id.in_(waiting)).values(session_id=session_id))
    for administration_id in waiting:
        audit.record(conn, actor, "place", "administration", administration_id, now=now)


def set_attendance(
    conn: Connection,
    actor: Actor,
    session_id: int,
    attendance: Attendance | str,
    *,
    now: datetime | None = None,
) -> Attendance:
    """Correct a session's attendance (attended, cancelled, did not attend); audited.

    A session with measures stored for it was attended: its scores are points on the client's
    trajectory, so it cannot become a cancellation or a no-show while they are there.
    """
    now = now or utc_now()
    kind = Attendance.parse(attendance)
    with atomic(conn):
        row = row_by_id(conn, sessions, "session", session_id)
        open_for_entry(conn, actor, row["episode_id"], "session")
        if kind != Attendance.ATTENDED:
            scored = count_rows(conn, administrations, administrations.c.session_id == session_id)
            if scored:
                raise DomainError(
                    "session.attendance",
                    kind.value,
                    "a session with measures recorded for it was attended",
                    detail=f"session {row['number']} has {scored} measure(s)",
                )
        if kind.value != row["attendance"]:
            update_by_id(conn, sessions, session_id, attendance=kind.value)
            audit.record(conn, actor, "update", "session", session_id, now=now)
    return kind
