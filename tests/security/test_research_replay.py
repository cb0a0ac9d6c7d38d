"""Replays against the research export: neighbouring rows, impossible dates, formulas.

M2: rows once came out in primary-key order, which follows real time across clients, so two
neighbouring rows of different clients gave their relative date shift. The attack is written
out here and run twice: on the rows put back in key order it recovers the shifts (so the attack
works), on the file as exported it recovers no more than chance would.
"""

from __future__ import annotations

import csv
import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, Engine, func, select, update

from alliance.cli import main
from alliance.domain import DomainError
from alliance.store import episodes, goals, people, sessions
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.migrate import upgrade
from alliance.store.research import Pseudonymiser, ResearchExportError, export_research
from tests.web.clinic import build_clinic

KEY = "research-test-key-0123456789"
CLIENTS = 24
WEEKS = 6
TODAY = date(2026, 6, 1)


def read(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / f"{name}.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def weekly_clinic(engine: Engine) -> dict[int, int]:
    """Clients seen weekly, each entered as seen; returns episode → client."""
    upgrade(engine)
    system = Actor.system()
    start = TODAY - timedelta(weeks=WEEKS + 2)
    client_of: dict[int, int] = {}
    with engine.begin() as conn:
        org = people.create_organisation(conn, system, "Weekly clinic")
        therapist = people.create_user(
            conn,
            system,
            organisation_id=org,
            username="wendy",
            role="therapist",
            display_name="Wendy",
            password_hash="x",
            must_change_password=False,
        )
        for n in range(CLIENTS):
            client = people.create_client(conn, system, organisation_id=org, code=f"WK-{n:03d}")
            episode = episodes.open_episode(
                conn, system, client_id=client, therapist_id=therapist, opened_on=start
            )
            client_of[episode] = client
        now = Actor.system()
        for week in range(1, WEEKS + 1):
            for n, episode in enumerate(client_of):
                held = start + timedelta(weeks=week, days=n % 2)
                sessions.record_session(conn, now, episode, held)
    return client_of


def estimate_shifts(rows: list[tuple[str, date]]) -> dict[str, int]:
    """The attack: rows side by side were entered about the same real day.

    Two neighbouring rows of clients a and b differ by about shift(b) - shift(a); the median
    over every time a and b sat side by side estimates it. Starting from the first client, the
    client with the most evidence linking it to one already placed is placed next.
    """
    pairs: dict[tuple[str, str], list[int]] = defaultdict(list)
    for (a, day_a), (b, day_b) in itertools.pairwise(rows):
        if a != b:
            pairs[a, b].append((day_b - day_a).days)
            pairs[b, a].append((day_a - day_b).days)
    estimate = {rows[0][0]: 0}
    while True:
        links = [
            (len(d), a, b) for (a, b), d in pairs.items() if a in estimate and b not in estimate
        ]
        if not links:
            return estimate
        _, a, b = max(links)
        estimate[b] = estimate[a] + round(statistics.median(pairs[a, b]))


def recovered(estimate: dict[str, int], truth: dict[str, int], first: str) -> int:
    """Clients whose shift relative to the first one the attack got within two days."""
    return sum(
        1
        for episode, shift in truth.items()
        if episode != first
        and episode in estimate
        and abs(estimate[episode] - (shift - truth[first])) <= 2
    )


def test_it_leaves_no_client_shift_recoverable_from_neighbouring_rows(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'weekly.db'}")
    try:
        client_of = weekly_clinic(engine)
        with engine.connect() as conn:
            export_research(conn, tmp_path / "out", KEY)
            conn.commit()
            real_ids = list(conn.execute(select(t.sessions.c.id)).scalars())
    finally:
        engine.dispose()
    keys = Pseudonymiser(KEY)
    truth = {keys.pseudonym("episode", e) or "": keys.shift_days(c) for e, c in client_of.items()}
    exported = [
        (r["episode_id"], date.fromisoformat(r["held_on"]))
        for r in read(tmp_path / "out", "sessions")
    ]
    # The control: the same rows in primary-key order, as they used to be written.
    position = {keys.pseudonym("session", i): i for i in real_ids}
    by_id = sorted(read(tmp_path / "out", "sessions"), key=lambda r: position[r["id"]])
    in_key_order = [(r["episode_id"], date.fromisoformat(r["held_on"])) for r in by_id]

    control = estimate_shifts(in_key_order)
    assert recovered(control, truth, in_key_order[0][0]) >= CLIENTS - 2  # the attack works
    attack = estimate_shifts(exported)
    # Chance alone (5 right answers in some 360) would get about one of 23.
    assert recovered(attack, truth, exported[0][0]) <= 3
    assert exported != in_key_order


def test_it_writes_dates_without_a_time_of_day(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    try:
        build_clinic(engine, TODAY)
        with engine.connect() as conn:
            result = export_research(conn, tmp_path / "out", KEY)
            conn.commit()
    finally:
        engine.dispose()
    created = [r["created_at"] for r in read(result.folder, "administrations")]
    assert created
    for value in created:
        assert date.fromisoformat(value).isoformat() == value  # YYYY-MM-DD, no T, no clock
    for row in read(result.folder, "stage_transitions"):
        assert date.fromisoformat(row["at"]).isoformat() == row["at"]


def _shift_breaking_date(keys: Pseudonymiser, client_id: int) -> date:
    """A stored date that this client's shift carries past year 1 or year 9999."""
    return date(1, 1, 1) if keys.shift_days(client_id) < 0 else date(9999, 12, 31)


def test_it_writes_everything_or_nothing(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    try:
        clinic = build_clinic(engine, TODAY)
        with engine.begin() as conn:
            client = conn.execute(
                select(t.episodes.c.client_id).where(t.episodes.c.id == clinic.rupture_episode)
            ).scalar_one()
            # Stored before dates were checked at entry: the export meets it half-way through.
            conn.execute(
                update(t.sessions)
                .where(t.sessions.c.id == clinic.rupture_sessions[-1])
                .values(held_on=_shift_breaking_date(Pseudonymiser(KEY), client))
            )
        with engine.connect() as conn, pytest.raises(ResearchExportError) as refused:
            export_research(conn, tmp_path / "exports" / "out", KEY)
    finally:
        engine.dispose()
    assert "sessions.held_on" in str(refused.value)
    assert "nothing was written" in str(refused.value)
    assert list((tmp_path / "exports").iterdir()) == []  # no folder, no partial files


@pytest.mark.parametrize("field", ["opened_on", "consent_on", "session.held_on"])
def test_it_refuses_a_date_out_of_range_at_entry(tmp_path: Path, field: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    system = Actor.system()
    try:
        clinic = build_clinic(engine, TODAY)
        with engine.begin() as conn:
            client = people.create_client(
                conn, system, organisation_id=clinic.organisation_id, code="NEW-001"
            )
        entries: dict[str, Callable[[Connection], object]] = {
            "opened_on": lambda conn: episodes.open_episode(
                conn,
                system,
                client_id=client,
                therapist_id=clinic.therapist_id,
                opened_on=date(1, 1, 1),
            ),
            "consent_on": lambda conn: episodes.record_consent(
                conn, system, clinic.other_episode, date(1899, 12, 31)
            ),
            "session.held_on": lambda conn: sessions.record_session(
                conn, system, clinic.other_episode, date(1, 1, 1)
            ),
        }
        with engine.begin() as conn, pytest.raises(DomainError) as refused:
            entries[field](conn)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(t.episodes)).scalar_one()
    finally:
        engine.dispose()
    assert refused.value.field == field
    assert "between 1900-01-01 and 2100-12-31" in str(refused.value)
    assert stored == 3


def test_it_refuses_an_out_of_range_date_in_an_import(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    try:
        build_clinic(engine, TODAY)
    finally:
        engine.dispose()
    scores = tmp_path / "scores.csv"
    scores.write_text(
        "client,episode,session,date,measure,therapist,total\nIMP-001,1,1,0001-01-01,srs,tess,30\n",
        encoding="utf-8",
    )
    done = CliRunner().invoke(main, ["import", str(scores), "--db", url])
    assert done.exit_code != 0
    assert "0001-01-01" in done.output
    assert "1900-01-01" in done.output


def test_it_quotes_formulas_in_free_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    try:
        clinic = build_clinic(engine, TODAY)
        with engine.begin() as conn:
            goals.add_goal(
                conn, Actor.system(), clinic.rupture_episode, '=HYPERLINK("http://x.test","y")'
            )
    finally:
        engine.dispose()
    done = CliRunner(env={"ALLIANCE_RESEARCH_KEY": KEY}).invoke(
        main, ["export-research", str(tmp_path / "r"), "--db", url, "--include-free-text"]
    )
    assert done.exit_code == 0, done.output
    texts = sorted(g["text"] for g in read(tmp_path / "r", "goals"))
    assert texts == ['\'=HYPERLINK("http://x.test","y")', "Sleep through most nights"]
    # Numbers stay numbers: totals are written as they are, never quoted.
    totals = [a["total"] for a in read(tmp_path / "r", "administrations")]
    assert all(not total.startswith("'") for total in totals)
