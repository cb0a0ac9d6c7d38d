"""The analytics commands on real files and real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from alliance.cli import main
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.exports import load_etr_models, load_score_frame
from alliance.store.migrate import upgrade
from alliance.store.people import create_organisation, create_user
from alliance.store.tables import administrations, audit_events, clients, episodes
from tests.conftest import FIXED_NOW

NOW = FIXED_NOW
HEADER = "client,episode,session,date,measure,therapist,status,item_1,item_2,item_3,item_4,total\n"
CLEAN = (
    HEADER
    + "C-A1,1,1,2025-01-06,srs,alice,closed,9,9,9,9,\n"
    + "C-A1,1,1,2025-01-06,phq9,alice,closed,,,,,18\n"
    + "C-A1,1,2,2025-01-13,srs,alice,closed,,,,,30\n"
    + "C-A1,1,2,2025-01-13,phq9,alice,closed,,,,,25\n"
    + "C-B2,1,1,2025-02-03,ors,alice,open,5,5,5,5,\n"
    + "C-B2,1,2,2025-02-10,ors,alice,open,6,6,6,6,\n"
)


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


def count(engine: Engine, table: object) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def test_it_imports_a_clean_file_in_full_and_exports_it(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "scores.csv"
    source.write_text(CLEAN, encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(source), "--db", database_url])
    assert result.exit_code == 0, result.output
    assert "Imported 6 scores: 2 clients, 2 episodes, 4 sessions" in result.output
    assert count(engine, administrations) == 6
    frame = load_score_frame(engine)
    assert sorted(frame["total"].to_list()) == [18.0, 20.0, 24.0, 25.0, 30.0, 36.0]
    assert frame.filter(pl.col("client_id") == "C-A1")["closed"].all()
    out = tmp_path / "export.parquet"
    result = CliRunner().invoke(
        main, ["export", "--db", database_url, "--format", "parquet", str(out)]
    )
    assert result.exit_code == 0, result.output
    exported = pl.read_parquet(out)
    assert exported.height == 6
    assert set(exported["measure"]) == {"srs", "phq9", "ors"}
    csv_out = tmp_path / "export.csv"
    assert (
        CliRunner()
        .invoke(main, ["export", "--db", database_url, "--format", "csv", str(csv_out)])
        .exit_code
        == 0
    )
    # The export reads back through the same validator the import uses.
    from alliance.analytics import read_scores_csv

    assert read_scores_csv(csv_out).ok


def test_it_records_a_dropout_from_the_status_column_and_exports_it(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "scores.csv"
    source.write_text(
        HEADER
        + "C-A1,1,1,2025-01-06,phq9,alice,closed,,,,,18\n"
        + "C-A1,1,2,2025-01-13,phq9,alice,closed,,,,,12\n"
        + "C-D1,1,1,2025-02-03,phq9,alice,open,,,,,20\n"
        + "C-D1,1,2,2025-02-10,phq9,alice,dropout,,,,,19\n"
        + "C-O1,1,1,2025-02-03,phq9,alice,open,,,,,15\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["import", str(source), "--db", database_url])
    assert result.exit_code == 0, result.output
    with engine.connect() as conn:
        reasons = dict(
            conn.execute(
                select(clients.c.code, episodes.c.closing_reason).join(
                    clients, clients.c.id == episodes.c.client_id
                )
            ).all()
        )
    # A plain "closed" does not say why the episode ended.
    assert reasons == {"C-A1": "other", "C-D1": "dropout", "C-O1": None}
    frame = load_score_frame(engine)
    per_client = frame.group_by("client_id").agg(pl.col("dropout").all(), pl.col("closed").all())
    by_client = {r[0]: (r[1], r[2]) for r in per_client.rows()}
    assert by_client == {"C-A1": (False, True), "C-D1": (True, True), "C-O1": (False, False)}
    out = tmp_path / "export.csv"
    exported = CliRunner().invoke(
        main, ["export", "--db", database_url, "--format", "csv", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    statuses = dict(pl.read_csv(out).select("client", "status").unique().rows())
    assert statuses == {"C-A1": "closed", "C-D1": "dropout", "C-O1": "open"}
    from alliance.analytics import read_scores_csv

    read_back = read_scores_csv(out)
    assert read_back.ok
    dropped = read_back.frame().filter(pl.col("dropout"))["client_id"].unique().to_list()
    assert dropped == ["C-D1"]


def test_it_imports_nothing_when_any_row_is_bad(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    source = tmp_path / "scores.csv"
    source.write_text(CLEAN + "C-B2,1,3,2025-02-17,ors,alice,open,5,5,5,12,\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(source), "--db", database_url])
    assert result.exit_code == 2
    assert "item_4" in result.output
    assert "nothing was imported" in result.output
    assert count(engine, administrations) == 0
    assert count(engine, clients) == 0


def test_it_rolls_back_when_the_store_refuses_a_row(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    # Session 3 with no session 2: the store numbers sessions in order and refuses the gap,
    # after the first client was already written in the same transaction.
    source = tmp_path / "scores.csv"
    source.write_text(
        CLEAN + "C-C3,1,1,2025-02-03,srs,alice,open,,,,,36\n"
        "C-C3,1,3,2025-02-17,srs,alice,open,,,,,36\n",
        encoding="utf-8",
    )
    audit_before = count(engine, audit_events)
    result = CliRunner().invoke(main, ["import", str(source), "--db", database_url])
    assert result.exit_code == 2, result.output
    assert "next is 2" in result.output
    assert count(engine, episodes) == 0
    assert count(engine, audit_events) == audit_before


def test_it_refuses_an_unknown_therapist(engine: Engine, database_url: str, tmp_path: Path) -> None:
    source = tmp_path / "scores.csv"
    source.write_text(CLEAN.replace("alice", "zed"), encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(source), "--db", database_url])
    assert result.exit_code == 2
    assert "therapist" in result.output
    assert count(engine, administrations) == 0


def test_it_fits_and_stores_etr_models(engine: Engine, database_url: str, tmp_path: Path) -> None:
    lines = [HEADER]
    for c in range(40):
        for s, total in enumerate((18, 15, 12, 10, 9), start=1):
            lines.append(
                f"C-{c:04d},1,{s},2025-01-{s * 5:02d},phq9,alice,closed,,,,,{total - c % 3}\n"
            )
    source = tmp_path / "many.csv"
    source.write_text("".join(lines), encoding="utf-8")
    assert CliRunner().invoke(main, ["import", str(source), "--db", database_url]).exit_code == 0
    result = CliRunner().invoke(main, ["etr", "fit", "--db", database_url])
    assert result.exit_code == 0, result.output
    assert "phq9: learned from 40 episodes" in result.output
    models = load_etr_models(engine)
    assert models["phq9"].n_episodes == 40


def test_it_analyzes_a_csv_without_a_database(tmp_path: Path) -> None:
    source = tmp_path / "scores.csv"
    source.write_text(CLEAN + "C-B2,1,3,2025-02-17,gad8,alice,open,,,,,4\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["analyze", str(source), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rejected"] == [
        {
            "line": 8,
            "field": "measure",
            "reason": "'gad8' is unknown; allowed: phq9, gad7, core10, ors, srs, wai_sr, gbo",
        }
    ]
    kinds = {(s["kind"], s["session"]) for s in payload["signals"]}
    assert ("reliable_deterioration", 2) in kinds  # PHQ-9 18 -> 25
    assert ("alliance_low", 2) in kinds  # SRS 30 < 36
    # The shipped models were fitted on synthetic episodes: listed, never used for an alert.
    assert payload["models"]["phq9"]["used"] is False
    assert payload["models"]["phq9"]["synthetic"] is True
    text = CliRunner().invoke(main, ["analyze", str(source)])
    assert text.exit_code == 0
    assert "Signals" in text.output


@pytest.mark.parametrize("command", [["analyze"], ["import"], ["export"], ["etr", "fit"]])
def test_it_documents_each_command_with_an_example(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--help"])
    assert result.exit_code == 0
    assert "Example: alliance" in result.output
