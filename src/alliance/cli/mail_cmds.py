"""`alliance mail test` and `alliance outbox run`: check the gateways, send what is queued.

Thin: parse, call alliance.services (gateways, sender), print. A refusal (unreachable host,
refused login, TLS failure, a gateway's error) reaches the one error boundary: exit 2.
"""

from __future__ import annotations

import time

import click

from alliance.cli.core_cmds import db_option


@click.group("mail", epilog="Example: alliance mail test you@example.org")
def mail_group() -> None:
    """Email and text messages through the clinic's own gateways."""


@mail_group.command(
    "test",
    epilog="Example: alliance mail test you@example.org\n\n"
    "Example: alliance mail test +4915112345678",
)
@click.argument("address")
def mail_test(address: str) -> None:
    """Send a test message to ADDRESS (an email address, or a phone number for the SMS gateway)."""
    from alliance.config import load_settings
    from alliance.services import gateways

    settings = load_settings()
    clinic = settings.clinic_name or "your clinic"
    text = f"A test message from Alliance for {clinic}: the set-up works."
    if "@" in address:
        greeting, how = gateways.check_email_setup(settings)
        target = settings.smtp
        assert target is not None
        click.echo(f"Connected to {target.host}:{target.port} ({how}): {greeting}")
        answer = gateways.send_email(settings, address.strip(), "Alliance: a test message", text)
    else:
        answer = gateways.send_sms(settings, address.strip(), text)
    click.echo(f"Sent. The gateway answered: {answer}")


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
