"""Episodes through the store on SQLite and PostgreSQL: rules applied, nothing half-written."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import Connection, Engine, select

from alliance.domain import ClosingReason, DomainError, Stage
from alliance.store import audit
from alliance.store.base import AccessDeniedError
from alliance.store.episodes import close_episode, move_stage, open_episode, record_consent
from alliance.store.goals import add_goal, add_task
from alliance.store.sessions import record_session
from alliance.store.tables import episodes, stage_transitions
from alliance.store.worksheets import add_worksheet

from .conftest import NOW, OPENED, Clinic, open_alice_episode, row_counts

PLAN = {
    "warning_signs": ["sleeping badly"],
    "triggers": ["deadlines"],
    "coping_steps": ["walk, then call"],
    "who_to_call": ["sister"],
}


def _open(engine: Engine, clinic: Clinic, consent: bool = True) -> int:
    with engine.begin() as conn:
        return open_alice_episode(conn, clinic, consent=consent)


def test_it_walks_an_episode_through_all_four_stages(engine: Engine, clinic: Clinic) -> None:
    episode_id = _open(engine, clinic)
    with engine.begin() as conn:
        goal = add_goal(conn, clinic.alice, episode_id, "Sleep through the night", now=NOW)
        add_task(conn, clinic.alice, goal, "Keep a sleep diary", kind="homework", now=NOW)
        record_session(conn, clinic.alice, episode_id, OPENED, now=NOW)
        for stage in ("process", "change", "termination"):
            move_stage(conn, clinic.alice, episode_id, stage, now=NOW)
        add_worksheet(conn, clinic.alice, episode_id, "relapse_prevention", PLAN, now=NOW)
        result = close_episode(
            conn, clinic.alice, episode_id, NOW.date(), reason="planned", now=NOW
        )
    assert result.warnings == []
    with engine.connect() as conn:
        rows = conn.execute(
            select(stage_transitions.c.from_stage, stage_transitions.c.to_stage)
            .where(stage_transitions.c.episode_id == episode_id)
            .order_by(stage_transitions.c.id)
        ).all()
        assert [tuple(r) for r in rows] == [
            (None, "commitment"),
            ("commitment", "process"),
            ("process", "change"),
            ("change", "termination"),
        ]
        assert audit.verify(conn) is None


@pytest.mark.parametrize(
    ("consent", "goal", "message"),
    [
        (
            False,
            True,
            "stage: cannot move from commitment to process: "
            "entering process needs recorded consent",
        ),
        (
            True,
            False,
            "stage: cannot move from commitment to process: "
            "entering process needs at least one agreed goal",
        ),
    ],
)
def test_it_refuses_process_without_consent_or_goal_and_writes_nothing(
    engine: Engine, clinic: Clinic, consent: bool, goal: bool, message: str
) -> None:
    episode_id = _open(engine, clinic, consent=consent)
    if goal:
        with engine.begin() as conn:
            add_goal(conn, clinic.alice, episode_id, "Go back to work", now=NOW)
    with engine.connect() as conn:
        before = row_counts(conn)
    with engine.begin() as conn, pytest.raises(DomainError) as refused:
        move_stage(conn, clinic.alice, episode_id, Stage.PROCESS, now=NOW)
    assert str(refused.value) == message
    assert refused.value.field == "stage"
    with engine.connect() as conn:
        assert row_counts(conn) == before
        assert conn.execute(select(episodes.c.stage)).scalar_one() == "commitment"


def test_it_records_consent_later_then_allows_process(engine: Engine, clinic: Clinic) -> None:
    episode_id = _open(engine, clinic, consent=False)
    with engine.begin() as conn:
        add_goal(conn, clinic.alice, episode_id, "Go back to work", now=NOW)
        record_consent(conn, clinic.alice, episode_id, OPENED + timedelta(days=7), now=NOW)
        assert move_stage(conn, clinic.alice, episode_id, "process", now=NOW) == Stage.PROCESS


@pytest.mark.parametrize(
    ("action", "field", "rule"),
    [
        (
            "unknown_stage",
            "stage",
            "unknown stage; one of commitment, process, change, termination",
        ),
        ("skip", "stage", "stages move forward one step at a time"),
        ("session_gap", "session.number", "sessions are numbered in order; the next is 1"),
        ("future_session", "session.held_on", "must not be after today (2026-03-02)"),
        ("empty_goal", "goal.text", "must not be empty"),
        ("long_goal", "goal.text", "at most 500 characters"),
        ("no_close_date", "closed_on", "closing needs a closing date"),
        (
            "no_close_reason",
            "closing_reason",
            "closing needs a reason, one of planned, dropout, referred, other",
        ),
        ("unknown_close_reason", "closing_reason", "one of planned, dropout, referred, other"),
    ],
)
def test_it_refuses_bad_input_naming_field_and_rule_and_writes_nothing(
    engine: Engine, clinic: Clinic, action: str, field: str, rule: str
) -> None:
    episode_id = _open(engine, clinic)
    with engine.connect() as conn:
        before = row_counts(conn)
    actions: dict[str, Callable[[Connection], object]] = {
        "unknown_stage": lambda c: move_stage(c, clinic.alice, episode_id, "recovery", now=NOW),
        "skip": lambda c: move_stage(c, clinic.alice, episode_id, "change", now=NOW),
        "session_gap": lambda c: record_session(
            c, clinic.alice, episode_id, OPENED, number=2, now=NOW
        ),
        "future_session": lambda c: record_session(
            c, clinic.alice, episode_id, NOW.date() + timedelta(days=1), now=NOW
        ),
        "empty_goal": lambda c: add_goal(c, clinic.alice, episode_id, "   ", now=NOW),
        "long_goal": lambda c: add_goal(c, clinic.alice, episode_id, "x" * 501, now=NOW),
        "no_close_date": lambda c: close_episode(
            c, clinic.alice, episode_id, None, reason="planned", now=NOW
        ),
        "no_close_reason": lambda c: close_episode(
            c, clinic.alice, episode_id, NOW.date(), reason=None, now=NOW
        ),
        "unknown_close_reason": lambda c: close_episode(
            c, clinic.alice, episode_id, NOW.date(), reason="quit", now=NOW
        ),
    }
    with engine.begin() as conn, pytest.raises(DomainError) as refused:
        actions[action](conn)
    assert refused.value.field == field
    assert refused.value.rule == rule
    assert str(refused.value).startswith(f"{field}: ")
    assert str(refused.value).endswith(rule)
    assert "x" * 20 not in str(refused.value)  # the client's words never reach the message
    with engine.connect() as conn:
        assert row_counts(conn) == before
        closing = conn.execute(
            select(episodes.c.closed_on, episodes.c.closing_reason).where(
                episodes.c.id == episode_id
            )
        ).one()
        assert tuple(closing) == (None, None)


@pytest.mark.parametrize("reason", ["planned", "dropout", "referred", "other"])
def test_it_stores_why_an_episode_ended(engine: Engine, clinic: Clinic, reason: str) -> None:
    episode_id = _open(engine, clinic)
    with engine.connect() as conn:
        audited = row_counts(conn)["audit_events"]
    with engine.begin() as conn:
        result = close_episode(conn, clinic.alice, episode_id, NOW.date(), reason=reason, now=NOW)
    assert result.reason == ClosingReason(reason)
    with engine.connect() as conn:
        stored = conn.execute(
            select(episodes.c.closed_on, episodes.c.closing_reason).where(
                episodes.c.id == episode_id
            )
        ).one()
        assert tuple(stored) == (NOW.date(), reason)
        assert row_counts(conn)["audit_events"] == audited + 1
        assert audit.verify(conn) is None


def test_it_warns_but_closes_without_a_relapse_plan(engine: Engine, clinic: Clinic) -> None:
    episode_id = _open(engine, clinic)
    with engine.begin() as conn:
        result = close_episode(
            conn, clinic.alice, episode_id, NOW.date(), reason="dropout", now=NOW
        )
    assert len(result.warnings) == 1
    assert "relapse-prevention plan" in result.warnings[0]
    with engine.begin() as conn, pytest.raises(DomainError, match="the episode is closed"):
        record_session(conn, clinic.alice, episode_id, NOW.date(), now=NOW)


def test_it_lets_only_the_treating_therapist_write(engine: Engine, clinic: Clinic) -> None:
    episode_id = _open(engine, clinic)
    with engine.connect() as conn:
        before = row_counts(conn)
    for other in (clinic.bob, clinic.sam, clinic.ada):
        with engine.begin() as conn, pytest.raises(AccessDeniedError):
            add_goal(conn, other, episode_id, "Someone else's goal", now=NOW)
    with engine.connect() as conn:
        assert row_counts(conn) == before


def test_it_refuses_a_second_open_episode_for_a_client(engine: Engine, clinic: Clinic) -> None:
    _open(engine, clinic)
    with engine.begin() as conn, pytest.raises(DomainError, match="already has an open episode"):
        open_episode(
            conn,
            clinic.alice,
            client_id=clinic.client_id,
            therapist_id=clinic.alice.user_id or 0,
            opened_on=date(2026, 2, 1),
            now=NOW,
        )
