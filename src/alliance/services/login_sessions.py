"""Sign-in sessions kept on the server, so that any of them can be ended at once.

The cookie holds a random secret (256 bits); only its SHA-256 is stored, as for API tokens, so
the table signs nobody in. A session ends at sign-out, on "sign out everywhere", when its
user's password is changed or reset, when the account is deactivated, after
`session_idle_minutes` without a request and `session_max_hours` after it began.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, update

from alliance.errors import NotVisibleError
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import VIEWER_COLUMNS, Viewer
from alliance.store.base import Actor, as_utc, insert_id, utc_now

# last_seen_at is written at most this often: the idle timeout is minutes, not seconds.
TOUCH_EVERY = timedelta(seconds=30)
USER_AGENT_MAX = 200


@dataclass(frozen=True)
class Timeouts:
    """How long a sign-in lasts: `idle` without a request, `absolute` since it began."""

    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, idle_minutes: int, max_hours: int) -> Timeouts:
        return cls(timedelta(minutes=idle_minutes), timedelta(hours=max_hours))


@dataclass(frozen=True)
class SessionRow:
    """One sign-in as its user sees it on the account page."""

    id: int
    created_at: datetime
    last_seen_at: datetime
    ip: str | None
    user_agent: str | None
    current: bool


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start(
    conn: Connection,
    user_id: int,
    ip: str | None,
    user_agent: str | None,
    now: datetime | None = None,
) -> str:
    """A new session for a user who just signed in; the secret goes in the cookie, once."""
    now = now or utc_now()
    reset = _unconfirmed_reset(conn, user_id)
    secret = secrets.token_urlsafe(32)
    insert_id(
        conn,
        t.login_sessions,
        user_id=user_id,
        secret_hash=secret_hash(secret),
        created_at=now,
        last_seen_at=now,
        ip=ip,
        user_agent=(user_agent or "")[:USER_AGENT_MAX] or None,
        after_reset_id=None if reset is None else reset.id,
    )
    if reset is not None and reset.signed_in_at is None:
        r = t.password_resets
        conn.execute(update(r).where(r.c.id == reset.id).values(signed_in_at=now))
        # The first sign-in after an admin's reset, naming that admin (object: the admin).
        audit.record(conn, Actor(user_id, ip), "reset_sign_in", "user", reset.reset_by, now=now)
    return secret


def _unconfirmed_reset(conn: Connection, user_id: int) -> Row[*tuple[Any, ...]] | None:
    r = t.password_resets
    return conn.execute(
        select(r.c.id, r.c.reset_by, r.c.signed_in_at)
        .where(r.c.user_id == user_id, r.c.acknowledged_at.is_(None))
        .order_by(r.c.id.desc())
        .limit(1)
    ).first()


def viewer_for(
    engine: Engine, secret: str, ip: str | None, timeouts: Timeouts, now: datetime | None = None
) -> Viewer | None:
    """The active user a live session acts for, or None (unknown, ended, timed out)."""
    if len(secret) > 200:
        return None
    now = now or utc_now()
    s, u = t.login_sessions, t.users
    with engine.connect() as conn:
        row = conn.execute(
            select(
                s.c.id.label("session_id"),
                s.c.created_at,
                s.c.last_seen_at,
                s.c.after_reset_id,
                u.c.id.label("user_id"),
                u.c.must_change_password,
                *VIEWER_COLUMNS,
            )
            .join(u, u.c.id == s.c.user_id)
            .where(
                s.c.secret_hash == secret_hash(secret),
                s.c.ended_at.is_(None),
                u.c.active.is_(True),
            )
        ).first()
    if row is None:
        return None
    expired = _expired(as_utc(row.created_at), as_utc(row.last_seen_at), timeouts, now)
    if expired is not None or as_utc(row.last_seen_at) < now - TOUCH_EVERY:
        with engine.begin() as conn:
            values: dict[str, object] = (
                {"last_seen_at": now}
                if expired is None
                else {"ended_at": now, "end_reason": expired}
            )
            conn.execute(update(s).where(s.c.id == row.session_id).values(**values))
        if expired is not None:
            return None
    viewer = Viewer.from_row(
        row, row.user_id, ip, must_change_password=bool(row.must_change_password)
    )
    return replace(viewer, session_id=row.session_id, after_reset=row.after_reset_id is not None)


def _expired(
    created: datetime, last_seen: datetime, timeouts: Timeouts, now: datetime
) -> str | None:
    """Why the session is over by its clock ("idle" or "expired"), or None while it lasts."""
    if now - created >= timeouts.absolute:
        return "expired"
    if now - last_seen >= timeouts.idle:
        return "idle"
    return None


def end(conn: Connection, secret: str, reason: str = "sign_out") -> None:
    """End the session holding this secret (sign-out); an unknown or ended one is left alone."""
    s = t.login_sessions
    conn.execute(
        update(s)
        .where(s.c.secret_hash == secret_hash(secret), s.c.ended_at.is_(None))
        .values(ended_at=utc_now(), end_reason=reason)
    )


def end_all(conn: Connection, user_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every open session of a user (but `keep`, the one asking); how many ended."""
    s = t.login_sessions
    query = update(s).where(s.c.user_id == user_id, s.c.ended_at.is_(None))
    if keep is not None:
        query = query.where(s.c.id != keep)
    return conn.execute(query.values(ended_at=utc_now(), end_reason=reason)).rowcount or 0


def end_one(conn: Connection, viewer: Viewer, session_id: int) -> None:
    """A user ends one of their own sessions (another device); someone else's is not found."""
    s = t.login_sessions
    done = conn.execute(
        update(s)
        .where(s.c.id == session_id, s.c.user_id == viewer.user_id, s.c.ended_at.is_(None))
        .values(ended_at=utc_now(), end_reason="ended_by_user")
    ).rowcount
    if not done:
        raise NotVisibleError("sign-in session")
    audit.record(conn, viewer.actor, "end", "login_session", session_id)


def end_everywhere(conn: Connection, viewer: Viewer, *, keep_this: bool) -> int:
    """The user signs out on every device (and here too unless `keep_this`); audited."""
    keep = viewer.session_id if keep_this else None
    ended = end_all(conn, viewer.user_id, "ended_by_user", keep=keep)
    audit.record(conn, viewer.actor, "end_others" if keep_this else "end_all", "login_session")
    return ended


def list_active(
    conn: Connection, viewer: Viewer, timeouts: Timeouts, now: datetime | None = None
) -> list[SessionRow]:
    """The user's sessions still open by their clock, this one first, then the newest."""
    now = now or utc_now()
    s = t.login_sessions
    rows = conn.execute(
        select(s.c.id, s.c.created_at, s.c.last_seen_at, s.c.ip, s.c.user_agent)
        .where(s.c.user_id == viewer.user_id, s.c.ended_at.is_(None))
        .order_by(s.c.id.desc())
    ).all()
    found = [
        SessionRow(
            r.id,
            as_utc(r.created_at),
            as_utc(r.last_seen_at),
            r.ip,
            r.user_agent,
            r.id == viewer.session_id,
        )
        for r in rows
        if _expired(as_utc(r.created_at), as_utc(r.last_seen_at), timeouts, now) is None
    ]
    return sorted(found, key=lambda row: not row.current)
