"""Admin work: accounts and roles, password resets, second factors, break glass, schedules."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from alliance.domain import DomainError
from alliance.errors import FormError, NotVisibleError
from alliance.instruments import INSTRUMENT_IDS
from alliance.services.passwords import hash_password
from alliance.store import audit, break_glass
from alliance.store import people as store_people
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import NotFoundError, utc_now

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
            viewer.actor,
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


def _member(conn: Connection, viewer: Viewer, user_id: int) -> str:
    """The username of a user of the admin's own clinic, or NotVisibleError."""
    username = conn.execute(
        select(t.users.c.username).where(
            t.users.c.id == user_id, t.users.c.organisation_id == viewer.organisation_id
        )
    ).scalar_one_or_none()
    if username is None:
        raise NotVisibleError("user")
    return str(username)


def reset_password(conn: Connection, viewer: Viewer, user_id: int) -> NewAccount:
    """A new one-time password (shown once), to be changed at next sign-in; unlocks the account."""
    if user_id == viewer.user_id:
        raise FormError({"user": "change your own password on your account page"})
    username = _member(conn, viewer, user_id)
    password = secrets.token_urlsafe(12)
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(
            password_hash=hash_password(password),
            must_change_password=True,
            failed_logins=0,
            locked_until=None,
        )
    )
    audit.record(conn, viewer.actor, "reset_password", "user", user_id)
    return NewAccount(user_id, username, password)


def remove_totp(conn: Connection, viewer: Viewer, user_id: int) -> str:
    """Turn off a user's second factor (a lost phone); they may set up a new one after."""
    username = _member(conn, viewer, user_id)
    has = conn.execute(
        select(t.users.c.totp_secret).where(t.users.c.id == user_id)
    ).scalar_one_or_none()
    if has is None:
        raise FormError({"user": f"{username} has no second factor to remove"})
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(totp_secret=None, totp_enabled=False, totp_last_step=None)
    )
    audit.record(conn, viewer.actor, "remove_totp", "user", user_id)
    return username


def open_break_glass(
    conn: Connection, viewer: Viewer, episode_id: str, reason: str
) -> break_glass.Grant:
    """Read-only access to one episode for GRANT_MINUTES, with the reason stated (audited)."""
    errors: dict[str, str] = {}
    text = episode_id.strip()
    if not text.isdigit() or len(text) > 18:
        errors["episode_id"] = f"{text[:20]!r} is not an episode number"
    if len(reason.strip()) < break_glass.REASON_MIN:
        errors["reason"] = (
            f"the reason has {len(reason.strip())} characters; "
            f"at least {break_glass.REASON_MIN} are required"
        )
    if errors:
        raise FormError(errors)
    try:
        return break_glass.open_grant(conn, viewer.actor, int(text), reason)
    except NotFoundError:
        raise FormError({"episode_id": f"episode {text} does not exist in this clinic"}) from None
    except DomainError as exc:
        raise FormError({exc.field.rsplit(".", 1)[-1]: f"{exc.detail}: {exc.rule}"}) from None


def break_glass_grants(conn: Connection, viewer: Viewer) -> list[break_glass.Grant]:
    return break_glass.grants_by(conn, viewer.user_id)


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
    audit.record(conn, viewer.actor, "set", "instrument_schedule", existing)
