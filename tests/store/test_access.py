"""The one access policy, through the functions pages, the API and the CLI call.

Who may read an episode is decided once (alliance.store.access); these tests call the service
functions the routes call, so a rule that only the pages applied would fail here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from alliance.errors import NotVisibleError
from alliance.services.caseload import caseload
from alliance.services.episodes import episode_detail
from alliance.store.access import Access, RoleName, Viewer, can_read, check_write
from alliance.store.administrations import record_administration
from alliance.store.base import AccessDeniedError, Actor, load_episode
from alliance.store.goals import add_goal
from alliance.store.sessions import record_session
from alliance.store.tables import audit_events, users

from .conftest import NOW, OPENED, Clinic, open_alice_episode


def viewer(actor: Actor, role: RoleName, organisation_id: int) -> Viewer:
    assert actor.user_id is not None
    return Viewer(actor.user_id, f"user{actor.user_id}", "Someone", role, organisation_id, None)


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
    alice = viewer(clinic.alice, "therapist", clinic.organisation_id)
    with engine.begin() as conn:
        rows = caseload(conn, alice)
    assert [(r.episode_id, r.client_code, r.stage) for r in rows] == [
        (episode_id, "C-TEST01", "commitment")
    ]
    assert rows[0].sessions == 2  # attended; the no-show is not counted
    assert rows[0].last_session_on == OPENED + timedelta(weeks=2)
    assert rows[0].last_alliance is not None
    assert (rows[0].last_alliance.total, rows[0].last_alliance.session) == (32, 3)
    assert rows[0].risk is False


def test_it_lets_the_supervisor_read_but_not_others(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    org = clinic.organisation_id
    sam = viewer(clinic.sam, "supervisor", org)
    with engine.begin() as conn:
        detail = episode_detail(conn, sam, episode_id)
        assert [s.number for s in detail.sessions] == [1, 2, 3]
        assert [a.total for s in detail.sessions for a in s.administrations] == [30, 32]
        assert [g["text"] for g in detail.goals] == ["Feel at ease with friends"]
        assert detail.can_write is False  # a supervisor reads, never writes
        assert [r.episode_id for r in caseload(conn, sam)] == [episode_id]
    for outsider in (viewer(clinic.bob, "therapist", org), viewer(clinic.ada, "admin", org)):
        with engine.begin() as conn, pytest.raises(NotVisibleError):
            episode_detail(conn, outsider, episode_id)
        with engine.begin() as conn:
            assert caseload(conn, outsider) == []


def test_it_refuses_a_write_to_a_reader_as_if_the_episode_were_missing(
    engine: Engine, clinic: Clinic, episode_id: int
) -> None:
    sam = viewer(clinic.sam, "supervisor", clinic.organisation_id)
    alice = viewer(clinic.alice, "therapist", clinic.organisation_id)
    with engine.begin() as conn:
        assert Access(conn, sam).episode(episode_id).id == episode_id
        with pytest.raises(NotVisibleError):
            Access(conn, sam).episode(episode_id, write=True)
        assert Access(conn, alice).episode(episode_id, write=True).id == episode_id
        with pytest.raises(NotVisibleError):
            Access(conn, alice).episode(episode_id + 999)


def test_the_store_checks_the_same_rule(engine: Engine, clinic: Clinic, episode_id: int) -> None:
    therapist = clinic.alice.user_id or 0
    with engine.begin() as conn:
        episode, _ = load_episode(conn, episode_id)
        assert can_read(conn, clinic.alice, therapist, episode_id=episode_id)
        assert can_read(conn, clinic.sam, therapist, episode_id=episode_id)
        assert can_read(conn, clinic.sam, therapist)  # the supervisee's caseload
        assert not can_read(conn, clinic.bob, therapist, episode_id=episode_id)
        assert not can_read(conn, clinic.ada, therapist, episode_id=episode_id)
        assert not can_read(conn, clinic.bob, therapist)
        with pytest.raises(AccessDeniedError):
            check_write(conn, clinic.sam, episode, episode_id)
        check_write(conn, clinic.alice, episode, episode_id)
        # An account switched off reads nothing, its own episodes included.
        conn.execute(update(users).where(users.c.id == therapist).values(active=False))
        assert not can_read(conn, clinic.alice, therapist, episode_id=episode_id)
        with pytest.raises(AccessDeniedError, match="not active"):
            check_write(conn, clinic.alice, episode, episode_id)


def test_it_audits_every_read(engine: Engine, clinic: Clinic, episode_id: int) -> None:
    alice = viewer(clinic.alice, "therapist", clinic.organisation_id)
    sam = viewer(clinic.sam, "supervisor", clinic.organisation_id)
    with engine.begin() as conn:
        episode_detail(conn, alice, episode_id)
        caseload(conn, sam)
    with engine.connect() as conn:
        reads = conn.execute(
            select(audit_events.c.actor, audit_events.c.object_type, audit_events.c.object_id)
            .where(audit_events.c.action == "read")
            .order_by(audit_events.c.seq)
        ).all()
    assert [tuple(r) for r in reads] == [
        (clinic.alice.user_id, "episode", str(episode_id)),
        (clinic.sam.user_id, "caseload", None),
    ]
