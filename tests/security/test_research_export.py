"""The de-identified research export: keyed pseudonyms, per-client date shifts, no free text."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from alliance.cli import main
from alliance.store import tables as t
from alliance.store.engine import make_engine
from alliance.store.research import MAX_SHIFT_DAYS, Pseudonymiser, export_research
from tests.web.clinic import build_clinic

KEY = "research-test-key-0123456789"


def rows(folder: Path, name: str) -> list[dict[str, str]]:
    with open(folder / f"{name}.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_it_pseudonymises_shifts_dates_and_drops_free_text(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    try:
        clinic = build_clinic(engine)
        with engine.connect() as conn:
            result = export_research(conn, tmp_path / "out", KEY)
            conn.commit()
            real_sessions = conn.execute(
                select(t.sessions.c.number, t.sessions.c.held_on)
                .where(t.sessions.c.episode_id == clinic.rupture_episode)
                .order_by(t.sessions.c.number)
            ).all()
            actions = [r.action for r in conn.execute(select(t.audit_events.c.action))]
    finally:
        engine.dispose()
    out = result.folder
    everything = "".join(p.read_text(encoding="utf-8") for p in out.iterdir())
    for identifying in ("RUPT-001", "RISK-002", "OTHR-003", "Sleep through most nights", "tess"):
        assert identifying not in everything
    keys = Pseudonymiser(KEY)
    episode = keys.pseudonym("episode", clinic.rupture_episode)
    assert episode is not None
    episodes = {r["id"]: r for r in rows(out, "episodes")}
    assert set(episodes) == {
        keys.pseudonym("episode", e)
        for e in (clinic.rupture_episode, clinic.risk_episode, clinic.other_episode)
    }
    assert "text" not in rows(out, "goals")[0]
    exported = [
        (int(r["number"]), date.fromisoformat(r["held_on"]))
        for r in rows(out, "sessions")
        if r["episode_id"] == episode
    ]
    shifts = {
        (day - real[1]).days for (_, day), real in zip(sorted(exported), real_sessions, strict=True)
    }
    # One offset for every date of the client: intervals survive, calendar dates do not.
    assert len(shifts) == 1
    (shift,) = shifts
    assert 1 <= abs(shift) <= MAX_SHIFT_DAYS
    opened = date.fromisoformat(episodes[episode]["opened_on"])
    with make_engine(database_url).connect() as conn:
        real_opened = conn.execute(
            select(t.episodes.c.opened_on).where(t.episodes.c.id == clinic.rupture_episode)
        ).scalar_one()
    assert (opened - real_opened).days == shift
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["free_text_included"] is False
    assert "text" in manifest["tables"]["goals"]["removed"]
    assert "client_identities" in manifest["tables_not_exported"]
    assert "export" in actions


def test_it_keeps_free_text_only_when_asked(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    engine = make_engine(url)
    try:
        build_clinic(engine)
    finally:
        engine.dispose()
    runner = CliRunner(env={"ALLIANCE_RESEARCH_KEY": KEY})
    done = runner.invoke(
        main, ["export-research", str(tmp_path / "r"), "--db", url, "--include-free-text"]
    )
    assert done.exit_code == 0, done.output
    assert "free text included" in done.output
    goals = rows(tmp_path / "r", "goals")
    assert [g["text"] for g in goals] == ["Sleep through most nights"]
    again = runner.invoke(main, ["export-research", str(tmp_path / "r"), "--db", url])
    assert again.exit_code != 0
    assert "not an empty folder" in again.output
    # The same key gives the same pseudonyms; another key gives others.
    second = runner.invoke(main, ["export-research", str(tmp_path / "r2"), "--db", url])
    assert second.exit_code == 0
    assert rows(tmp_path / "r", "episodes")[0]["id"] == rows(tmp_path / "r2", "episodes")[0]["id"]
    assert Pseudonymiser(KEY).pseudonym("episode", 1) != Pseudonymiser(KEY + "x").pseudonym(
        "episode", 1
    )
