"""The caseload's cached analysis: reused while nothing changed, recomputed when anything did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from alliance.services import alerts, caseload, users
from alliance.store import sessions
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.writer import GroupCommitWriter
from tests.web.clinic import Clinic, build_clinic, phq9_answers


@pytest.fixture
def writer(engine: Engine) -> Iterator[GroupCommitWriter]:
    writer = GroupCommitWriter(engine)
    yield writer
    writer.close()


@pytest.fixture
def tess(engine: Engine, clinic: Clinic) -> Viewer:
    viewer = users.load_viewer(engine, clinic.therapist_id, "127.0.0.1")
    assert viewer is not None
    return viewer


def uncached(engine: Engine, viewer: Viewer) -> list[caseload.CaseloadRow]:
    """The caseload computed from scratch, as a reference."""
    caseload.clear_cache()
    with engine.connect() as conn:
        return caseload.read_caseload(conn, viewer)


def row_of(rows: list[caseload.CaseloadRow], episode_id: int) -> caseload.CaseloadRow:
    return next(r for r in rows if r.episode_id == episode_id)


def test_it_shows_a_new_score_on_the_next_load(
    engine: Engine, clinic: Clinic, writer: GroupCommitWriter, tess: Viewer
) -> None:
    before = caseload.caseload_audited(engine, writer, tess)
    assert before == caseload.caseload_audited(engine, writer, tess)  # served from the cache
    rupture = row_of(before, clinic.rupture_episode)
    assert not rupture.risk
    assert rupture.last_outcome is not None
    assert rupture.last_outcome.total == 12
    system = Actor.system()
    with engine.begin() as conn:
        sid = sessions.record_session(conn, system, clinic.rupture_episode, clinic.today)
        record_administration(
            conn,
            system,
            clinic.rupture_episode,
            "phq9",
            phq9_answers(20, item9=2),
            session_id=sid,
        )
    after = caseload.caseload_audited(engine, writer, tess)
    rupture = row_of(after, clinic.rupture_episode)
    assert rupture.risk
    assert rupture.last_outcome is not None
    assert rupture.last_outcome.total == 20
    assert after == uncached(engine, tess)


def test_it_drops_an_acknowledged_alert_on_the_next_load(
    engine: Engine, clinic: Clinic, writer: GroupCommitWriter, tess: Viewer
) -> None:
    before = row_of(caseload.caseload_audited(engine, writer, tess), clinic.risk_episode)
    assert before.open_alerts
    chosen = before.open_alerts[0]
    with engine.begin() as conn:
        alerts.acknowledge(conn, tess, clinic.risk_episode, chosen.key, "called the client")
    after = row_of(caseload.caseload_audited(engine, writer, tess), clinic.risk_episode)
    assert chosen.key not in {a.key for a in after.open_alerts}
    assert len(after.open_alerts) == len(before.open_alerts) - 1
    assert caseload.caseload_audited(engine, writer, tess) == uncached(engine, tess)


def test_it_keeps_two_databases_apart(
    engine: Engine, clinic: Clinic, writer: GroupCommitWriter, tess: Viewer, tmp_path: Path
) -> None:
    """A second database with the same ids and counts never gets the first one's analysis."""
    first = caseload.caseload_audited(engine, writer, tess)
    twin = make_engine(f"sqlite:///{tmp_path / 'twin.db'}")
    try:
        twin_clinic = build_clinic(twin, clinic.today)
        with twin.begin() as conn:
            # Same ids and counts as the first clinic, but this measure says something else.
            conn.execute(
                update(t.administrations)
                .where(t.administrations.c.episode_id == twin_clinic.rupture_episode)
                .values(total=27.0)
            )
        viewer = users.load_viewer(twin, twin_clinic.therapist_id, "127.0.0.1")
        assert viewer is not None
        with GroupCommitWriter(twin) as twin_writer:
            second = caseload.caseload_audited(twin, twin_writer, viewer)
    finally:
        twin.dispose()
    assert row_of(first, clinic.rupture_episode).last_outcome != (
        row_of(second, twin_clinic.rupture_episode).last_outcome
    )


def test_it_audits_every_load_even_from_the_cache(
    engine: Engine, clinic: Clinic, writer: GroupCommitWriter, tess: Viewer
) -> None:
    def reads() -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.audit_events)
                    .where(
                        t.audit_events.c.action == "read",
                        t.audit_events.c.object_type == "caseload",
                        t.audit_events.c.actor == tess.user_id,
                    )
                ).scalar_one()
            )

    start = reads()
    for _ in range(3):
        caseload.caseload_audited(engine, writer, tess)
    assert reads() == start + 3
