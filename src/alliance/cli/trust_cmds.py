"""Trust commands: `alliance audit verify|show`, `backup`, `restore`, `export-research`."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from alliance.cli.core_cmds import connection, db_option


@click.group(
    "audit",
    epilog="Example: alliance audit verify --db sqlite:///clinic.db\n\n"
    "Example: alliance audit show --object episode:12 --since 2025-01-01",
)
def audit_group() -> None:
    """Check and read the hash-chained audit log."""


@audit_group.command(
    "verify",
    epilog="Example: alliance audit verify --db sqlite:///clinic.db\n\n"
    "Example: alliance audit verify --expect-head 3f9a… (the head printed by alliance backup)",
)
@db_option
@click.option(
    "--expect-head",
    default=None,
    metavar="HASH",
    help="A head hash noted earlier (alliance backup prints one); exit 1 if the chain lost it.",
)
def audit_verify(database_url: str | None, expect_head: str | None) -> None:
    """Walk the chain and re-hash clinical rows; exit 1 naming what was changed or removed."""
    from alliance.store import audit

    with connection(database_url) as conn:
        events = audit.events(conn)
        bad = audit.verify(conn)
        rows = audit.changed_rows(conn)
        has_head = expect_head is None or audit.contains(conn, expect_head.strip().lower())
    head = events[-1].hash if events else "(empty)"
    problems: list[str] = []
    if bad is not None:
        problems.append(
            f"Audit chain BROKEN at seq {bad}: that event was changed, or one before it was "
            "removed or reordered."
        )
    if rows.changed:
        problems.append(
            f"Clinical rows changed outside the program ({len(rows.changed)}): "
            + "; ".join(rows.changed[:20])
            + ("; …" if len(rows.changed) > 20 else "")
        )
    if not has_head:
        problems.append(
            f"Expected head {expect_head} is not in the chain: the newest events were removed "
            "(or the chain was replaced)."
        )
    click.echo(f"Head hash {head} ({len(events)} events; {rows.checked} rows re-hashed)")
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        sys.exit(1)
    click.echo(f"Audit chain intact: {len(events)} events; head hash {head}")


def _parse_since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD or YYYY-MM-DDTHH:MM", param_hint="--since"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit_group.command(
    "show", epilog="Example: alliance audit show --actor 3 --action read --since 2025-01-01"
)
@db_option
@click.option("--actor", type=int, default=None, help="Only events by this user id.")
@click.option(
    "--object",
    "object_ref",
    default=None,
    metavar="TYPE[:ID]",
    help="Only events on this object type, or one object (e.g. episode:12).",
)
@click.option("--since", default=None, help="Only events at or after this UTC date or time.")
@click.option("--action", default=None, help="Only this action (e.g. read, create, break_glass).")
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many events.")
def audit_show(
    database_url: str | None,
    actor: int | None,
    object_ref: str | None,
    since: str | None,
    action: str | None,
    limit: int | None,
) -> None:
    """List audit events (who, what, which record, when, from where), oldest first."""
    from rich.console import Console
    from rich.table import Table

    from alliance.store import audit

    object_type, object_id = None, None
    if object_ref:
        object_type, _, raw_id = object_ref.partition(":")
        object_id = raw_id or None
    moment = _parse_since(since)
    with connection(database_url) as conn:
        found = audit.search(
            conn,
            actor=actor,
            object_type=object_type,
            object_id=object_id,
            action=action,
            since=moment,
            limit=limit,
        )
    table = Table(title=f"{len(found)} audit events")
    for column in ("seq", "at (UTC)", "actor", "action", "object", "from"):
        table.add_column(column)
    for event in found:
        table.add_row(
            str(event.seq),
            event.at.strftime("%Y-%m-%d %H:%M:%S"),
            "system" if event.actor is None else str(event.actor),
            event.action,
            event.object_type + (f":{event.object_id}" if event.object_id else ""),
            event.ip or "",
        )
    Console(width=120).print(table)


@click.command(
    "backup",
    epilog="Example: alliance backup backups/clinic-2025-06-01.db --db sqlite:///clinic.db",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@db_option
def backup_cmd(file: Path, database_url: str | None) -> None:
    """Copy a SQLite database to FILE while it runs (one consistent snapshot)."""
    from alliance.config import load_settings
    from alliance.store import audit
    from alliance.store.backup import backup, sqlite_path
    from alliance.store.base import Actor
    from alliance.store.engine import make_engine

    settings = load_settings(database_url=database_url)
    sqlite_path(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            audit.record(conn, Actor.system(), "backup", "database", None)
    finally:
        engine.dispose()
    result = backup(settings.database_url, file)
    chain = "intact" if result.audit_first_bad is None else f"BROKEN at {result.audit_first_bad}"
    click.echo(
        f"Backup written: {result.path} ({result.bytes} bytes; "
        f"audit chain {chain}, {result.audit_events} events)."
    )
    click.echo(
        f"Audit head hash {result.audit_head}: note it; `alliance audit verify --expect-head "
        f"{result.audit_head}` later shows whether newer events were removed."
    )
    click.echo(
        "Keep the secret key (ALLIANCE_SECRET_KEY or the .secret file) and the research key "
        "(ALLIANCE_RESEARCH_KEY) safe separately; neither is in the backup."
    )


@click.command(
    "restore",
    epilog="Example: alliance restore backups/clinic-2025-06-01.db --db sqlite:///restored.db",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@click.option("--force", is_flag=True, help="Replace a database that already has data.")
def restore_cmd(file: Path, database_url: str | None, force: bool) -> None:
    """Check a backup FILE (integrity, audit chain) and copy it into the database."""
    from alliance.config import load_settings
    from alliance.store.backup import restore

    settings = load_settings(database_url=database_url)
    result = restore(file, settings.database_url, overwrite=force)
    click.echo(f"Restored into {result.path}: audit chain intact, {result.audit_events} events.")


@click.command(
    "export-research",
    epilog="Example: alliance export-research research-2025/ --db sqlite:///clinic.db",
)
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@db_option
@click.option(
    "--include-free-text",
    is_flag=True,
    help="Keep free text (goals, notes, boundary entries); dropped by default.",
)
def export_research_cmd(out: Path, database_url: str | None, include_free_text: bool) -> None:
    """Write a de-identified copy for research: pseudonyms, shifted dates, a manifest.

    Needs the research key (ALLIANCE_RESEARCH_KEY, 16 characters or more, not the secret key);
    the same key gives the same pseudonyms, so keep it to export again later.
    """
    from rich.console import Console
    from rich.progress import Progress

    from alliance.config import load_settings
    from alliance.store.engine import make_engine
    from alliance.store.research import export_research, require_research_key

    settings = load_settings(database_url=database_url)
    key = require_research_key(settings.research_key)  # before the database is touched
    engine = make_engine(settings.database_url)
    console = Console(stderr=True)
    try:
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("Exporting", total=8)

            def step(_table: str, _rows: int) -> None:
                progress.advance(task)

            with engine.connect() as conn:
                result = export_research(
                    conn, out, key, include_free_text=include_free_text, on_table=step
                )
                conn.commit()
    finally:
        engine.dispose()
    total = sum(result.rows.values())
    click.echo(
        f"Research export written to {result.folder}: {len(result.rows)} tables, {total} rows; "
        f"free text {'included' if include_free_text else 'removed'}; see manifest.json."
    )
