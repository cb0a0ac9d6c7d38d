"""Signing in, the signed-in user, and the admin's user list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, select, update

from alliance.store import tables as t
from alliance.web.auth import Role, Viewer, hash_password, verify_password

# A fixed dummy hash keeps the time of a failed sign-in the same whether or not the user exists.
_DUMMY_HASH = hash_password("not-a-real-password-for-timing")
LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15
PASSWORD_MIN = 12


@dataclass(frozen=True)
class SignIn:
    viewer: Viewer | None
    must_change_password: bool
    error: str | None


def load_viewer(engine: Engine, user_id: int, ip: str | None) -> Viewer | None:
    """The active user with this id, or None."""
    with engine.connect() as conn:
        row = conn.execute(
            select(
                t.users.c.id,
                t.users.c.username,
                t.users.c.display_name,
                t.users.c.role,
                t.users.c.organisation_id,
                t.users.c.must_change_password,
            ).where(t.users.c.id == user_id, t.users.c.active.is_(True))
        ).first()
    if row is None:
        return None
    return Viewer(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        organisation_id=row.organisation_id,
        ip=ip,
        must_change_password=bool(row.must_change_password),
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def authenticate(conn: Connection, username: str, password: str, ip: str | None) -> SignIn:
    """Check a username and password; count failures and lock the account after repeated ones."""
    now = datetime.now(UTC)
    row = conn.execute(
        select(t.users).where(t.users.c.username == username.strip().lower())
    ).first()
    refused = SignIn(None, False, "the username or password is not right")
    if row is None or not row.active or row.password_hash is None:
        verify_password(_DUMMY_HASH, password)
        return refused
    locked_until = _utc(row.locked_until)
    if locked_until is not None and locked_until > now:
        return SignIn(None, False, "this account is locked for a few minutes after failed attempts")
    if not verify_password(row.password_hash, password):
        failures = (row.failed_logins or 0) + 1
        values: dict[str, object] = {"failed_logins": failures}
        if failures >= LOCK_AFTER_FAILURES:
            values = {"failed_logins": 0, "locked_until": now + timedelta(minutes=LOCK_MINUTES)}
        conn.execute(update(t.users).where(t.users.c.id == row.id).values(**values))
        return refused
    conn.execute(
        update(t.users).where(t.users.c.id == row.id).values(failed_logins=0, locked_until=None)
    )
    viewer = Viewer(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        organisation_id=row.organisation_id,
        ip=ip,
        must_change_password=bool(row.must_change_password),
    )
    return SignIn(viewer, viewer.must_change_password, None)


def change_password(
    conn: Connection, viewer: Viewer, current: str, new: str, repeat: str
) -> dict[str, str]:
    """Set a new password; returns errors by field (empty when done)."""
    errors: dict[str, str] = {}
    row = conn.execute(select(t.users.c.password_hash).where(t.users.c.id == viewer.user_id)).one()
    if row.password_hash is None or not verify_password(row.password_hash, current):
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
    return {}


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    display_name: str
    role: Role
    supervisor: str | None
    active: bool


def list_users(conn: Connection, viewer: Viewer) -> list[UserRow]:
    """Every user of the admin's organisation (no clinical content)."""
    supervisor = t.users.alias("supervisor")
    rows = conn.execute(
        select(
            t.users.c.id,
            t.users.c.username,
            t.users.c.display_name,
            t.users.c.role,
            t.users.c.active,
            supervisor.c.display_name.label("supervisor"),
        )
        .select_from(t.users.outerjoin(supervisor, supervisor.c.id == t.users.c.supervisor_id))
        .where(t.users.c.organisation_id == viewer.organisation_id)
        .order_by(t.users.c.role, t.users.c.username)
    ).all()
    return [
        UserRow(r.id, r.username, r.display_name, r.role, r.supervisor, bool(r.active))
        for r in rows
    ]
