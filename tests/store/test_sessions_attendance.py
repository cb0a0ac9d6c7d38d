"""Correcting a session's attendance: checked, audited, all-or-nothing, on both engines."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine, select

from alliance.domain import Attendance, DomainError
from alliance.store.administrations import record_administration
from alliance.store.base import AccessDeniedError, NotFoundError
from alliance.store.episodes import close_episode
from alliance.store.sessions import record_session, set_attendance
from alliance.store.tables import audit_events, sessions

from .conftest import NOW, Clinic, open_alice_episode, row_counts

SRS = {"1": 9.0, "2": 9.0, "3": 9.0, "4": 9.0}


@pytest.fixture
def session_id(engine: Engine, clinic: Clinic) -> int:
    with engine.begin() as conn:
        episode = open_alice_episode(conn, clinic, consent=False)
        return record_session(conn, clinic.alice, episode, date(2026, 1, 12), now=NOW)


def attendance_of(engine: Engine, session_id: int) -> str:
    with engine.connect() as conn:
        value = conn.execute(
            select(sessions.c.attendance).where(sessions.c.id == session_id)
        ).scalar_one()
    return str(value)


def session_audits(engine: Engine, session_id: int) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(audit_events.c.action)
            .where(
                audit_events.c.object_type == "session",
                audit_events.c.object_id == str(session_id),
            )
            .order_by(audit_events.c.seq)
        )
        return [r.action for r in rows]


def test_it_changes_attendance_and_audits_it(
    engine: Engine, clinic: Clinic, session_id: int
) -> None:
    with engine.begin() as conn:
        kind = set_attendance(conn, clinic.alice, session_id, "no_show", now=NOW)
    assert kind == Attendance.NO_SHOW
    assert attendance_of(engine, session_id) == "no_show"
    assert session_audits(engine, session_id) == ["create", "update"]
    with engine.begin() as conn:
        set_attendance(conn, clinic.alice, session_id, Attendance.ATTENDED, now=NOW)
    assert attendance_of(engine, session_id) == "attended"
    assert session_audits(engine, session_id) == ["create", "update", "update"]


def test_it_records_nothing_when_the_attendance_is_unchanged(
    engine: Engine, clinic: Clinic, session_id: int
) -> None:
    with engine.begin() as conn:
        set_attendance(conn, clinic.alice, session_id, "attended", now=NOW)
    assert session_audits(engine, session_id) == ["create"]


@pytest.mark.parametrize(
    ("who", "value", "error"),
    [
        ("alice", "maybe", DomainError),  # not an attendance
        ("bob", "cancelled", AccessDeniedError),  # not the treating therapist
        ("sam", "cancelled", AccessDeniedError),  # a supervisor reads, never writes
    ],
)
def test_it_refuses_bad_values_and_other_users_and_changes_nothing(
    engine: Engine, clinic: Clinic, session_id: int, who: str, value: str, error: type[Exception]
) -> None:
    actor = getattr(clinic, who)
    with engine.connect() as conn:
        before = row_counts(conn)
    with pytest.raises(error), engine.begin() as conn:
        set_attendance(conn, actor, session_id, value, now=NOW)
    with engine.connect() as conn:
        assert row_counts(conn) == before
    assert attendance_of(engine, session_id) == "attended"


def test_it_names_the_allowed_values(engine: Engine, clinic: Clinic, session_id: int) -> None:
    with pytest.raises(DomainError) as refused, engine.begin() as conn:
        set_attendance(conn, clinic.alice, session_id, "maybe", now=NOW)
    assert refused.value.field == "session.attendance"
    assert "attended, cancelled, no_show" in str(refused.value)


def test_it_refuses_an_unknown_session(engine: Engine, clinic: Clinic) -> None:
    with pytest.raises(NotFoundError), engine.begin() as conn:
        set_attendance(conn, clinic.alice, 999_999, "cancelled", now=NOW)


def test_it_keeps_a_scored_session_attended(
    engine: Engine, clinic: Clinic, session_id: int
) -> None:
    with engine.begin() as conn:
        episode = conn.execute(
            select(sessions.c.episode_id).where(sessions.c.id == session_id)
        ).scalar_one()
        record_administration(conn, clinic.alice, episode, "srs", SRS, session_id=session_id)
    with engine.connect() as conn:
        before = row_counts(conn)
    for value in ("cancelled", "no_show"):
        with pytest.raises(DomainError) as refused, engine.begin() as conn:
            set_attendance(conn, clinic.alice, session_id, value, now=NOW)
        assert "measures recorded" in refused.value.rule
    with engine.connect() as conn:
        assert row_counts(conn) == before
    assert attendance_of(engine, session_id) == "attended"


def test_it_refuses_a_change_on_a_closed_episode(
    engine: Engine, clinic: Clinic, session_id: int
) -> None:
    with engine.begin() as conn:
        episode = conn.execute(
            select(sessions.c.episode_id).where(sessions.c.id == session_id)
        ).scalar_one()
        close_episode(conn, clinic.alice, episode, date(2026, 2, 1), reason="planned", now=NOW)
    with pytest.raises(DomainError) as refused, engine.begin() as conn:
        set_attendance(conn, clinic.alice, session_id, "cancelled", now=NOW)
    assert refused.value.rule == "the episode is closed"
    assert attendance_of(engine, session_id) == "attended"


def test_it_rolls_back_with_the_callers_transaction(
    engine: Engine, clinic: Clinic, session_id: int
) -> None:
    """Inside a caller's transaction it is a savepoint: the caller's failure undoes it too."""

    def change_then_fail() -> None:
        with engine.begin() as conn:
            set_attendance(conn, clinic.alice, session_id, "cancelled", now=NOW)
            raise RuntimeError("the caller fails after the change")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert attendance_of(engine, session_id) == "attended"
    assert session_audits(engine, session_id) == ["create"]
