"""Object-level authorisation: which episodes a user may see.

A therapist sees their own episodes; a supervisor sees their supervisees' episodes; an admin
sees no clinical content, except one episode at a time, read-only, under a live break-glass grant
(alliance.store.break_glass). Every clinical read and write goes through `episode_for`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, Row, false, select

from alliance.store import break_glass
from alliance.store import tables as t
from alliance.web.auth import Viewer
from alliance.web.services.errors import NotVisibleError


def visible_episodes(viewer: Viewer) -> ColumnElement[bool]:
    """A WHERE clause on `episodes` for the episodes this user may see."""
    if viewer.role == "therapist":
        return t.episodes.c.therapist_id == viewer.user_id
    if viewer.role == "supervisor":
        supervisees = select(t.users.c.id).where(t.users.c.supervisor_id == viewer.user_id)
        return t.episodes.c.therapist_id.in_(supervisees.scalar_subquery())
    if viewer.role == "admin":
        return break_glass.live_clause(viewer.user_id)
    return false()


def episode_for(conn: Connection, viewer: Viewer, episode_id: int) -> Row[tuple[object, ...]]:
    """The episode row with its client code, or NotVisibleError."""
    row = conn.execute(
        select(t.episodes, t.clients.c.code.label("client_code"))
        .join(t.clients, t.clients.c.id == t.episodes.c.client_id)
        .where(t.episodes.c.id == episode_id, visible_episodes(viewer))
    ).first()
    if row is None:
        raise NotVisibleError("episode")
    return row


def can_write(viewer: Viewer, episode: Row[tuple[object, ...]]) -> bool:
    """Only the treating therapist writes to an episode; a supervisor (or break glass) reads."""
    return viewer.role == "therapist" and episode.therapist_id == viewer.user_id


def require_writer(viewer: Viewer, episode: Row[tuple[object, ...]]) -> None:
    if not can_write(viewer, episode):
        raise NotVisibleError("episode")


def therapists_for(conn: Connection, viewer: Viewer) -> list[int]:
    """The therapists whose caseloads this user may see."""
    if viewer.role == "therapist":
        return [viewer.user_id]
    if viewer.role == "supervisor":
        return list(
            conn.execute(
                select(t.users.c.id).where(
                    t.users.c.supervisor_id == viewer.user_id, t.users.c.role == "therapist"
                )
            ).scalars()
        )
    return []
