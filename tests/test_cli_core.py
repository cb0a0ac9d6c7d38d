"""`alliance init` and `alliance demo` through click, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from alliance.cli import main
from alliance.store.engine import make_engine
from alliance.store.migrate import current_revision, head
from alliance.store.tables import episodes, users


def test_it_initialises_a_database_and_can_run_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    for _ in range(2):
        result = CliRunner().invoke(main, ["init", "--db", url])
        assert result.exit_code == 0, result.output
        assert f"schema revision {head()}" in result.output
    engine = make_engine(url)
    assert current_revision(engine) == head()
    engine.dispose()


def test_it_reads_the_database_url_from_the_environment(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    result = CliRunner().invoke(main, ["init"], env={"ALLIANCE_DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env.db").exists()


def test_it_refuses_an_unsupported_database_url() -> None:
    result = CliRunner().invoke(main, ["init", "--db", "mysql://clinic"])
    assert result.exit_code == 2
    assert "database_url: 'mysql' is not supported" in result.output


@pytest.mark.slow
def test_it_writes_the_demo_and_prints_one_time_logins(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(main, ["demo", "--db", url, "--seed", "2"])
    assert result.exit_code == 0, result.output
    engine = make_engine(url)
    with engine.connect() as conn:
        names = list(conn.execute(select(users.c.username)).scalars())
        count = conn.execute(select(func.count()).select_from(episodes)).scalar_one()
    engine.dispose()
    for name in names:
        assert name in result.output
    assert count >= 25
    assert "one-time passwords" in result.output

    again = CliRunner().invoke(main, ["demo", "--db", url])
    assert again.exit_code == 2
    assert "the demo needs an empty database" in again.output


@pytest.mark.parametrize("command", ["init", "demo"])
def test_it_shows_an_example_in_help(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert f"Example: alliance {command}" in result.output
    assert "--db" in result.output
