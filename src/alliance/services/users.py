"""Signing in (password, then a TOTP code when the user turned one on), and the user list."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import segno
from sqlalchemy import Connection, Engine, Row, case, func, select, update

from alliance.errors import FormError
from alliance.services import login_sessions, tokens
from alliance.services.passwords import hash_password, verify_password
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import VIEWER_COLUMNS, Viewer
from alliance.store.access import RoleName as Role
from alliance.store.base import as_utc
from alliance.store.engine import reading

# A fixed dummy hash keeps the time of a failed sign-in the same whether or not the user exists.
_DUMMY_HASH = hash_password("not-a-real-password-for-timing")
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
PASSWORD_MIN = 12
LOCKED = "this account is locked for a few minutes after failed attempts"
# RFC 6238: 30-second steps, 6 digits; one step either side absorbs clock drift (section 5.2).
TOTP_STEP_S = 30
TOTP_WINDOW = 1
TOTP_ISSUER = "Alliance"


@dataclass(frozen=True)
class SignIn:
    viewer: Viewer | None
    must_change_password: bool
    error: str | None
    # The password was right but a code is still owed: `viewer` is None and this is the user id.
    code_owed_by: int | None = None


def load_viewer(engine: Engine, user_id: int, ip: str | None) -> Viewer | None:
    """The active user with this id, or None."""
    with reading(engine) as conn:
        row = conn.execute(
            select(t.users.c.id, *VIEWER_COLUMNS, t.users.c.must_change_password).where(
                t.users.c.id == user_id, t.users.c.active.is_(True)
            )
        ).first()
    return None if row is None else _viewer(row, ip)


def _locked(locked_until: datetime | None, now: datetime) -> bool:
    """Locked out after too many wrong sign-ins, until `locked_until` (stored as UTC)."""
    return locked_until is not None and as_utc(locked_until) > now


def _viewer(row: Row[*tuple[Any, ...]], ip: str | None) -> Viewer:
    return Viewer.from_row(row, row.id, ip, must_change_password=bool(row.must_change_password))


def _count_failure(conn: Connection, user_id: int, now: datetime) -> None:
    """One more failed password or code; the account locks for LOCK_MINUTES at the fifth.

    One UPDATE that adds to the count in the database, never a count read earlier and written
    back: two workers refusing at once add two, so the fifth failure locks whichever process
    counted it (PostgreSQL holds the row lock for the statement; SQLite has one writer).
    """
    failures = func.coalesce(t.users.c.failed_logins, 0) + 1
    locks = failures >= LOCK_AFTER_FAILURES
    until = now + timedelta(minutes=LOCK_MINUTES)
    conn.execute(
        update(t.users)
        .where(t.users.c.id == user_id)
        .values(
            failed_logins=case((locks, 0), else_=failures),
            locked_until=case((locks, until), else_=t.users.c.locked_until),
        )
    )


def authenticate(
    conn: Connection, username: str, password: str, ip: str | None, now: datetime | None = None
) -> SignIn:
    """Check a username and password; count failures and lock the account after repeated ones.

    With a second factor on, a right password yields `code_owed_by` and no viewer; the failure
    count is kept until the code is right, so guessing codes also ends in the lockout.
    """
    row = _account(conn, username)
    return _settle(conn, row, _verify(row, password), ip, now or datetime.now(UTC))


def check_password(
    engine: Engine, username: str, password: str, ip: str | None, now: datetime | None = None
) -> SignIn:
    """`authenticate`, with the slow argon2 check between two short transactions.

    Holding a transaction (a write lock on SQLite) through the hash would make every other
    sign-in, and every write, wait for it.
    """
    with engine.begin() as conn:
        row = _account(conn, username)
    verified = _verify(row, password)
    with engine.begin() as conn:
        return _settle(conn, row, verified, ip, now or datetime.now(UTC))


def _account(conn: Connection, username: str) -> Row[Any] | None:
    return conn.execute(
        select(t.users).where(t.users.c.username == username.strip().lower())
    ).first()


def _verify(row: Row[Any] | None, password: str) -> bool:
    """The argon2 check; an unknown or password-less account costs the same time, and fails."""
    if row is None or not row.active or row.password_hash is None:
        verify_password(_DUMMY_HASH, password)
        return False
    return verify_password(row.password_hash, password)


def _settle(
    conn: Connection, row: Row[Any] | None, verified: bool, ip: str | None, now: datetime
) -> SignIn:
    """What a checked password means: refused, locked, a code owed, or signed in."""
    refused = SignIn(None, False, "the username or password is not right")
    if row is None or not row.active or row.password_hash is None:
        return refused
    if _locked(row.locked_until, now):
        return SignIn(None, False, LOCKED)
    if not verified:
        _count_failure(conn, row.id, now)
        return refused
    if row.totp_enabled and row.totp_secret:
        return SignIn(None, False, None, code_owed_by=row.id)
    conn.execute(
        update(t.users).where(t.users.c.id == row.id).values(failed_logins=0, locked_until=None)
    )
    viewer = _viewer(row, ip)
    return SignIn(viewer, viewer.must_change_password, None)


def time_step(now: datetime) -> int:
    """The RFC 6238 counter: whole TOTP_STEP_S intervals since the Unix epoch."""
    return int(now.timestamp()) // TOTP_STEP_S


def match_code(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The time step `code` belongs to (within ±TOTP_WINDOW), or None.

    A step at or before `last_step` was already used (or precedes one that was), so a code
    seen once cannot be replayed while it is still inside the window.
    """
    digits = code.strip().replace(" ", "")
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret, interval=TOTP_STEP_S)
    current = time_step(now)
    for step in range(current - TOTP_WINDOW, current + TOTP_WINDOW + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * TOTP_STEP_S), digits):
            return step
    return None


