"""`alliance serve`: run the web app with uvicorn."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click


@click.command(
    epilog="Example: alliance serve --demo\n\n"
    "Example: alliance serve --db sqlite:///clinic.db --port 8080"
)
@click.option(
    "--db",
    "database_url",
    default=None,
    help="Database URL (default: ALLIANCE_DATABASE_URL or the user data dir).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.option(
    "--demo", is_flag=True, help="Serve a fresh SQLite file filled with the synthetic demo clinic."
)
@click.option(
    "--write-batch",
    default=None,
    type=click.IntRange(1, 1000),
    help="Most writes committed together (group commit); 1 commits each alone "
    "[default: ALLIANCE_WRITE_BATCH or 64].",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(1, 64),
    help="Worker processes [default: ALLIANCE_WORKERS or 1]; more than 1 needs PostgreSQL.",
)
@click.option(
    "--forwarded-allow-ips",
    "trusted_proxies",
    default=None,
    help="Proxy addresses whose X-Forwarded-For/-Proto are believed, comma-separated "
    "[default: ALLIANCE_TRUSTED_PROXIES, empty: the headers are ignored].",
)
def serve(
    database_url: str | None,
    host: str,
    port: int,
    demo: bool,
    write_batch: int | None,
    workers: int | None,
    trusted_proxies: str | None,
) -> None:
    """Serve the web app (pages and the /api JSON routes)."""
    import uvicorn

    from alliance.config import export_for_workers, link_address_warning, load_settings
    from alliance.store.engine import make_engine
    from alliance.store.migrate import upgrade
    from alliance.web import create_app
    from alliance.web.app import resolve_secret_key

    if demo and database_url:
        raise click.UsageError("--demo makes its own database; leave out --db")
    if demo:
        folder = Path(tempfile.mkdtemp(prefix="alliance-demo-"))
        database_url = f"sqlite:///{folder / 'demo.db'}"
    settings = load_settings(
        database_url=database_url,
        write_batch=write_batch,
        workers=workers,
        trusted_proxies=trusted_proxies,
    )
    if settings.workers > 1 and settings.is_sqlite:
        raise click.UsageError(
            f"--workers {settings.workers} is refused on SQLite; allowed: 1. SQLite has one "
            "writer, kept by one process; use a PostgreSQL database for several workers."
        )
    # A PostgreSQL server without a secret key is refused before anything touches its database.
    resolve_secret_key(settings)
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    if demo:
        from rich.progress import Progress

        from alliance.store.demo import populate

        with Progress(transient=True) as progress:
            task = progress.add_task("Building the demo clinic", total=None)
            accounts = populate(
                engine,
                seed=0,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
        click.echo(f"Demo database: {settings.database_url}")
        click.echo("Demo accounts (one-time passwords; you choose your own at first sign-in):")
        for account in accounts:
            click.echo(f"  {account.role:<11} {account.username:<10} {account.password}")
    else:
        from alliance.cli.core_cmds import FIRST_ADMIN
        from alliance.services.admin import has_admin

        upgrade(engine)
        with engine.connect() as conn:
            if not has_admin(conn):
                click.echo(FIRST_ADMIN)
    warning = link_address_warning(settings.public_url, host)
    if warning:
        click.echo(f"Warning: {warning}", err=True)
    click.echo(f"Alliance at http://{host}:{port}/")
    if settings.public_url:
        click.echo(f"Client links start with {settings.public_url}/")
    # The app reads forwarded addresses itself, only from ALLIANCE_TRUSTED_PROXIES; uvicorn's
    # own handling (which believes 127.0.0.1 by default) stays off.
    level = settings.log_level.lower()
    if settings.workers > 1:
        engine.dispose()
        export_for_workers(settings)
        uvicorn.run(
            "alliance.web.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            proxy_headers=False,
            access_log=False,
            host=host,
            port=port,
            log_level=level,
        )
        return
    app = create_app(settings, engine=engine)
    uvicorn.run(app, host=host, port=port, log_level=level, proxy_headers=False, access_log=False)
