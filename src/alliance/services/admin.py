"""Admin work: accounts and roles, password resets, second factors, break glass, schedules."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from alliance.domain import DomainError, Role
from alliance.domain.people import check_display_name, check_email
from alliance.errors import FormError, NotVisibleError
from alliance.instruments import INSTRUMENT_IDS
from alliance.instruments.schedule import parse_rule
from alliance.services import login_sessions, resets, tokens
from alliance.services.clinical import refused_as_form_errors
from alliance.services.passwords import hash_password
from alliance.store import audit, break_glass
from alliance.store import people as store_people
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import Actor, NotFoundError, count_rows, insert_id, utc_now


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


DEFAULT_CLINIC = "Our clinic"


def add_account_from_command_line(
    conn: Connection,
    *,
    username: str,
    role: str,
    display_name: str | None = None,
    supervisor: str | None = None,
    clinic: str | None = None,
    email: str | None = None,
) -> NewAccount:
    """The first account (and any after it) from `alliance user add`, with no one signed in.

    The clinic is created with the first account; a one-time password is returned, to be
    changed at the first sign-in. Whoever runs the command already holds the database.
    """
    system = Actor.system()
    org = conn.execute(select(t.organisations.c.id).order_by(t.organisations.c.id)).first()
    if org is None:
        with refused_as_form_errors():
            org_id = store_people.create_organisation(conn, system, clinic or DEFAULT_CLINIC)
    else:
        org_id = int(org.id)
    supervisor_id = None
    if supervisor:
        found = store_people.user_by_username(conn, supervisor)
        if found is None or found["organisation_id"] != org_id:
            raise FormError({"supervisor": f"No user is called {supervisor.strip()[:40]!r}."})
        supervisor_id = int(found["id"])
    password = secrets.token_urlsafe(12)
    clean_username = username.strip().lower()
    with refused_as_form_errors():
        user_id = store_people.create_user(
            conn,
            system,
            organisation_id=org_id,
            username=clean_username,
            role=role,
            display_name=(display_name or "").strip() or clean_username,
            password_hash=hash_password(password),
            supervisor_id=supervisor_id,
            must_change_password=True,
        )
    if email:
        set_user_email(conn, system, user_id, email)
    return NewAccount(user_id, clean_username, password)


def set_user_email(conn: Connection, actor: Actor, user_id: int, email: str | None) -> None:
    """Where risk notifications reach the user (optional; audited, the address is not)."""
    clean = None
    if email and email.strip():
        try:
            clean = check_email(email)
        except DomainError as exc:
            raise FormError({"email": f"{exc.detail}: {exc.rule}"}) from None
    conn.execute(update(t.users).where(t.users.c.id == user_id).values(email=clean))
    audit.record(conn, actor, "set_email", "user", user_id)


def has_admin(conn: Connection) -> bool:
    """Whether any active admin can sign in (a fresh database has none)."""
    found = conn.execute(
        select(t.users.c.id).where(t.users.c.role == "admin", t.users.c.active.is_(True)).limit(1)
    ).first()
    return found is not None


@dataclass(frozen=True)
class AccountView:
    id: int
    username: str
    display_name: str
    role: str
    supervisor_id: int | None
    active: bool
    email: str | None = None


def account(conn: Connection, viewer: Viewer, user_id: int) -> AccountView:
    _member(conn, viewer, user_id)
    u = t.users
    row = conn.execute(
        select(
            u.c.id,
            u.c.username,
            u.c.display_name,
            u.c.role,
            u.c.supervisor_id,
            u.c.active,
            u.c.email,
        ).where(u.c.id == user_id)
    ).one()
    return AccountView(
        row.id,
        row.username,
        row.display_name,
        row.role,
        row.supervisor_id,
        bool(row.active),
        row.email,
    )


def _open_episodes_of(conn: Connection, user_id: int) -> int:
    e = t.episodes
    return count_rows(conn, e, e.c.therapist_id == user_id, e.c.closed_on.is_(None))


def _other_active_admins(conn: Connection, viewer: Viewer, user_id: int) -> int:
    u = t.users
    return count_rows(
        conn,
        u,
        u.c.organisation_id == viewer.organisation_id,
        u.c.role == "admin",
        u.c.active.is_(True),
        u.c.id != user_id,
    )


def update_account(
    conn: Connection,
    viewer: Viewer,
    user_id: int,
    *,
    display_name: str,
    role: str,
    supervisor_id: str,
    email: str | None = None,
) -> None:
    """Change a user's name, role, supervisor and email (audited); nothing changes on a refusal."""
    current = account(conn, viewer, user_id)
    errors: dict[str, str] = {}
    try:
        clean_name = check_display_name(display_name)
    except DomainError as exc:
        errors["display_name"] = f"{exc.detail}: {exc.rule}"
    try:
        clean_role = Role.parse(role)
    except DomainError as exc:
        errors["role"] = f"{exc.detail}: {exc.rule}"
        clean_role = Role(current.role)
    if clean_role.value != current.role:
        if current.role == "therapist" and _open_episodes_of(conn, user_id):
            count = _open_episodes_of(conn, user_id)
            errors["role"] = (
                f"{current.username} treats {count} open episode{'s' if count != 1 else ''}; "
                "close or hand them over first"
            )
        if current.role == "admin" and not _other_active_admins(conn, viewer, user_id):
            errors["role"] = "the clinic needs at least one active admin"
    supervisor = _supervisor(conn, viewer, supervisor_id, clean_role, user_id, errors)
    if email and email.strip():
        try:
            check_email(email)
        except DomainError as exc:
            errors["email"] = f"{exc.detail}: {exc.rule}"
    if errors:
        raise FormError(errors)
    if email is not None:
        set_user_email(conn, viewer.actor, user_id, email)
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(display_name=clean_name, role=clean_role.value, supervisor_id=supervisor)
    )
    audit.record(conn, viewer.actor, "update", "user", user_id)