def verify_code(
    conn: Connection, user_id: int, code: str, ip: str | None, now: datetime | None = None
) -> SignIn:
    """The second sign-in step: a wrong code counts as a failed sign-in, like a wrong password."""
    now = now or datetime.now(UTC)
    row = conn.execute(select(t.users).where(t.users.c.id == user_id)).first()
    refused = SignIn(None, False, "that code is not right; use the newest code from your app")
    if row is None or not row.active or not row.totp_enabled or not row.totp_secret:
        return SignIn(None, False, "sign in again")
    if _locked(row.locked_until, now):
        return SignIn(None, False, LOCKED)
    step = match_code(row.totp_secret, code, row.totp_last_step, now)
    if step is None:
        _count_failure(conn, row.id, now)
        return refused
    conn.execute(
        update(t.users)
        .where(t.users.c.id == row.id)
        .values(failed_logins=0, locked_until=None, totp_last_step=step)
    )
    viewer = _viewer(row, ip)
    return SignIn(viewer, viewer.must_change_password, None)


def check_unlock(
    conn: Connection,
    user_id: int,
    password: str,
    code: str,
    ip: str | None,
    now: datetime | None = None,
) -> dict[str, str]:
    """A therapist takes back a locked tablet: their password, and their code when TOTP is on."""
    row = conn.execute(select(t.users.c.username).where(t.users.c.id == user_id)).first()
    if row is None:
        return {"password": "that password is not right"}
    result = authenticate(conn, row.username, password, ip, now)
    if result.code_owed_by == user_id:
        result = verify_code(conn, user_id, code, ip, now)
        if result.viewer is None:
            return {"code": result.error or "that code is not right"}
    if result.viewer is None or result.viewer.user_id != user_id:
        return {"password": "that password is not right"}
    return {}


@dataclass(frozen=True)
class TotpState:
    enabled: bool
    # While setting up: the secret as text, its otpauth:// URI and that URI as an inline SVG QR.
    secret: str | None = None
    uri: str | None = None
    qr_svg: str | None = None


def totp_state(conn: Connection, viewer: Viewer) -> TotpState:
    """Whether the second factor is on, or the secret being set up (shown only to its owner)."""
    row = conn.execute(
        select(t.users.c.totp_secret, t.users.c.totp_enabled).where(t.users.c.id == viewer.user_id)
    ).one()
    if row.totp_enabled:
        return TotpState(True)
    if not row.totp_secret:
        return TotpState(False)
    uri = pyotp.TOTP(row.totp_secret, interval=TOTP_STEP_S).provisioning_uri(
        name=viewer.username, issuer_name=TOTP_ISSUER
    )
    svg = segno.make(uri, error="m").svg_inline(scale=4, title="Scan with your authenticator app")
    return TotpState(False, row.totp_secret, uri, svg)


