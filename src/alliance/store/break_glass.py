"""Break glass: an admin's stated-reason, time-limited, read-only access to one episode.

An admin normally reads no clinical content (alliance.store.base.can_read). In an emergency
(a therapist is unreachable, a complaint must be examined) an admin opens one episode for
GRANT_MINUTES by stating why. The grant is audited as action "break_glass" on the episode; the
reason is kept in `break_glass_grants` only, never in the audit log. The episode's therapist and
supervisor see every grant on the episode's pages. Grants never allow writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, exists, select

from alliance.domain import DomainError, Role
from alliance.domain.errors import check_text
from alliance.store import audit
from alliance.store.base import (
    AccessDeniedError,
    Actor,
    NotFoundError,
    as_utc,
    atomic,
    insert_id,
    row_by_id,
    utc_now,
)
from alliance.store.tables import break_glass_grants, clients, episodes, users

GRANT_MINUTES = 60
REASON_MIN = 20
REASON_MAX = 2000


@dataclass(frozen=True)
class Grant:
    id: int
    episode_id: int
    user_id: int
    admin_name: str
    reason: str
    granted_at: datetime
    expires_at: datetime

    def live(self, now: datetime | None = None) -> bool:
        return self.expires_at > (now or utc_now())


def open_grant(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    reason: str,
    *,
    minutes: int = GRANT_MINUTES,
    now: datetime | None = None,
) -> Grant:
    """Give the acting admin read-only access to one episode of their clinic, for `minutes`."""
    now = now or utc_now()
    clean = check_text("break_glass.reason", reason, max_length=REASON_MAX)
    if len(clean) < REASON_MIN:
        raise DomainError(
            "break_glass.reason",
            f"{len(clean)} characters",
            f"state the reason in at least {REASON_MIN} characters",
            detail=f"{len(clean)} characters is too short",
        )
    if not 1 <= minutes <= GRANT_MINUTES:
        raise DomainError("break_glass.minutes", minutes, f"must be 1 to {GRANT_MINUTES}")
    if actor.user_id is None:
        raise AccessDeniedError(actor, "episode", episode_id, "break glass needs a named admin")
    with atomic(conn):
        admin = row_by_id(conn, users, "user", actor.user_id)
        if not admin["active"] or Role(admin["role"]) != Role.ADMIN:
            raise AccessDeniedError(actor, "episode", episode_id, "only an active admin")
        organisation = conn.execute(
            select(clients.c.organisation_id)
            .join(episodes, episodes.c.client_id == clients.c.id)
            .where(episodes.c.id == episode_id)
        ).scalar_one_or_none()
        if organisation is None or organisation != admin["organisation_id"]:
            # Another clinic's episode is reported exactly like a missing one.
            raise NotFoundError("episode", episode_id)
        expires = now + timedelta(minutes=minutes)
        grant_id = insert_id(
            conn,
            break_glass_grants,
            episode_id=episode_id,
            user_id=actor.user_id,
            reason=clean,
            granted_at=now,
            expires_at=expires,
        )
        audit.record(conn, actor, "break_glass", "episode", episode_id, now=now)
    return Grant(grant_id, episode_id, actor.user_id, admin["display_name"], clean, now, expires)


def live_clause(user_id: int, now: datetime | None = None) -> ColumnElement[bool]:
    """A WHERE clause on `episodes`: the episodes this user holds a live grant for."""
    g = break_glass_grants
    return exists().where(
        and_(
            g.c.episode_id == episodes.c.id,
            g.c.user_id == user_id,
            g.c.expires_at > (now or utc_now()),
        )
    )


def has_live_grant(
    conn: Connection, user_id: int, episode_id: int, now: datetime | None = None
) -> bool:
    g = break_glass_grants
    found = conn.execute(
        select(g.c.id)
        .where(
            g.c.user_id == user_id,
            g.c.episode_id == episode_id,
            g.c.expires_at > (now or utc_now()),
        )
        .limit(1)
    ).first()
    return found is not None


def _grants(conn: Connection, where: ColumnElement[bool]) -> list[Grant]:
    g = break_glass_grants
    rows = conn.execute(
        select(g, users.c.display_name)
        .join(users, users.c.id == g.c.user_id)
        .where(where)
        .order_by(g.c.granted_at.desc(), g.c.id.desc())
    ).mappings()
    return [
        Grant(
            r["id"],
            r["episode_id"],
            r["user_id"],
            r["display_name"],
            r["reason"],
            as_utc(r["granted_at"]),
            as_utc(r["expires_at"]),
        )
        for r in rows
    ]


def grants_on_episode(conn: Connection, episode_id: int) -> list[Grant]:
    """Every grant opened on the episode, newest first (its therapist and supervisor see them)."""
    return _grants(conn, break_glass_grants.c.episode_id == episode_id)


def grants_by(conn: Connection, user_id: int) -> list[Grant]:
    """The grants an admin opened, newest first."""
    return _grants(conn, break_glass_grants.c.user_id == user_id)
