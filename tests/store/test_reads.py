"""Caseload and episode detail: what the pages read, who may read it, and that reads are audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from alliance.store.administrations import record_administration
from alliance.store.base import AccessDeniedError
from alliance.store.goals import add_goal
from alliance.store.people import set_client_identity
from alliance.store.reads import caseload, client_identity, episode_detail
from alliance.store.sessions import record_session
from alliance.store.tables import audit_events

from .conftest import NOW, OPENED, Clinic, open_alice_episode


@pytest.fixture
def episode_id(engine: Engine, clinic: Clinic) -> int:
    with engine.begin() as conn:
        episode = open_alice_episode(conn, clinic)
        add_goal(conn, clinic.alice, episode, "Feel at ease with friends", now=NOW)
        for week, attendance in enumerate(["attended", "no_show", "attended"]):
            session = record_session(
                conn,
                clinic.alice,
                episode,
                OPENED + timedelta(weeks=week),
                attendance=attendance,
                now=NOW,
            )
            if attendance == "attended":
                total = 30 + week  # SRS 30 then 32
                answers = {"1": total / 4, "2": total / 4, "3": total / 4, "4": total / 4}
                record_administration(
                    conn, clinic.alice, episode, "srs", answers, session_id=session, now=NOW
                )
    return episode


def test_it_lists_the_caseload_with_sessions_and_last_scores(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    with engine.begin() as conn:
        entries = caseload(conn, clinic.alice, clinic.alice.user_id or 0, now=NOW)
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.episode_id, entry.client_code, entry.stage.value) == (
        episode_id,
        "C-TEST01",
        "commitment",
    )
    assert (entry.sessions_total, entry.sessions_attended) == (3, 2)
    assert entry.last_session_on == OPENED + timedelta(weeks=2)
    assert entry.last_scores["srs"].total == 32
    assert entry.last_scores["srs"].session_number == 3
    assert entry.risk_flags == []


def test_it_lets_the_supervisor_read_but_not_others(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    with engine.begin() as conn:
        detail = episode_detail(conn, clinic.sam, episode_id, now=NOW)
    assert [s["number"] for s in detail.sessions] == [1, 2, 3]
    assert [a["total"] for a in detail.administrations] == [30, 32]
    assert len(detail.agreed_goals) == 1
    for outsider in (clinic.bob, clinic.ada):
        with engine.begin() as conn, pytest.raises(AccessDeniedError):
            episode_detail(conn, outsider, episode_id, now=NOW)
        with engine.begin() as conn, pytest.raises(AccessDeniedError):
            caseload(conn, outsider, clinic.alice.user_id or 0, now=NOW)


def test_it_audits_every_read(engine: Engine, clinic: Clinic, episode_id: int) -> None:
    with engine.begin() as conn:
        set_client_identity(conn, clinic.alice, clinic.client_id, name="A. Person", contact=None)
        episode_detail(conn, clinic.alice, episode_id, now=NOW)
        caseload(conn, clinic.sam, clinic.alice.user_id or 0, now=NOW)
        assert client_identity(conn, clinic.alice, clinic.client_id, now=NOW)["name"] == "A. Person"
    with engine.connect() as conn:
        reads = conn.execute(
            select(audit_events.c.actor, audit_events.c.object_type, audit_events.c.object_id)
            .where(audit_events.c.action == "read")
            .order_by(audit_events.c.seq)
        ).all()
    assert [tuple(r) for r in reads] == [
        (clinic.alice.user_id, "episode", str(episode_id)),
        (clinic.sam.user_id, "caseload", str(clinic.alice.user_id)),
        (clinic.alice.user_id, "client_identity", str(clinic.client_id)),
    ]
