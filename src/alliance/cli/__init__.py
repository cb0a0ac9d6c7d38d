"""The `alliance` command: thin; each subcommand parses its arguments and calls the core."""

from __future__ import annotations

from typing import Any

import click

from alliance import __version__
from alliance.cli import (
    analytics_cmds,
    core_cmds,
    measure_cmds,
    transcript_cmds,
    trust_cmds,
    web_cmds,
)
from alliance.cli.errors import BadInput
from alliance.errors import AllianceError


class AllianceGroup(click.Group):
    """The one error boundary: an `AllianceError` from any subcommand is printed and exits 2.

    Anything else is a bug and keeps its traceback (click passes it through untouched).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AllianceError as error:
            raise BadInput(str(error)) from error


@click.group(
    cls=AllianceGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="Example: alliance serve --demo",
)
@click.version_option(__version__, prog_name="alliance")
def main() -> None:
    """Alliance: the therapeutic relationship, measured session by session."""


for _module in (
    core_cmds,
    measure_cmds,
    analytics_cmds,
    transcript_cmds,
    web_cmds,
    trust_cmds,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)
