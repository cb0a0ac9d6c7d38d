"""The demo clinic: deterministic by seed, built through the rules, covering every case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, select

from alliance.analytics.clinic import ALL, clinic_figures
from alliance.store import audit
from alliance.store.demo import populate
from alliance.store.engine import make_engine
from alliance.store.exports import load_score_frame
from alliance.store.tables import (
    administrations,
    episodes,
    metadata,
    relational_notes,
    sessions,
    stage_transitions,
    users,
)

pytestmark = pytest.mark.slow


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table in key order; password hashes left out (salted, fresh)."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in metadata.tables.items():
            columns = [c for c in table.columns if c.name != "password_hash"]
            query = select(*columns).order_by(*table.primary_key.columns)
            rows[name] = [tuple(r) for r in conn.execute(query)]
    return rows


def test_it_gives_identical_data_for_the_same_seed(tmp_path: Path) -> None:
    first, second, other = (make_engine(f"sqlite:///{tmp_path / n}") for n in ("a", "b", "c"))
    populate(first, seed=3)
    populate(second, seed=3)
    populate(other, seed=4)
    assert dump(first) == dump(second)
    assert dump(first) != dump(other)


def test_it_builds_a_full_clinic_on_each_engine(database_url: str) -> None:
    engine = make_engine(database_url)
    accounts = populate(engine, seed=0)
    roles = sorted(a.role for a in accounts)
    assert roles.count("therapist") >= 3
    assert {"supervisor", "admin"} <= set(roles)
    with engine.connect() as conn:
        hashes = dict(conn.execute(select(users.c.username, users.c.password_hash)).all())
        for account in accounts:
            assert hashes[account.username].startswith("$argon2id$")
            assert PasswordHasher().verify(hashes[account.username], account.password)
        assert all(conn.execute(select(users.c.must_change_password)).scalars())

        assert 25 <= conn.execute(select(func.count()).select_from(episodes)).scalar_one() <= 40
        stages = set(conn.execute(select(episodes.c.stage)).scalars())
        assert stages == {"commitment", "process", "change", "termination"}
        per_episode = (
            conn.execute(select(func.max(sessions.c.number)).group_by(sessions.c.episode_id))
            .scalars()
            .all()
        )
        assert min(per_episode) >= 1
        assert max(per_episode) <= 30
        assert (
            conn.execute(
                select(func.count()).select_from(episodes).where(episodes.c.closed_on.is_not(None))
            ).scalar_one()
            >= 2
        )

        step_back = (
            conn.execute(
                select(stage_transitions.c.reason).where(
                    stage_transitions.c.from_stage == "change",
                    stage_transitions.c.to_stage == "process",
                )
            )
            .scalars()
            .all()
        )
        assert len(step_back) == 1
        assert step_back[0]

        kinds = list(conn.execute(select(relational_notes.c.kind)).scalars())
        assert kinds.count("rupture") > kinds.count("repair") >= 1  # some ruptures unrepaired

        forms = conn.execute(select(administrations.c.instrument_id, administrations.c.flags)).all()
        assert {f.instrument_id for f in forms} == {"ors", "srs", "phq9", "gad7"}
        phq9 = conn.execute(
            select(administrations.c.episode_id, administrations.c.flags).where(
                administrations.c.instrument_id == "phq9"
            )
        ).all()
        flagged = {row.episode_id for row in phq9 if "risk:phq9:9" in row.flags}
        assert len(flagged) == 1

        assert audit.verify(conn) is None
    # A second connection only after the first closed: SQLite transactions take the write lock.
    ors = _first_and_last(engine, "ors")
    assert any(last - first >= 10 for first, last in ors)  # improvers
    assert any(last - first <= -5 for first, last in ors)  # deteriorators
    assert any(abs(last - first) < 3 for first, last in ors)  # non-responders
    engine.dispose()


def _first_and_last(engine: Engine, instrument: str) -> list[tuple[float, float]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(administrations.c.episode_id, administrations.c.total)
            .where(administrations.c.instrument_id == instrument)
            .order_by(administrations.c.created_at, administrations.c.id)
        ).all()
    series: dict[int, list[float]] = {}
    for episode_id, total in rows:
        series.setdefault(episode_id, []).append(total)
    return [(s[0], s[-1]) for s in series.values() if len(s) >= 4]


def test_it_counts_the_demo_dropout_in_the_clinic_figures(database_url: str) -> None:
    engine = make_engine(database_url)
    populate(engine, seed=0)
    with engine.connect() as conn:
        closings = conn.execute(
            select(episodes.c.id, episodes.c.closing_reason).where(
                episodes.c.closed_on.is_not(None)
            )
        ).all()
        open_reasons = conn.execute(
            select(episodes.c.closing_reason).where(episodes.c.closed_on.is_(None))
        ).scalars()
        assert set(open_reasons) <= {None}
    reasons = {str(r.id): r.closing_reason for r in closings}
    assert set(reasons.values()) == {"planned", "dropout"}
    frame = load_score_frame(engine)
    engine.dispose()
    dropped = set(frame.filter(pl.col("dropout"))["episode_id"].unique())
    assert dropped == {i for i, reason in reasons.items() if reason == "dropout"}
    figures = clinic_figures(frame, by="therapist_id")
    overall = figures.filter(pl.col("therapist_id") == ALL).row(0, named=True)
    assert overall["n_dropout"] >= 1
    assert overall["n_dropout"] == len(dropped)
