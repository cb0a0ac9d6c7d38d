"""Personal API tokens: other software acts as a user, under that user's access rules.

The secret is shown once, when created; only its SHA-256 is stored (a token has 256 bits of
randomness, so a slow hash adds nothing). A token stops working when revoked, when it expires,
and at once when its user is deactivated.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select, update

from alliance.domain.errors import check_text
from alliance.errors import FormError, NotVisibleError
from alliance.services.clinical import refused_as_form_errors
from alliance.store import audit
from alliance.store import people as store_people
from alliance.store import tables as t
from alliance.store.access import VIEWER_COLUMNS, Viewer
from alliance.store.base import Actor, as_utc, insert_id, utc_now
from alliance.store.engine import reading, writing

PREFIX = "alc_"
MAX_DAYS = 3650
# last_used_at is a hint for the admin page, not an audit: written at most once a minute.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    id: int
    token: str
    expires_at: datetime | None


@dataclass(frozen=True)
class TokenRow:
    id: int
    username: str
    label: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    conn: Connection,
    username: str,
    *,
    label: str = "API token",
    expires_days: int | None = None,
    actor: Actor | None = None,
) -> NewToken:
    """A new token for `username`; the secret is returned once and never stored."""
    user = store_people.user_by_username(conn, username)
    if user is None:
        raise FormError({"username": f"No user is called {username.strip()[:40]!r}."})
    if not user["active"]:
        raise FormError({"username": f"{user['username']} is deactivated."})
    with refused_as_form_errors():
        clean_label = check_text("token.label", label, max_length=100)
    if expires_days is not None and not 1 <= expires_days <= MAX_DAYS:
        raise FormError({"expires_days": f"{expires_days} is not 1 to {MAX_DAYS} days."})
    now = utc_now()
    expires = now + timedelta(days=expires_days) if expires_days is not None else None
    secret = PREFIX + secrets.token_urlsafe(32)
    token_id = insert_id(
        conn,
        t.api_tokens,
        user_id=user["id"],
        label=clean_label,
        prefix=secret[: len(PREFIX) + 6],
        token_hash=token_hash(secret),
        created_at=now,
        expires_at=expires,
    )
    audit.record(conn, actor or Actor.system(), "create", "api_token", token_id)
    return NewToken(token_id, secret, expires)


def revoke_token(conn: Connection, token_id: int, *, actor: Actor | None = None) -> None:
    row = conn.execute(
        select(t.api_tokens.c.revoked_at).where(t.api_tokens.c.id == token_id)
    ).first()
    if row is None:
        raise FormError({"token": f"No token has the number {token_id}."})
    if row.revoked_at is not None:
        raise FormError({"token": f"Token {token_id} is already revoked."})
    conn.execute(
        update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(revoked_at=utc_now())
    )
    audit.record(conn, actor or Actor.system(), "revoke", "api_token", token_id)


def list_tokens(conn: Connection, organisation_id: int | None = None) -> list[TokenRow]:
    """Every token (of one clinic, when given), without its secret, newest first."""
    k, u = t.api_tokens, t.users
    query = (
        select(
            k.c.id,
            u.c.username,
            k.c.label,
            k.c.prefix,
            k.c.created_at,
            k.c.expires_at,
            k.c.revoked_at,
            k.c.last_used_at,
        )
        .join(u, u.c.id == k.c.user_id)
        .order_by(k.c.id.desc())
    )
    if organisation_id is not None:
        query = query.where(u.c.organisation_id == organisation_id)
    return [
        TokenRow(
            r.id,
            r.username,
            r.label,
            r.prefix,
            as_utc(r.created_at),
            as_utc(r.expires_at) if r.expires_at else None,
            as_utc(r.revoked_at) if r.revoked_at else None,
            as_utc(r.last_used_at) if r.last_used_at else None,
        )
        for r in conn.execute(query)
    ]


def revoke_for_admin(conn: Connection, viewer: Viewer, token_id: int) -> None:
    """An admin revokes a token of their own clinic's users."""
    owner = conn.execute(
        select(t.users.c.organisation_id)
        .join(t.api_tokens, t.api_tokens.c.user_id == t.users.c.id)
        .where(t.api_tokens.c.id == token_id)
    ).scalar_one_or_none()
    if owner is None or owner != viewer.organisation_id:
        raise NotVisibleError("token")
    revoke_token(conn, token_id, actor=viewer.actor)


def viewer_for_token(engine: Engine, token: str, ip: str | None) -> Viewer | None:
    """The active user a live token acts for, or None (unknown, revoked, expired, deactivated)."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    k, u = t.api_tokens, t.users
    now = utc_now()
    with reading(engine) as conn:
        row = conn.execute(
            select(
                k.c.id,
                k.c.expires_at,
                k.c.revoked_at,
                k.c.last_used_at,
                u.c.id.label("user_id"),
                *VIEWER_COLUMNS,
            )
            .join(u, u.c.id == k.c.user_id)
            .where(k.c.token_hash == token_hash(token), u.c.active.is_(True))
        ).first()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and as_utc(row.expires_at) <= now:
            return None
    if row.last_used_at is None or as_utc(row.last_used_at) < now - TOUCH_EVERY:
        with writing(engine) as conn:
            conn.execute(update(k).where(k.c.id == row.id).values(last_used_at=now))
    # A token is the user acting from software: it never needs a password change first.
    return Viewer.from_row(row, row.user_id, ip)


def revoke_all_for(conn: Connection, user_id: int, actor: Actor) -> int:
    """Revoke every live token of a user (deactivation, a reset, a password change); audited."""
    k = t.api_tokens
    ids = conn.execute(
        select(k.c.id).where(k.c.user_id == user_id, k.c.revoked_at.is_(None))
    ).scalars()
    revoked = 0
    for token_id in list(ids):
        conn.execute(update(k).where(k.c.id == token_id).values(revoked_at=utc_now()))
        audit.record(conn, actor, "revoke", "api_token", token_id)
        revoked += 1
    return revoked
