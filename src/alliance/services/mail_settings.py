"""The clinic's mail server: set by an admin on /admin/mail, or by ALLIANCE_SMTP_URL.

One mail server for the install. The environment wins when it is set (the page says so), so a
clinic that manages its settings as files keeps doing so. A server typed on the page is checked
before it is kept: each field on its own first, then a connection and a login (no message sent),
so an unreachable host or a refused password is an error beside its field and nothing is
stored. The password is sealed with the secret key (alliance.services.sealing): a copy of the
database does not give it away, and no page, log or audit event shows it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, select, update

from alliance.config import Settings, SmtpTarget
from alliance.domain import DomainError
from alliance.domain.people import check_email
from alliance.errors import FormError, NotVisibleError
from alliance.services import gateways, sealing
from alliance.services.gateways import GatewayError, MailServer
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import as_utc, insert_id, utc_now

SEAL_PURPOSE = "mail server password"
# How the page names each way of securing the line, and the port each usually takes.
SECURITY = {
    "starttls": "STARTTLS (usually port 587)",
    "implicit": "TLS from the start (usually port 465)",
}
DEFAULT_PORT = {"starttls": 587, "implicit": 465}
_HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$"
)
# Which field a failed check belongs beside (GatewayError.stage).
_STAGE_FIELD = {"connect": "host", "tls": "security", "login": "password"}


@dataclass(frozen=True)
class StoredServer:
    """The mail server as the admin page shows it: never the password itself."""

    host: str
    port: int
    security: str
    username: str | None
    has_password: bool
    mail_from: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class CheckedServer:
    """A form whose fields are each valid; the connection is still to be tried."""

    target: SmtpTarget
    mail_from: str


def _row(conn: Connection) -> Row[Any] | None:
    """The one kept mail server, if an admin saved one."""
    return conn.execute(select(t.mail_server).order_by(t.mail_server.c.id).limit(1)).first()


def _admin(viewer: Viewer) -> None:
    if viewer.role != "admin":
        raise NotVisibleError("the mail server is set by an admin")


def stored(conn: Connection) -> StoredServer | None:
    row = _row(conn)
    if row is None:
        return None
    updated_by = conn.execute(
        select(t.users.c.display_name).where(t.users.c.id == row.updated_by)
    ).scalar_one()
    return StoredServer(
        host=row.host,
        port=row.port,
        security=row.security,
        username=row.username,
        has_password=row.sealed_password is not None,
        mail_from=row.mail_from,
        updated_at=as_utc(row.updated_at),
        updated_by=updated_by,
    )


def email_ready(conn: Connection, settings: Settings) -> bool:
    """Whether email can be sent at all: ALLIANCE_SMTP_URL, or a server set on the page."""
    return settings.smtp_url is not None or _row(conn) is not None


def mail_server(conn: Connection, settings: Settings, key: str) -> MailServer | None:
    """Where email goes now: the environment's server when set, else the admin's; else None."""
    if settings.smtp_url is not None:  # the settings require mail_from with it
        return gateways.environment_mail(settings)
    row = _row(conn)
    if row is None:
        return None
    password = None
    if row.sealed_password is not None:
        password = sealing.unseal(key, SEAL_PURPOSE, row.sealed_password)
        if password is None:
            raise GatewayError(
                "the mail server's password was stored under another secret key; "
                "an admin types it again on /admin/mail",
                retry=False,
                stage="login",
            )
    target = SmtpTarget(row.host, row.port, row.security, row.username, password)
    return MailServer(target, row.mail_from, "admin page")


def _host(value: str) -> str | None:
    host = value.strip().strip("[]")
    if "://" in value:
        return None
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        return host.rstrip(".") if _HOST_NAME.match(host) else None


def check_form(conn: Connection, key: str, form: dict[str, str]) -> CheckedServer:
    """Each field checked on its own; a FormError names every field that is wrong."""
    errors: dict[str, str] = {}
    host = _host(form.get("host", ""))
    if not form.get("host", "").strip():
        errors["host"] = "the mail server's host name is required, such as smtp.example.org"
    elif host is None:
        errors["host"] = (
            f"{form['host'].strip()[:60]!r} is not a host name or IP address; write only the "
            "name, such as smtp.example.org (no smtp://, no port)"
        )
    security = form.get("security", "")
    if security not in SECURITY:
        errors["security"] = f"{security[:20]!r} is not one of: {', '.join(SECURITY.values())}"
    port_text = form.get("port", "").strip()
    port = DEFAULT_PORT.get(security, 587)
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            errors["port"] = f"{port_text[:10]!r} is not a port number from 1 to 65535"
        else:
            port = int(port_text)
    username = form.get("username", "").strip() or None
    password = form.get("password", "") or None
    if username is not None and len(username) > 254:
        errors["username"] = f"the user has {len(username)} characters; at most 254"
    if password is not None and username is None:
        errors["username"] = "a password needs a user; give the user or leave the password out"
    if username is not None and password is None:
        password = _kept_password(conn, key, username)
        if password is None:
            errors["password"] = f"the password for user {username!r} is required"
    mail_from = form.get("mail_from", "").strip()
    if not mail_from:
        errors["mail_from"] = "the sender's address is required, such as clinic@example.org"
    elif not _is_address(mail_from):
        errors["mail_from"] = (
            f"{mail_from[:60]!r} is not an email address such as clinic@example.org"
        )
    if errors:
        raise FormError(errors)
    assert host is not None
    return CheckedServer(SmtpTarget(host, port, security, username, password), mail_from)


def _is_address(text: str) -> bool:
    try:
        check_email(text)
    except DomainError:
        return False
    return True


def _kept_password(conn: Connection, key: str, username: str) -> str | None:
    """The stored password, when the page is saved again for the same user without one."""
    row = _row(conn)
    if row is None or row.username != username or row.sealed_password is None:
        return None
    return sealing.unseal(key, SEAL_PURPOSE, row.sealed_password)


def try_server(checked: CheckedServer) -> str:
    """Connect and log in, sending nothing: how the line is secured, or a FormError beside
    the field to mend (host for an unreachable server, password for a refused login)."""
    try:
        greeting, how = gateways.check_email_setup(checked.target)
    except GatewayError as error:
        field = _STAGE_FIELD.get(error.stage, "host")
        raise FormError({field: f"{error.reason}; nothing was saved"}) from None
    return f"{how}, the server answered {greeting}"


def save(conn: Connection, viewer: Viewer, checked: CheckedServer, key: str) -> int:
    """Keep the server the admin typed (tried first with try_server), audited; its row id."""
    _admin(viewer)
    target = checked.target
    values = {
        "host": target.host,
        "port": target.port,
        "security": target.tls,
        "username": target.username,
        "sealed_password": sealing.seal(key, SEAL_PURPOSE, target.password)
        if target.password is not None
        else None,
        "mail_from": checked.mail_from,
        "updated_by": viewer.user_id,
        "updated_at": utc_now(),
    }
    row = _row(conn)
    if row is None:
        found = insert_id(conn, t.mail_server, **values)
    else:
        found = row.id
        conn.execute(update(t.mail_server).where(t.mail_server.c.id == found).values(**values))
    audit.record(conn, viewer.actor, "update", "mail_server", found)
    return int(found)


def remove(conn: Connection, viewer: Viewer) -> bool:
    """Forget the server set on the page (audited); whether there was one."""
    _admin(viewer)
    row = _row(conn)
    if row is None:
        return False
    conn.execute(delete(t.mail_server))
    audit.record(conn, viewer.actor, "delete", "mail_server", row.id)
    return True
