"""Accounts and API tokens from the command line: the first admin, then anyone after.

Thin: parse, call alliance.services (admin, tokens), print. Refusals are AllianceErrors and
reach the one error boundary (exit 2, the message).
"""

from __future__ import annotations

import click

from alliance.cli.core_cmds import connection, db_option

ROLES = ("admin", "therapist", "supervisor")


@click.group("user", epilog='Example: alliance user add ada --role admin --name "Ada Lovelace"')
def user_group() -> None:
    """Create accounts (the first admin of a new clinic, or anyone after)."""


@user_group.command(
    "add",
    epilog='Example: alliance user add ada --role admin --name "Ada Lovelace"',
)
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@click.option("--name", "display_name", default=None, help="Full name shown in the app.")
@click.option(
    "--supervisor", default=None, metavar="USERNAME", help="A therapist's supervisor (username)."
)
@click.option(
    "--clinic",
    default=None,
    help="The clinic's name, used when the first account creates it (default: Our clinic).",
)
@click.option("--email", default=None, help="Where risk notifications reach this user (optional).")
@db_option
def user_add(
    username: str,
    role: str,
    display_name: str | None,
    supervisor: str | None,
    clinic: str | None,
    email: str | None,
    database_url: str | None,
) -> None:
    """Create an account and print its one-time password (changed at first sign-in)."""
    from alliance.services import admin

    with connection(database_url, write=True) as conn:
        account = admin.add_account_from_command_line(
            conn,
            username=username,
            role=role,
            display_name=display_name,
            supervisor=supervisor,
            clinic=clinic,
            email=email,
        )
    click.echo(f"Account {account.username} created ({role}).")
    click.echo(f"One-time password: {account.one_time_password}")
    click.echo("It is shown once; sign in with it and choose a new password.")


@click.group("token", epilog="Example: alliance token create ada --label reporting")
def token_group() -> None:
    """Personal API tokens: other software calls the JSON API as a user."""


@token_group.command(
    "create", epilog="Example: alliance token create ada --label reporting --expires-days 90"
)
@click.argument("username")
@click.option("--label", default="API token", show_default=True, help="What the token is for.")
@click.option(
    "--expires-days", type=int, default=None, help="Days until it stops working (default: never)."
)
@db_option
def token_create(
    username: str, label: str, expires_days: int | None, database_url: str | None
) -> None:
    """Create a token for USERNAME and print it once (only its hash is kept)."""
    from alliance.services import tokens

    with connection(database_url, write=True) as conn:
        new = tokens.create_token(conn, username, label=label, expires_days=expires_days)
    until = f"until {new.expires_at:%Y-%m-%d %H:%M} UTC" if new.expires_at else "until revoked"
    click.echo(f"Token {new.id} for {username.strip().lower()} ({until}):")
    click.echo(new.token)
    click.echo("Send it as 'Authorization: Bearer <token>'. It is shown once.")


@token_group.command("revoke", epilog="Example: alliance token revoke 3")
@click.argument("token_id", type=int)
@db_option
def token_revoke(token_id: int, database_url: str | None) -> None:
    """Revoke a token: it stops working at once."""
    from alliance.services import tokens

    with connection(database_url, write=True) as conn:
        tokens.revoke_token(conn, token_id)
    click.echo(f"Token {token_id} revoked.")


@token_group.command("list", epilog="Example: alliance token list")
@db_option
def token_list(database_url: str | None) -> None:
    """List tokens without their secrets: id, user, label, state, expiry, last use."""
    from alliance.services import tokens
    from alliance.store.base import utc_now

    with connection(database_url) as conn:
        rows = tokens.list_tokens(conn)
    now = utc_now()
    if not rows:
        click.echo("No API tokens.")
    for row in rows:
        expires = f"{row.expires_at:%Y-%m-%d}" if row.expires_at else "never"
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        click.echo(
            f"{row.id}\t{row.username}\t{row.label}\t{row.prefix}…\t{row.state(now)}"
            f"\texpires {expires}\tlast used {used}"
        )