def _supervisor(
    conn: Connection,
    viewer: Viewer,
    supervisor_id: str,
    role: Role,
    user_id: int,
    errors: dict[str, str],
) -> int | None:
    text = supervisor_id.strip()
    if not text:
        return None
    if role != Role.THERAPIST:
        errors["supervisor_id"] = "only a therapist has a supervisor"
        return None
    u = t.users
    found = (
        conn.execute(
            select(u.c.id).where(
                u.c.id == int(text),
                u.c.role == "supervisor",
                u.c.active.is_(True),
                u.c.organisation_id == viewer.organisation_id,
            )
        ).scalar_one_or_none()
        if text.isdigit() and len(text) < 18
        else None
    )
    if found is None or found == user_id:
        errors["supervisor_id"] = "choose an active supervisor of this clinic"
        return None
    return int(found)


def set_active(conn: Connection, viewer: Viewer, user_id: int, *, active: bool) -> str:
    """Deactivate (they cannot sign in; their sessions and tokens stop at once) or reactivate."""
    current = account(conn, viewer, user_id)
    if not active:
        if user_id == viewer.user_id:
            raise FormError({"user": "You cannot deactivate your own account."})
        if current.role == "admin" and not _other_active_admins(conn, viewer, user_id):
            raise FormError({"user": "The clinic needs at least one active admin."})
    conn.execute(update(t.users).where(t.users.c.id == user_id).values(active=active))
    audit.record(conn, viewer.actor, "reactivate" if active else "deactivate", "user", user_id)
    if not active:
        # Ended and revoked, not merely refused while inactive: a reactivation restores neither.
        login_sessions.end_all(conn, user_id, "deactivated")
        tokens.revoke_all_for(conn, user_id, viewer.actor)
    return current.username


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
    # Whoever held the old password, or a copied cookie or token, is out at once.
    login_sessions.end_all(conn, user_id, "password_reset")
    tokens.revoke_all_for(conn, user_id, viewer.actor)
    resets.record(conn, viewer, user_id)
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
    rule = ""
    try:
        rule = parse_rule(session_rule).text
    except DomainError as exc:
        errors["session_rule"] = f"{exc.detail}; use {exc.rule}"
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
        existing = insert_id(
            conn,
            table,
            organisation_id=viewer.organisation_id,
            instrument_id=instrument_id,
            session_rule=rule,
            active=active,
            created_at=utc_now(),
        )
    else:
        conn.execute(
            update(table).where(table.c.id == existing).values(session_rule=rule, active=active)
        )
    audit.record(conn, viewer.actor, "set", "instrument_schedule", existing)
