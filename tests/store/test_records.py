"""Goals, tasks, worksheets, boundaries, relational notes and administrations in the store."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select, update

from alliance.domain import BoundaryRationale, DomainError
from alliance.instruments import InstrumentError, score
from alliance.store import audit
from alliance.store.administrations import record_administration
from alliance.store.base import AccessDeniedError
from alliance.store.episodes import move_stage
from alliance.store.goals import add_goal, add_task, set_goal_status
from alliance.store.people import create_client, create_user
from alliance.store.relational import (
    add_relational_note,
    record_boundary_event,
    report_boundary_incident,
)
from alliance.store.sessions import record_session
from alliance.store.tables import (
    audit_events,
    boundary_incidents,
    clients,
    goals,
    relational_notes,
)
from alliance.store.worksheets import add_worksheet

from .conftest import NOW, OPENED, Clinic, open_alice_episode, row_counts


@pytest.fixture
def episode_id(engine: Engine, clinic: Clinic) -> int:
    with engine.begin() as conn:
        return open_alice_episode(conn, clinic)


def test_it_seeds_proposed_goals_from_the_miracle_question(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    answers = ["I would wake up rested", "I would call my brother", "I would wake up rested"]
    with engine.begin() as conn:
        add_worksheet(
            conn, clinic.alice, episode_id, "miracle_question", {"answers": answers}, now=NOW
        )
        rows = conn.execute(
            select(goals.c.id, goals.c.text, goals.c.status).order_by(goals.c.id)
        ).all()
        assert [(r.text, r.status) for r in rows] == [
            ("I would wake up rested", "proposed"),
            ("I would call my brother", "proposed"),
        ]
        # Proposed goals are not yet agreed: process stays closed until one is agreed.
        with pytest.raises(DomainError, match="at least one agreed goal"):
            move_stage(conn, clinic.alice, episode_id, "process", now=NOW)
        set_goal_status(conn, clinic.alice, rows[0].id, "agreed", now=NOW)
        move_stage(conn, clinic.alice, episode_id, "process", now=NOW)


def test_it_refuses_a_crossing_without_its_rationale(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    with engine.connect() as conn:
        before = row_counts(conn)
    with engine.begin() as conn, pytest.raises(DomainError) as refused:
        record_boundary_event(
            conn,
            clinic.alice,
            episode_id,
            "crossing",
            "Exposure walk to the station",
            occurred_on=OPENED,
            rationale=BoundaryRationale(client_welfare="fear of travel"),
        )
    assert refused.value.field == "boundary.technique_goal"
    assert "a crossing needs its rationale" in str(refused.value)
    with engine.connect() as conn:
        assert row_counts(conn) == before
    with engine.begin() as conn:
        record_boundary_event(
            conn,
            clinic.alice,
            episode_id,
            "crossing",
            "Exposure walk to the station",
            occurred_on=OPENED,
            rationale=BoundaryRationale("fear of travel", "graded exposure", "goal 1, step 3"),
            now=NOW,
        )


def test_it_sends_a_suspected_violation_to_the_supervisor(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    with engine.begin() as conn, pytest.raises(DomainError) as refused:
        record_boundary_event(
            conn, clinic.alice, episode_id, "violation", "x", occurred_on=OPENED, now=NOW
        )
    assert refused.value.rule == (
        "a suspected violation is an incident for the supervisor, not a routine entry"
    )
    with engine.begin() as conn:
        incident = report_boundary_incident(
            conn,
            clinic.alice,
            episode_id,
            "Client offered a business deal",
            occurred_on=OPENED,
            now=NOW,
        )
        row = conn.execute(select(boundary_incidents).where(boundary_incidents.c.id == incident))
        assert row.mappings().one()["supervisor_id"] == clinic.sam.user_id


def test_it_keeps_tags_on_relational_notes(engine: Engine, clinic: Clinic, episode_id: int) -> None:
    with engine.begin() as conn:
        session = record_session(conn, clinic.alice, episode_id, OPENED, now=NOW)
        add_relational_note(
            conn,
            clinic.alice,
            episode_id,
            "rupture",
            "Went quiet after homework came up",
            tags=["Withdrawal", "homework", "withdrawal"],
            session_id=session,
            now=NOW,
        )
        assert conn.execute(select(relational_notes.c.tags)).scalar_one() == [
            "withdrawal",
            "homework",
        ]
        with pytest.raises(DomainError, match=r"note\.kind"):
            add_relational_note(conn, clinic.alice, episode_id, "gossip", "text", now=NOW)


def test_it_refuses_a_task_for_a_dropped_goal(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    with engine.begin() as conn:
        goal = add_goal(conn, clinic.alice, episode_id, "Run a 5k", now=NOW)
        set_goal_status(conn, clinic.alice, goal, "dropped", now=NOW)
        with pytest.raises(DomainError, match=r"task\.goal_id"):
            add_task(conn, clinic.alice, goal, "Couch to 5k plan", now=NOW)


def test_it_scores_and_stores_an_administration_with_its_risk_flag(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    answers = {str(i): 1 for i in range(1, 10)}  # PHQ-9 total 9, item 9 endorsed
    with engine.begin() as conn:
        session = record_session(conn, clinic.alice, episode_id, OPENED, now=NOW)
        _, scored = record_administration(
            conn, clinic.alice, episode_id, "phq9", answers, session_id=session, now=NOW
        )
    assert scored.total == 9
    assert "risk:phq9:9" in scored.flags
    with engine.connect() as conn:
        before = row_counts(conn)
    with engine.begin() as conn, pytest.raises(InstrumentError):
        record_administration(conn, clinic.alice, episode_id, "phq9", {"1": 7}, now=NOW)
    with engine.connect() as conn:
        assert row_counts(conn) == before


def test_it_stores_a_given_score_and_refuses_one_of_another_measure(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    answers = {str(i): 2 for i in range(1, 10)}  # PHQ-9 total 18
    with engine.begin() as conn:
        _, stored = record_administration(
            conn, clinic.alice, episode_id, "phq9", answers, now=NOW, scored=score("phq9", answers)
        )
    assert stored.total == 18
    with engine.connect() as conn:
        before = row_counts(conn)
    gad7 = score("gad7", {str(i): 1 for i in range(1, 8)})
    with engine.begin() as conn, pytest.raises(DomainError, match=r"administration\.scored"):
        record_administration(conn, clinic.alice, episode_id, "phq9", answers, now=NOW, scored=gad7)
    with engine.connect() as conn:
        assert row_counts(conn) == before


def test_it_detects_an_edited_audit_row(engine: Engine, clinic: Clinic, episode_id: int) -> None:
    with engine.connect() as conn:
        assert audit.verify(conn) is None
        count = conn.execute(select(func.count()).select_from(audit_events)).scalar_one()
        assert count >= 6
    with engine.begin() as conn:
        conn.execute(update(audit_events).where(audit_events.c.seq == 3).values(actor=999))
    with engine.connect() as conn:
        assert audit.verify(conn) == 3


def test_it_lets_admins_manage_accounts_and_clinicians_register_clients(
    engine: Engine, clinic: Clinic
) -> None:
    with engine.connect() as conn:
        before = row_counts(conn)
    with engine.begin() as conn, pytest.raises(AccessDeniedError, match="needs role admin"):
        create_user(
            conn,
            clinic.bob,
            organisation_id=clinic.organisation_id,
            username="eve",
            role="therapist",
            display_name="Eve",
            now=NOW,
        )
    with engine.begin() as conn, pytest.raises(AccessDeniedError):
        create_client(conn, clinic.ada, organisation_id=clinic.organisation_id, now=NOW)
    with engine.connect() as conn:
        assert row_counts(conn) == before
    with engine.begin() as conn:
        create_user(
            conn,
            clinic.ada,
            organisation_id=clinic.organisation_id,
            username="eve",
            role="therapist",
            display_name="Eve",
            supervisor_id=clinic.sam.user_id,
            now=NOW,
        )
        code = conn.execute(
            select(clients.c.code).where(
                clients.c.id
                == create_client(conn, clinic.bob, organisation_id=clinic.organisation_id, now=NOW)
            )
        ).scalar_one()
    assert code.startswith("C-")
    assert len(code) == 10
