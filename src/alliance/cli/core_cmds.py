"""Core commands: `alliance init` and `alliance demo` (thin: parse, call the store, print)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

import click

from alliance.cli.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

F = TypeVar("F", bound=Callable[..., object])


FIRST_ADMIN = (
    "No account can sign in yet. Create the first admin:\n"
    '  alliance user add USERNAME --role admin --name "Full Name"'
)


def db_option(function: F) -> F:
    """The shared --db option (wins over ALLIANCE_DATABASE_URL)."""
    return click.option(
        "--db",
        "database_url",
        metavar="URL",
        default=None,
        help="Database URL, e.g. sqlite:///clinic.db or postgresql://user@host/db "
        "(default: ALLIANCE_DATABASE_URL, else a SQLite file in your data folder).",
    )(function)


def engine_from(database_url: str | None) -> Engine:
    """Validated settings, then an engine: the one way commands reach the database."""
    from alliance.config import load_settings
    from alliance.store.engine import make_engine

    settings = load_settings(database_url=database_url)
    return make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


@contextmanager
def opened(database_url: str | None) -> Iterator[Engine]:
    """The command's engine (`engine_from`), disposed when the command is done with it."""
    engine = engine_from(database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def connection(database_url: str | None, *, write: bool = False) -> Iterator[Connection]:
    """One connection for the command: a transaction committed at the end when `write`."""
    with opened(database_url) as engine, engine.begin() if write else engine.connect() as conn:
        yield conn


def shown(engine: Engine) -> str:
    from sqlalchemy.engine import make_url

    return make_url(engine.url).render_as_string(hide_password=True)


@click.command(epilog="Example: alliance init --db sqlite:///clinic.db")
@db_option
def init(database_url: str | None) -> None:
    """Create the database or bring it up to date (safe to run again)."""
    from alliance.services.admin import has_admin
    from alliance.store.migrate import current_revision, upgrade

    with opened(database_url) as engine:
        upgrade(engine)
        revision = current_revision(engine)
        with engine.connect() as conn:
            ready = has_admin(conn)
    click.echo(f"Database ready: {shown(engine)} (schema revision {revision}).")
    if not ready:
        click.echo(FIRST_ADMIN)


@click.command(epilog="Example: alliance demo --db sqlite:///demo.db --seed 7")
@db_option
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="The same seed gives the same clinic, row for row.",
)
def demo(database_url: str | None, seed: int) -> None:
    """Fill an empty database with a synthetic clinic and print one-time logins."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
    from rich.table import Table

    from alliance.domain import DomainError
    from alliance.store.demo import populate

    engine = engine_from(database_url)
    console = Console()
    columns = (TextColumn("Writing the demo clinic"), BarColumn(), MofNCompleteColumn())
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("demo", total=None)

            def step(done: int, total: int) -> None:
                if done % 50 == 0 or done == total:
                    progress.update(task, completed=done, total=total)

            accounts = populate(engine, seed=seed, on_progress=step)
    except DomainError as error:
        # The one refusal here is a database that is not empty; say what to do about it.
        raise BadInput(
            f"{error}; choose a new file with --db (e.g. --db sqlite:///demo.db)"
        ) from None
    finally:
        engine.dispose()
    table = Table(title="Demo accounts (one-time passwords; change at first login)")
    for column in ("username", "role", "password"):
        table.add_column(column)
    for account in accounts:
        table.add_row(account.username, account.role, account.password)
    console.print(table)
    console.print(f"Demo clinic written to {shown(engine)} with seed {seed}.")
