"""The CLI's one error boundary: a refusal exits 2 with its message; a bug keeps its traceback."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance.cli import main
from alliance.transcripts.errors import ExtraMissingError, embeddings_extra

ANSWERS = '{"1":1,"2":2,"3":1,"4":0,"5":0,"6":1,"7":0,"8":0,"9":1}'


def test_it_prints_a_refusal_and_exits_2(tmp_path: Path) -> None:
    # BackupError (an AllianceError) from deep in the store, with no handler in the command.
    result = CliRunner().invoke(
        main, ["backup", str(tmp_path / "b.db"), "--db", "postgresql+psycopg://u@h/db"]
    )
    assert result.exit_code == 2, result.output
    assert "backup: postgresql databases are backed up with their own tools" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # a clean exit, not an error let through


def test_it_names_the_item_when_an_instrument_refuses_an_answer() -> None:
    result = CliRunner().invoke(main, ["score", "phq9", "--answers", '{"1": 9}'])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: phq9 item 1: value 9 is not allowed")


def test_it_refuses_a_bad_setting_from_the_environment_with_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["init", "--db", f"sqlite:///{tmp_path / 'c.db'}"],
        env={"ALLIANCE_LINK_TTL_MINUTES": "2"},
    )
    assert result.exit_code == 2
    assert "link_ttl_minutes: '2' is refused" in result.stderr
    assert "greater than or equal to 5" in result.stderr
    assert not (tmp_path / "c.db").exists()


def test_it_lets_a_bare_value_error_through(monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches a boundary that turns every ValueError (a bug) into a tidy exit 2."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ValueError("a bug, not a refusal")

    monkeypatch.setattr("alliance.instruments.score", broken)
    result = CliRunner().invoke(main, ["score", "phq9", "--answers", ANSWERS])
    assert result.exit_code == 1
    assert isinstance(result.exception, ValueError)
    assert "a bug, not a refusal" not in result.output


def test_a_bug_crashes_the_process_with_its_traceback() -> None:
    script = (
        "import sys, alliance.instruments as i\n"
        "def broken(*a, **k): raise ValueError('a bug, not a refusal')\n"
        "i.score = broken\n"
        "from alliance.cli import main\n"
        "main(['score', 'phq9', '--answers', sys.argv[1]], prog_name='alliance')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, ANSWERS], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "ValueError: a bug, not a refusal" in done.stderr


def test_click_usage_errors_keep_their_own_message() -> None:
    result = CliRunner().invoke(main, ["score", "phq9"])
    assert result.exit_code == 2
    assert "Missing option '--answers'" in result.stderr
    assert "Usage: " in result.stderr


def test_it_says_which_extra_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as if torch were not installed
    monkeypatch.delitem(sys.modules, "alliance.transcripts.embeddings", raising=False)
    session = tmp_path / "s.txt"
    session.write_text("T: How are you?\nC: Fine.\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["transcript", "code", str(session), "--tier", "embeddings"])
    assert result.exit_code == 2, result.output
    assert "needs the optional extra (torch is not installed)" in result.stderr
    assert "pip install 'alliance[embeddings]'" in result.stderr


def test_only_the_extras_packages_count_as_a_missing_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with (
        pytest.raises(ExtraMissingError, match="transformers is not installed"),
        embeddings_extra(),
    ):
        importlib.import_module("transformers")
    # A module of ours that fails to import is a bug, not a missing extra.
    monkeypatch.setitem(sys.modules, "alliance.not_a_module", None)
    with pytest.raises(ModuleNotFoundError) as raised, embeddings_extra():
        importlib.import_module("alliance.not_a_module")
    assert not isinstance(raised.value, ExtraMissingError)