def start_totp(conn: Connection, viewer: Viewer) -> str:
    """A fresh secret for setting up; the factor stays off until a code confirms it."""
    enabled = conn.execute(
        select(t.users.c.totp_enabled).where(t.users.c.id == viewer.user_id)
    ).scalar_one()
    if enabled:
        raise FormError({"code": "a second factor is already on; ask an admin to remove it first"})
    secret = pyotp.random_base32()
    conn.execute(
        update(t.users)
        .where(t.users.c.id == viewer.user_id)
        .values(totp_secret=secret, totp_enabled=False, totp_last_step=None)
    )
    return secret


def confirm_totp(conn: Connection, viewer: Viewer, code: str, now: datetime | None = None) -> None:
    """Switch the second factor on once the user shows a valid code from the new secret."""
    now = now or datetime.now(UTC)
    row = conn.execute(
        select(t.users.c.totp_secret, t.users.c.totp_enabled, t.users.c.totp_last_step).where(
            t.users.c.id == viewer.user_id
        )
    ).one()
    if row.totp_enabled:
        raise FormError({"code": "the second factor is already on"})
    if not row.totp_secret:
        raise FormError({"code": "start the set-up first"})
    step = match_code(row.totp_secret, code, row.totp_last_step, now)
    if step is None:
        raise FormError(
            {"code": f"{len(code.strip())} characters is not the current 6-digit code; try again"}
        )
    conn.execute(
        update(t.users)
        .where(t.users.c.id == viewer.user_id)
        .values(totp_enabled=True, totp_last_step=step)
    )
    audit.record(conn, viewer.actor, "enable_totp", "user", viewer.user_id)


def change_password(
    conn: Connection,
    viewer: Viewer,
    current: str,
    new: str,
    repeat: str,
    *,
    revoke_tokens: bool = True,
    now: datetime | None = None,
) -> dict[str, str]:
    """Set a new password; returns errors by field (empty when done).

    Every sign-in session of the user ends, this one too (the caller starts a fresh one), so a
    copied cookie is worthless; the user's API tokens are revoked unless they chose to keep them.
    A wrong current password counts toward the lockout as a wrong sign-in does, so a session
    left open cannot be used to guess the password; a locked account changes nothing.
    """
    now = now or datetime.now(UTC)
    errors: dict[str, str] = {}
    row = conn.execute(
        select(t.users.c.password_hash, t.users.c.locked_until).where(
            t.users.c.id == viewer.user_id
        )
    ).one()
    if _locked(row.locked_until, now):
        return {"current": LOCKED}
    if row.password_hash is None or not verify_password(row.password_hash, current):
        _count_failure(conn, viewer.user_id, now)
        errors["current"] = "the current password is not right"
    if len(new) < PASSWORD_MIN:
        errors["new"] = f"the new password has {len(new)} characters; at least {PASSWORD_MIN}"
    elif new == current:
        errors["new"] = "the new password must differ from the current one"
    elif new != repeat:
        errors["repeat"] = "the two new passwords differ"
    if errors:
        return errors
    conn.execute(
        update(t.users)
        .where(t.users.c.id == viewer.user_id)
        .values(password_hash=hash_password(new), must_change_password=False)
    )
    audit.record(conn, viewer.actor, "change_password", "user", viewer.user_id)
    login_sessions.end_all(conn, viewer.user_id, "password_changed")
    if revoke_tokens:
        tokens.revoke_all_for(conn, viewer.user_id, viewer.actor)
    return {}


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    role: Role
    supervisor: str | None
    active: bool
    totp: bool = False
    has_email: bool = False


def list_users(conn: Connection, viewer: Viewer) -> list[UserRow]:
    """Every user of the admin's organisation (no clinical content)."""
    u, supervisor = t.users, t.users.alias("supervisor")
    rows = conn.execute(
        select(
            u.c.id,
            u.c.username,
            u.c.display_name,
            u.c.role,
            u.c.active,
            u.c.totp_enabled,
            u.c.email,
            supervisor.c.display_name.label("supervisor"),
        )
        .select_from(u.outerjoin(supervisor, supervisor.c.id == u.c.supervisor_id))
        .where(u.c.organisation_id == viewer.organisation_id)
        .order_by(u.c.role, u.c.username)
    ).all()
    return [
        UserRow(
            r.id,
            r.username,
            r.display_name,
            r.role,
            r.supervisor,
            bool(r.active),
            bool(r.totp_enabled),
            bool(r.email),
        )
        for r in rows
    ]
