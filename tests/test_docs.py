"""The README's first two commands, the settings and every command's help stay documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from alliance.cli import main
from alliance.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    head = text.split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", head)


def test_it_opens_the_readme_with_exactly_two_commands() -> None:
    commands = _readme_commands()
    assert len(commands) == 2
    assert commands[0].endswith("alliance serve --demo")
    assert "[test]" in commands[1]


def test_it_runs_the_readme_test_command_in_ci_exactly_as_written() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert _readme_commands()[1] in ci.splitlines()


def test_it_documents_every_setting() -> None:
    documented = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`{name}`" in documented, name
        assert f"ALLIANCE_{name.upper()}" in documented, name
        assert field.description, name


def _all_commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command and subcommand, the lazily loaded ones included."""
    found: list[tuple[str, click.Command]] = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        path = f"{prefix} {name}".strip()
        found.append((path, command))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, path))
    return found


@pytest.mark.parametrize(("path", "command"), _all_commands(main))
def test_it_shows_an_example_in_every_commands_help(path: str, command: click.Command) -> None:
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`alliance {path} --help` shows no example"
