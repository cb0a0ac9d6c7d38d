"""`alliance init` and `alliance demo` through click, on a real SQLite file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from alliance.cli import COMMANDS, main
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


def _modules_loaded_by(*args: str) -> set[str]:
    """The modules a fresh `alliance ARGS` process has imported when it is done."""
    script = (
        "import sys\n"
        "from alliance.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:], prog_name='alliance')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('--- modules:', *sorted(sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    return set(done.stdout.rpartition("--- modules:")[2].split())


PHQ9 = '{"1":1,"2":2,"3":1,"4":0,"5":0,"6":1,"7":0,"8":0,"9":1}'
HEAVY = ("sqlalchemy", "polars", "scipy", "rich", "pydantic_settings", "fastapi", "torch")


def test_every_command_in_the_lazy_table_resolves_with_its_own_short_help() -> None:
    """Catches a typo in a module or attribute name, and a table help that drifted."""
    ctx = click.Context(main)
    assert isinstance(main, click.Group)
    for name, (target, short_help) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command), target
        assert command.name == name, target
        assert command.get_short_help_str(10_000) == short_help, name


def test_help_lists_every_command_without_importing_one() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.split("Commands:\n")[1].splitlines()[:-2]]
    assert listed == sorted(COMMANDS)
    assert "score            Score one administration: total, subscales, band,..." in result.output
    loaded = _modules_loaded_by("--help")
    assert not {m for m in loaded if m.startswith("alliance.cli.") and m.endswith("_cmds")}
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}


def test_score_loads_the_measures_and_nothing_heavier() -> None:
    """Catches a command module importing the database, dataframes or rich at its top."""
    loaded = _modules_loaded_by("score", "phq9", "--answers", PHQ9)
    assert "alliance.instruments.scoring" in loaded
    assert {m.split(".")[0] for m in loaded} & set(HEAVY) == set()
    assert not {m for m in loaded if m.startswith(("alliance.store", "alliance.analytics"))}
