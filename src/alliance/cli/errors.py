"""How a refusal leaves the command line: its message on stderr, exit status 2."""

from __future__ import annotations

import click


class BadInput(click.ClickException):
    """A refusal the person can act on: the message names the field, the value and what is allowed.

    Exit status 2, as click gives a usage error; an `AllianceError` from any command becomes one
    of these at the one boundary (`alliance.cli.AllianceGroup`).
    """

    exit_code = 2
