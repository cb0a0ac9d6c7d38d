"""Backup -> restore gives identical data; the audit chain verifies before and after."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from alliance.cli import main
from alliance.store import tables as t
from alliance.store.engine import make_engine
from tests.web.clinic import Clinic, build_clinic


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table.name: [
                tuple(row)
                for row in conn.execute(
                    select(table).order_by(*(table.primary_key.columns or table.columns))
                )
            ]
            for table in t.metadata.sorted_tables
        }


@pytest.fixture
def sqlite_clinic(tmp_path: Path) -> tuple[str, Engine, Clinic]:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = make_engine(url)
    return url, engine, build_clinic(engine)


def test_it_restores_a_backup_into_a_fresh_folder_with_identical_data(
    sqlite_clinic: tuple[str, Engine, Clinic], tmp_path: Path
) -> None:
    url, engine, _ = sqlite_clinic
    runner = CliRunner()
    before = runner.invoke(main, ["audit", "verify", "--db", url])
    assert before.exit_code == 0, before.output
    backup_file = tmp_path / "backups" / "clinic.db"
    made = runner.invoke(main, ["backup", str(backup_file), "--db", url])
    assert made.exit_code == 0, made.output
    assert "audit chain intact" in made.output
    fresh = tmp_path / "elsewhere" / "restored.db"
    restored_url = f"sqlite:///{fresh}"
    done = runner.invoke(main, ["restore", str(backup_file), "--db", restored_url])
    assert done.exit_code == 0, done.output
    restored = make_engine(restored_url)
    try:
        assert snapshot(restored) == snapshot(engine)
        assert sum(len(rows) for rows in snapshot(restored).values()) > 50
    finally:
        restored.dispose()
    after = runner.invoke(main, ["audit", "verify", "--db", restored_url])
    assert after.exit_code == 0, after.output
    again = runner.invoke(main, ["restore", str(backup_file), "--db", restored_url])
    assert again.exit_code != 0
    assert "already holds a database" in again.output


def test_it_backs_up_while_the_database_is_written(
    sqlite_clinic: tuple[str, Engine, Clinic], tmp_path: Path
) -> None:
    from alliance.store import goals
    from alliance.store.backup import backup
    from alliance.store.base import Actor

    url, engine, clinic = sqlite_clinic
    writer = engine.connect()
    transaction = writer.begin()
    goals.add_goal(writer, Actor.system(), clinic.rupture_episode, "Uncommitted goal")
    try:
        # A write transaction is open: the backup sees the last committed state only.
        result = backup(url, tmp_path / "online.db")
    finally:
        transaction.rollback()
        writer.close()
    assert result.audit_first_bad is None
    with sqlite3.connect(tmp_path / "online.db") as copy:
        texts = [r[0] for r in copy.execute("SELECT text FROM goals")]
    assert "Uncommitted goal" not in texts
    assert "Sleep through most nights" in texts


def test_it_refuses_to_restore_a_tampered_backup(
    sqlite_clinic: tuple[str, Engine, Clinic], tmp_path: Path
) -> None:
    url, _, _ = sqlite_clinic
    runner = CliRunner()
    backup_file = tmp_path / "b.db"
    assert runner.invoke(main, ["backup", str(backup_file), "--db", url]).exit_code == 0
    with sqlite3.connect(backup_file) as conn:
        conn.execute("UPDATE audit_events SET actor = 99 WHERE seq = 4")
    result = runner.invoke(
        main, ["restore", str(backup_file), "--db", f"sqlite:///{tmp_path / 'r.db'}"]
    )
    assert result.exit_code != 0
    assert "breaks at seq 4" in result.output


def test_it_says_postgresql_has_its_own_tools() -> None:
    result = CliRunner().invoke(
        main, ["backup", "x.db", "--db", "postgresql://postgres@127.0.0.1:5432/postgres"]
    )
    assert result.exit_code != 0
    assert "pg_dump" in result.output


def _tamper(database_url: str, sql: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("sql", "first_bad"),
    [
        ("UPDATE audit_events SET action = 'read' WHERE seq = 7", 7),
        ("UPDATE audit_events SET object_id = '999' WHERE seq = 3", 3),
        ("DELETE FROM audit_events WHERE seq = 5", 6),
    ],
)
def test_it_detects_a_changed_or_deleted_audit_entry(
    database_url: str, sql: str, first_bad: int
) -> None:
    engine = make_engine(database_url)
    try:
        build_clinic(engine)
    finally:
        engine.dispose()
    runner = CliRunner()
    assert runner.invoke(main, ["audit", "verify", "--db", database_url]).exit_code == 0
    _tamper(database_url, sql)
    result = runner.invoke(main, ["audit", "verify", "--db", database_url])
    assert result.exit_code == 1
    assert f"BROKEN at seq {first_bad}" in result.output


def test_it_filters_the_audit_log(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        clinic = build_clinic(engine)
    finally:
        engine.dispose()
    runner = CliRunner()
    shown = runner.invoke(
        main,
        ["audit", "show", "--db", database_url, "--object", f"episode:{clinic.other_episode}"],
    )
    assert shown.exit_code == 0, shown.output
    assert f"episode:{clinic.other_episode}" in shown.output
    assert f"episode:{clinic.rupture_episode} " not in shown.output
    users = runner.invoke(
        main, ["audit", "show", "--db", database_url, "--object", "user", "--action", "create"]
    )
    assert "4 audit events" in users.output  # admin, sam, tess, otto
    none = runner.invoke(
        main, ["audit", "show", "--db", database_url, "--since", "2999-01-01", "--actor", "1"]
    )
    assert "0 audit events" in none.output
    bad = runner.invoke(main, ["audit", "show", "--db", database_url, "--since", "yesterday"])
    assert bad.exit_code == 2
    assert "'yesterday' is not a date" in bad.output
