"""The `alliance` command: thin; each subcommand parses its arguments and calls the core.

Subcommands are imported when they are run or asked for their help, never when `alliance`
starts: `alliance --help` reads the table below and a quick `alliance score` loads the measures
and nothing else. A test checks that every entry resolves and that its short help is the
command's own.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from alliance import __version__
from alliance.cli.errors import BadInput
from alliance.errors import AllianceError

# name -> ("module:attribute", short help as `alliance --help` lists it)
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": (
        "alliance.cli.analytics_cmds:analyze_cmd",
        "Run the whole analysis on a score CSV, with no database.",
    ),
    "audit": (
        "alliance.cli.trust_cmds:audit_group",
        "Check and read the hash-chained audit log.",
    ),
    "backup": (
        "alliance.cli.trust_cmds:backup_cmd",
        "Copy a SQLite database to FILE while it runs (one consistent snapshot).",
    ),
    "change": (
        "alliance.cli.measure_cmds:change_cmd",
        "Reliable change (Jacobson & Truax) and its classification between two totals.",
    ),
    "demo": (
        "alliance.cli.core_cmds:demo",
        "Fill an empty database with a synthetic clinic and print one-time logins.",
    ),
    "etr": (
        "alliance.cli.analytics_cmds:etr_group",
        "Expected treatment response models (not-on-track alerts).",
    ),
    "export": (
        "alliance.cli.analytics_cmds:export_cmd",
        "Export every scored administration in the long shape `alliance import` reads.",
    ),
    "export-research": (
        "alliance.cli.trust_cmds:export_research_cmd",
        "Write a de-identified copy for research: pseudonyms, shifted dates, a manifest.",
    ),
    "fhir": (
        "alliance.cli.measure_cmds:fhir_group",
        "FHIR R4 export and import of measures (shipped wording only).",
    ),
    "import": (
        "alliance.cli.analytics_cmds:import_cmd",
        "Import a score CSV: every row or none (problems are listed by line, field and reason).",
    ),
    "init": (
        "alliance.cli.core_cmds:init",
        "Create the database or bring it up to date (safe to run again).",
    ),
    "instrument": (
        "alliance.cli.measure_cmds:instrument_cmd",
        "Show one instrument's items, scale, scoring key and licence.",
    ),
    "instruments": (
        "alliance.cli.measure_cmds:instruments_cmd",
        "List the measures: id, name, items, licence and whether the wording ships.",
    ),
    "mail": (
        "alliance.cli.mail_cmds:mail_group",
        "Email and text messages through the clinic's own gateways.",
    ),
    "outbox": (
        "alliance.cli.mail_cmds:outbox_group",
        "The queue of email and text messages (the web app sends it in the background).",
    ),
    "restore": (
        "alliance.cli.trust_cmds:restore_cmd",
        "Check a backup FILE (integrity, audit chain) and copy it into the database.",
    ),
    "score": (
        "alliance.cli.measure_cmds:score_cmd",
        "Score one administration: total, subscales, band, caseness, flags and validity.",
    ),
    "serve": (
        "alliance.cli.web_cmds:serve",
        "Serve the web app (pages and the /api JSON routes).",
    ),
    "token": (
        "alliance.cli.account_cmds:token_group",
        "Personal API tokens: other software calls the JSON API as a user.",
    ),
    "transcript": (
        "alliance.cli.transcript_cmds:transcript",
        "Code session transcripts (MITI-style) and profile them.",
    ),
    "user": (
        "alliance.cli.account_cmds:user_group",
        "Create accounts (the first admin of a new clinic, or anyone after).",
    ),
}


class AllianceGroup(click.Group):
    """Subcommands loaded on demand from a table, and the one error boundary.

    An `AllianceError` from any subcommand is printed (stderr) and exits 2; anything else is a
    bug and keeps its traceback (click passes it through untouched).
    """

    def __init__(
        self, *args: Any, lazy: Mapping[str, tuple[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self.add_command(self._load(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def _load(self, name: str) -> click.Command:
        module_name, _, attribute = self.lazy[name][0].partition(":")
        command = getattr(importlib.import_module(module_name), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{self.lazy[name][0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List every command with its short help from the table, importing none of them."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                rows.append((name, command.get_short_help_str(limit)))
            else:  # shortened to the width exactly as click shortens a command's own help
                placeholder = click.Command(name, help=self.lazy[name][1])
                rows.append((name, placeholder.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AllianceError as error:
            raise BadInput(str(error)) from error


@click.group(
    cls=AllianceGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: alliance serve --demo",
)
@click.version_option(__version__, prog_name="alliance")
def main() -> None:
    """Alliance: the therapeutic relationship, measured session by session."""
