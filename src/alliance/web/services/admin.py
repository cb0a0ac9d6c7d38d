"""Admin work: accounts and roles, and which measures a clinic gives at which sessions."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from alliance.domain import DomainError
from alliance.instruments import INSTRUMENT_IDS
from alliance.store import audit
from alliance.store import people as store_people
from alliance.store import tables as t
from alliance.store.base import Actor, utc_now
from alliance.web.auth import Viewer, hash_password
from alliance.web.services.errors import FormError

# A session rule: "every", "first", "last", "every:N" (every Nth session) or a list "1,4,8".
_RULE = re.compile(r"^(every|first|last|every:[1-9][0-9]?|[1-9][0-9]{0,2}(,[1-9][0-9]{0,2})*)$")


@dataclass(frozen=True)
class NewAccount:
    user_id: int
    username: str
    one_time_password: str


def create_account(
    conn: Connection,
    viewer: Viewer,
    *,
    username: str,
    display_name: str,
    role: str,
    supervisor_id: str,
) -> NewAccount:
    """A new user with a one-time password, changed at first sign-in."""
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = "a username is required"
    if not display_name.strip():
        errors["display_name"] = "a display name is required"
    supervisor = int(supervisor_id) if supervisor_id.strip().isdigit() else None
    if errors:
        raise FormError(errors)
    password = secrets.token_urlsafe(12)
    assert viewer.organisation_id is not None
    try:
        user_id = store_people.create_user(
            conn,
            Actor(viewer.user_id, viewer.ip),
            organisation_id=viewer.organisation_id,
            username=username,
            role=role,
            display_name=display_name,
            password_hash=hash_password(password),
            supervisor_id=supervisor,
            must_change_password=True,
        )
    except DomainError as exc:
        raise FormError({exc.field.rsplit(".", 1)[-1]: f"{exc.detail}: {exc.rule}"}) from None
    return NewAccount(user_id, username.strip().lower(), password)


def schedules(conn: Connection, viewer: Viewer) -> list[dict[str, object]]:
    rows = conn.execute(
        select(t.instrument_schedules)
        .where(t.instrument_schedules.c.organisation_id == viewer.organisation_id)
        .order_by(t.instrument_schedules.c.instrument_id)
    ).mappings()
    return [dict(r) for r in rows]


def set_schedule(
    conn: Connection, viewer: Viewer, instrument_id: str, session_rule: str, active: bool
) -> None:
    """Set (or replace) when a measure is given; one rule per measure per clinic."""
    errors: dict[str, str] = {}
    if instrument_id not in INSTRUMENT_IDS:
        errors["instrument"] = f"{instrument_id[:40]!r} is not one of {', '.join(INSTRUMENT_IDS)}"
    rule = session_rule.strip().lower().replace(" ", "")
    if not _RULE.match(rule):
        errors["session_rule"] = (
            f"{session_rule[:40]!r} is not a rule; use every, first, last, every:N or 1,4,8"
        )
    if errors:
        raise FormError(errors)
    table = t.instrument_schedules
    existing = conn.execute(
        select(table.c.id).where(
            table.c.organisation_id == viewer.organisation_id,
            table.c.instrument_id == instrument_id,
        )
    ).scalar()
    if existing is None:
        existing = conn.execute(
            insert(table)
            .values(
                organisation_id=viewer.organisation_id,
                instrument_id=instrument_id,
                session_rule=rule,
                active=active,
                created_at=utc_now(),
            )
            .returning(table.c.id)
        ).scalar_one()
    else:
        conn.execute(
            update(table).where(table.c.id == existing).values(session_rule=rule, active=active)
        )
    audit.record(conn, Actor(viewer.user_id, viewer.ip), "set", "instrument_schedule", existing)
