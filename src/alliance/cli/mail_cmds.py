"""`alliance mail test` and `alliance outbox run`: check the gateways, send what is queued.

Thin: parse, call alliance.services (gateways, sender), print. A refusal (unreachable host,
refused login, TLS failure, a gateway's error) reaches the one error boundary: exit 2.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from alliance.cli.core_cmds import db_option

if TYPE_CHECKING:
    from alliance.config import Settings
    from alliance.services.gateways import MailServer


@click.group("mail", epilog="Example: alliance mail test you@example.org")
def mail_group() -> None:
    """Email and text messages through the clinic's own gateways."""


@mail_group.command(
    "test",
    epilog="Example: alliance mail test you@example.org\n\n"
    "Example: alliance mail test +4915112345678",
)
@click.argument("address")
@db_option
def mail_test(address: str, database_url: str | None) -> None:
    """Send a test message to ADDRESS (an email address, or a phone number for the SMS gateway).

    Email goes through ALLIANCE_SMTP_URL when it is set, else the mail server an admin saved on
    the Email and text messages page.
    """
    from alliance.config import load_settings
    from alliance.services import gateways

    settings = load_settings(database_url=database_url)
    clinic = settings.clinic_name or "your clinic"
    text = f"A test message from Alliance for {clinic}: the set-up works."
    if "@" not in address:
        answer = gateways.send_sms(settings, address.strip(), text)
        click.echo(f"Sent. The gateway answered: {answer}")
        return
    server = _mail_server(settings)
    if server is None:
        raise gateways.GatewayError(gateways.NOT_SET_UP, retry=False)
    greeting, how = gateways.check_email_setup(server.target)
    where = "by ALLIANCE_SMTP_URL" if server.source == "environment" else "on the admin page"
    click.echo(
        f"Connected to {server.target.host}:{server.target.port} ({how}), set {where}: {greeting}"
    )
    answer = gateways.send_email(server, address.strip(), "Alliance: a test message", text)
    click.echo(f"Sent. The gateway answered: {answer}")


def _mail_server(settings: Settings) -> MailServer | None:
    """The environment's mail server, else the one kept in the database (opened with the key)."""
    from sqlalchemy.engine import make_url

    from alliance.services import gateways, mail_settings
    from alliance.store.engine import make_engine
    from alliance.store.migrate import current_revision
    from alliance.web.app import resolve_secret_key

    found = gateways.environment_mail(settings)
    if found is not None:
        return found
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or ":memory:").exists():
        return None  # no database yet (before `alliance init`): nothing saved on the page
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        if current_revision(engine) is None:
            return None  # no database yet (before `alliance init`)
        with engine.connect() as conn:
            return mail_settings.mail_server(conn, settings, resolve_secret_key(settings))
    finally:
        engine.dispose()


@click.group("outbox", epilog="Example: alliance outbox run --once")
def outbox_group() -> None:
    """The queue of email and text messages (the web app sends it in the background)."""


@outbox_group.command("run", epilog="Example: alliance outbox run --once  (from cron)")
@click.option("--once", is_flag=True, help="One pass over what is due, then exit.")
@db_option
def outbox_run(once: bool, database_url: str | None) -> None:
    """Send every message due (with a second sender running too, each is sent once)."""
    from alliance.config import load_settings
    from alliance.services.sender import run_once
    from alliance.store.engine import make_engine
    from alliance.web.app import resolve_secret_key

    settings = load_settings(database_url=database_url)
    key = resolve_secret_key(settings)
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    try:
        while True:
            summary = run_once(engine, settings, key)
            click.echo(
                f"sent {summary.sent}, retrying {summary.retried}, failed {summary.failed}, "
                f"not sent {summary.cancelled}, reminders queued {summary.reminders}"
            )
            if once:
                return
            time.sleep(settings.outbox_poll_seconds)
    finally:
        engine.dispose()
