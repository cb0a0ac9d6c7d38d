"""Subcommands registered on `alliance` (see alliance.cli)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
