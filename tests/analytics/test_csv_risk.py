"""Risk first in the CSV paths: a risk item endorsed is never lost with its row.

Worked examples, each an incomplete or invalid form with a risk item endorsed:

line  measure  answers                              outcome
2     PHQ-9    item 9 = 3, item 3 blank, others 1   scored: 10 x 9 / 8 = 11.25 (pro-rated); risk
3     CORE-10  item 6 = 4, items 2 and 5 blank      refused (1 may be missing); risk still raised
4     PHQ-9    item 9 = 2, item 3 = 7 (not allowed) refused (out of range); risk still raised
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from alliance.analytics import read_scores_csv
from alliance.cli import main
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.migrate import upgrade
from alliance.store.people import create_organisation, create_user

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

HEADER = "client,episode,session,date,measure,therapist," + ",".join(
    f"item_{i}" for i in range(1, 11)
)
ROWS = [
    "C-1,1,1,2025-01-06,phq9,alice,1,1,,1,1,1,1,1,3,",
    "C-2,1,2,2025-01-13,core10,alice,1,,1,1,,4,1,1,1,1",
    "C-3,1,1,2025-01-06,phq9,alice,1,1,7,1,1,1,1,1,2,",
]


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        org = create_organisation(conn, Actor.system(), "Test Practice", now=NOW)
        create_user(
            conn,
            Actor.system(),
            organisation_id=org,
            username="alice",
            role="therapist",
            display_name="Alice",
            now=NOW,
        )
    yield engine
    engine.dispose()


def write(path: Path) -> Path:
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def test_it_scores_a_phq9_with_one_item_missing_and_keeps_its_risk(tmp_path: Path) -> None:
    scores = read_scores_csv(write(tmp_path / "s.csv"))
    [row] = scores.rows
    assert (row.line, row.total, row.validity, row.flags) == (2, 11.25, "prorated", ["risk:phq9:9"])


def test_it_says_a_risk_item_was_endorsed_when_it_refuses_a_row(tmp_path: Path) -> None:
    scores = read_scores_csv(write(tmp_path / "s.csv"))
    by_line = {p.line: p for p in scores.rejected if "risk item was endorsed" in p.reason}
    assert sorted(by_line) == [3, 4]
    assert by_line[3].field == "items"
    assert "CORE-10 (item 6, Plans to end life)" in by_line[3].reason
    assert by_line[4].field == "item_9"
    # The answers themselves are never echoed.
    assert all("7" not in p.reason for p in scores.rejected if p.line == 4)
    risks = scores.unscored_risk()
    assert risks.select("episode_id", "session", "instrument").rows() == [
        ("C-2/1", 2, "core10"),
        ("C-3/1", 1, "phq9"),
    ]


def test_it_raises_every_risk_in_the_analysis_of_the_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["analyze", str(write(tmp_path / "s.csv")), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    risks = [
        (s["episode_id"], s["session"], s["evidence"]["rule"])
        for s in payload["signals"]
        if s["kind"] == "risk_item"
    ]
    assert sorted(risks) == [
        ("C-1/1", 1, "risk_item"),
        ("C-2/1", 2, "risk_item_unscored"),
        ("C-3/1", 1, "risk_item_unscored"),
    ]
    # Risk comes first.
    assert {s["kind"] for s in payload["signals"][:3]} == {"risk_item"}


def test_it_refuses_an_import_and_says_a_risk_item_was_endorsed(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    source = write(tmp_path / "s.csv")
    result = CliRunner().invoke(
        main, ["import", str(source), "--db", database_url], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert "risk item was endorsed" in " ".join(result.output.split())
