"""The alert service on a real database: cards, acknowledgement, risk on unscored forms, closing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from alliance.analytics.etr import EtrModel
from alliance.domain import ClosingReason
from alliance.services import alerts, users
from alliance.services.scores import score_frame
from alliance.store import episodes, people, sessions
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.imports import save_etr_models
from tests.web.clinic import Clinic, phq9_answers, srs_answers

DAY = date(2026, 1, 5)


@pytest.fixture
def tess(engine: Engine, clinic: Clinic) -> Viewer:
    viewer = users.load_viewer(engine, clinic.therapist_id, "127.0.0.1")
    assert viewer is not None
    return viewer


def new_episode(engine: Engine, clinic: Clinic, code: str) -> int:
    system = Actor.system()
    with engine.begin() as conn:
        client = people.create_client(
            conn, system, organisation_id=clinic.organisation_id, code=code
        )
        return episodes.open_episode(
            conn, system, client_id=client, therapist_id=clinic.therapist_id, opened_on=DAY
        )


def add(
    engine: Engine, episode_id: int, instrument: str, answers: Sequence[Mapping[str, float]]
) -> None:
    system = Actor.system()
    with engine.begin() as conn:
        for n, given in enumerate(answers, start=1):
            held = DAY + timedelta(weeks=n)
            sid = sessions.record_session(conn, system, episode_id, held, number=n)
            record_administration(conn, system, episode_id, instrument, given, session_id=sid)


def cards(engine: Engine, episode_id: int) -> list[alerts.AlertView]:
    with engine.connect() as conn:
        frame = score_frame(conn, [episode_id])
        return alerts.alerts_for(conn, frame, episode_ids=[episode_id]).get(episode_id, [])


def acks(engine: Engine, episode_id: int) -> list[tuple[str, str | None]]:
    a = t.signal_acknowledgements
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.c.signal_key, a.c.note).where(a.c.episode_id == episode_id).order_by(a.c.id)
        ).all()
    return [(r[0], r[1]) for r in rows]


def test_it_shows_one_card_for_a_rupture_and_the_drop_that_shows_it(
    engine: Engine, clinic: Clinic, tess: Viewer
) -> None:
    # SRS 38, 38, 38, 30: a rupture, below 36, a fall of 8 -> one alliance card, three signals,
    # and acknowledging it (by any of its keys) acknowledges all three.
    episode = new_episode(engine, clinic, "CARD-001")
    add(engine, episode, "srs", [srs_answers(x) for x in (38, 38, 38, 30)])
    [card] = cards(engine, episode)
    assert (card.problem, card.kind, card.title) == (
        "alliance",
        "rupture",
        "Alliance rupture · SRS",
    )
    assert len(card.keys) == 3
    assert len(card.next_steps) == len(set(card.next_steps)) == 3
    with engine.begin() as conn:
        alerts.acknowledge(conn, tess, episode, card.keys[-1], "talk next time")
    assert sorted(k for k, _ in acks(engine, episode)) == sorted(card.keys)
    assert cards(engine, episode) == []


def test_it_raises_risk_from_a_form_that_could_not_be_scored(
    engine: Engine, clinic: Clinic
) -> None:
    # A CORE-10 with item 6 ("I made plans to end my life") at 4 and items 2 and 5 blank: two
    # missing, one allowed, so no total; the risk item still comes first.
    episode = new_episode(engine, clinic, "RISK-009")
    answers = {str(i): 1.0 for i in range(1, 11) if i not in (2, 5)} | {"6": 4.0}
    add(engine, episode, "core10", [answers])
    with engine.connect() as conn:
        assert score_frame(conn, [episode]).height == 0
    [card] = cards(engine, episode)
    assert (card.problem, card.severity) == ("risk", "critical")
    assert card.key == f"risk_item:risk_item_unscored:{episode}:core10:1"
    assert "CORE-10 item 6" in card.detail


def test_it_shows_no_alerts_once_the_episode_is_closed(
    engine: Engine, clinic: Clinic, tess: Viewer
) -> None:
    assert [c.problem for c in cards(engine, clinic.risk_episode)] == ["risk"]
    with engine.begin() as conn:
        closed = alerts.close_with_episode(conn, tess, clinic.risk_episode)
        today = datetime.now(UTC).date()
        episodes.close_episode(
            conn, Actor.system(), clinic.risk_episode, today, reason=ClosingReason.PLANNED
        )
    assert closed == 1
    assert [note for _, note in acks(engine, clinic.risk_episode)] == [alerts.CLOSED_NOTE]
    assert cards(engine, clinic.risk_episode) == []


def test_it_never_lets_a_stored_synthetic_model_decide(engine: Engine, clinic: Clinic) -> None:
    # A flat PHQ-9 of 16 for 8 sessions: "no change" from rating 7, rule-based, whatever model
    # is stored; a synthetic one is kept but not used, a clinic one is named on the card.
    episode = new_episode(engine, clinic, "FLAT-001")
    add(engine, episode, "phq9", [phq9_answers(16)] * 8)
    coefficients, variance = (0.5, 0.95, -1.0, -0.15), (3.0, 2.0)
    synthetic = EtrModel(
        "phq9", coefficients, variance, 0.9, 2000, 9000, "2026-01-01T00:00:00", "synthetic: x"
    )
    save_etr_models(engine, {"phq9": synthetic})
    [card] = cards(engine, episode)
    assert (card.kind, card.session) == ("no_change", 8)
    assert "rule-based" in card.detail
    clinic_model = EtrModel(
        "phq9", coefficients, variance, 0.9, 140, 900, "2026-02-01T00:00:00", "database"
    )
    save_etr_models(engine, {"phq9": clinic_model})
    [card] = cards(engine, episode)
    assert card.kind == "not_on_track"
    assert "fitted on 140 of your clinic's closed episodes on 2026-02-01" in card.detail
    assert any(e.startswith("No reliable improvement") for e in card.evidence)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(t.etr_models)).scalar_one()
    assert stored == 2


def test_a_therapists_repair_note_addresses_the_rupture_but_not_a_low_alliance(
    engine: Engine, clinic: Clinic, tess: Viewer
) -> None:
    # SRS 39, 40, 39.5, 28, 30: a rupture at session 4 (11.5 below the usual 39.5) whose scores
    # have not come back (30 < 39.5 - 2 = 37.5). The therapist writes a repair note in session 5:
    # the rupture is addressed (its signal closes, the chart says so at session 5), but 30 is
    # still below the SRS cutoff of 36, so the alliance card stays open, headed by that.
    from alliance.services.episodes import episode_detail
    from alliance.store.relational import add_relational_note

    episode = new_episode(engine, clinic, "NOTE-001")
    add(engine, episode, "srs", [srs_answers(x) for x in (39, 40, 39.5, 28, 30)])
    [before] = cards(engine, episode)
    assert before.kind == "rupture"
    with engine.begin() as conn:
        s5 = conn.execute(
            select(t.sessions.c.id).where(
                t.sessions.c.episode_id == episode, t.sessions.c.number == 5
            )
        ).scalar_one()
        add_relational_note(
            conn, tess.actor, episode, "repair", "We talked about last week.", session_id=s5
        )
    [after] = cards(engine, episode)
    assert after.kind == "alliance_low"
    assert all(not k.startswith("rupture:") for k in [after.key, *after.keys])
    with engine.begin() as conn:
        detail = episode_detail(conn, tess, episode)
    [rupture] = detail.ruptures
    assert (rupture["start_session"], rupture["repaired"]) == (4, False)
    assert rupture["repair_noted_session"] == 5


def test_a_repair_note_before_the_rupture_does_not_address_it(
    engine: Engine, clinic: Clinic, tess: Viewer
) -> None:
    from alliance.store.relational import add_relational_note

    episode = new_episode(engine, clinic, "NOTE-002")
    add(engine, episode, "srs", [srs_answers(x) for x in (39, 40, 39.5, 28, 30)])
    with engine.begin() as conn:
        s2 = conn.execute(
            select(t.sessions.c.id).where(
                t.sessions.c.episode_id == episode, t.sessions.c.number == 2
            )
        ).scalar_one()
        add_relational_note(conn, tess.actor, episode, "repair", "Earlier work.", session_id=s2)
    [card] = cards(engine, episode)
    assert card.kind == "rupture"
