"""The one access policy: who may see and write which episode, and the audit hook beside it.

A therapist sees and writes their own episodes; a supervisor reads their supervisees' episodes;
an admin manages accounts and reads no clinical content, except one episode at a time, read-only,
under a live break-glass grant (alliance.store.break_glass). An inactive account sees nothing.

The rule is written once, as SQL (`visible_therapists`, `visible_episodes`): lists filter by it,
a single object is fetched through it (`Access.episode`), and the store's own write and read
functions check it (`check_read`, `check_write`), so no path reaches an episode around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Row, RowMapping, Select, false, select

from alliance.domain import Episode
from alliance.domain.episode import require_open
from alliance.errors import NotVisibleError
from alliance.store import audit, break_glass
from alliance.store.base import (
    AccessDeniedError,
    Actor,
    NotFoundError,
    check_session_of,
    load_episode,
)
from alliance.store.tables import clients, episodes, users

RoleName = Literal["therapist", "supervisor", "admin"]


@dataclass(frozen=True)
class Viewer:
    """The signed-in user: who reads and writes, from where."""

    user_id: int
    username: str
    display_name: str
    role: RoleName
    organisation_id: int | None
    ip: str | None
    must_change_password: bool = False
    # The sign-in session this viewer acts in (None for an API token or a command).
    session_id: int | None = None
    # The sign-in followed an admin's password reset that the user has not confirmed as theirs.
    after_reset: bool = False

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.ip, self.after_reset)

    @classmethod
    def from_row(
        cls,
        row: Row[*tuple[Any, ...]],
        user_id: int,
        ip: str | None,
        *,
        must_change_password: bool = False,
    ) -> Viewer:
        """The viewer a row holding VIEWER_COLUMNS makes, signed in as `user_id` from `ip`."""
        return cls(
            user_id=user_id,
            username=row.username,
            display_name=row.display_name,
            role=row.role,
            organisation_id=row.organisation_id,
            ip=ip,
            must_change_password=must_change_password,
        )


# The columns of `users` a Viewer is made from (besides the id).
VIEWER_COLUMNS = (users.c.username, users.c.display_name, users.c.role, users.c.organisation_id)


def visible_therapists(role: str, user_id: int) -> Select[Any]:
    """The ids of the therapists whose clinical work this user may read."""
    if role == "therapist":
        return select(users.c.id).where(users.c.id == user_id)
    if role == "supervisor":
        return select(users.c.id).where(
            users.c.supervisor_id == user_id, users.c.role == "therapist"
        )
    return select(users.c.id).where(false())


def visible_episodes(role: str, user_id: int, *, grants: bool) -> ColumnElement[bool]:
    """A WHERE clause on `episodes` for the episodes this user may read.

    `grants=True` lets an admin's live break-glass grant count: only when one episode is named.
    A list (a caseload, a clinic's figures) never opens through break glass.
    """
    if role == "admin":
        return break_glass.live_clause(user_id) if grants else false()
    return episodes.c.therapist_id.in_(visible_therapists(role, user_id).scalar_subquery())


class Access:
    """One viewer's access on one connection: the list filter, the object check, the audit hook."""

    def __init__(self, conn: Connection, viewer: Viewer) -> None:
        self.conn = conn
        self.viewer = viewer

    def episodes(self) -> ColumnElement[bool]:
        """The WHERE clause for lists of episodes (and of anything joined to them)."""
        return visible_episodes(self.viewer.role, self.viewer.user_id, grants=False)

    def listing(self, *columns: Any) -> Select[Any]:
        """`columns` of the episodes this viewer may list, joined to their client and therapist."""
        joined = episodes.join(clients, clients.c.id == episodes.c.client_id).join(
            users, users.c.id == episodes.c.therapist_id
        )
        return select(*columns).select_from(joined).where(self.episodes())

    def therapists(self) -> list[int]:
        """The therapists whose caseloads this viewer may read."""
        query = visible_therapists(self.viewer.role, self.viewer.user_id)
        return [int(i) for i in self.conn.execute(query).scalars()]

    def episode(self, episode_id: int, *, write: bool = False) -> Row[tuple[object, ...]]:
        """The episode row with its client code, or NotVisibleError.

        `write=True` also requires the viewer to be the treating therapist: a supervisor or an
        admin under break glass reads, and is refused a write exactly as a missing episode is.
        """
        row = self.conn.execute(
            select(episodes, clients.c.code.label("client_code"))
            .join(clients, clients.c.id == episodes.c.client_id)
            .where(
                episodes.c.id == episode_id,
                visible_episodes(self.viewer.role, self.viewer.user_id, grants=True),
            )
        ).first()
        if row is None or (write and not self.can_write(row)):
            raise NotVisibleError("episode")
        return row

    def can_write(self, episode: Row[tuple[object, ...]]) -> bool:
        """Only the treating therapist writes to an episode."""
        return self.viewer.role == "therapist" and episode.therapist_id == self.viewer.user_id

    def record(self, action: str, object_type: str, object_id: object = None) -> None:
        """Audit what this viewer did (ids and action names only, never content)."""
        audit.record(self.conn, self.viewer.actor, action, object_type, object_id)


def _active_role(conn: Connection, actor: Actor) -> str | None:
    """The actor's role, or None when the account is missing or inactive."""
    row = conn.execute(
        select(users.c.role, users.c.active).where(users.c.id == actor.user_id)
    ).first()
    if row is None:
        raise NotFoundError("user", actor.user_id)
    return str(row.role) if row.active else None


def can_read(
    conn: Connection, actor: Actor, therapist_id: int, *, episode_id: int | None = None
) -> bool:
    """The store's check for a named actor: the same rule as `visible_episodes`.

    With `episode_id`, the episode must be visible (an admin's live break-glass grant counts);
    without it, the therapist's caseload must be (break glass never opens a caseload).
    """
    if actor.user_id is None:
        return True
    role = _active_role(conn, actor)
    if role is None:
        return False
    if episode_id is not None:
        found = conn.execute(
            select(episodes.c.id).where(
                episodes.c.id == episode_id,
                episodes.c.therapist_id == therapist_id,
                visible_episodes(role, actor.user_id, grants=True),
            )
        ).first()
        return found is not None
    query = visible_therapists(role, actor.user_id).where(users.c.id == therapist_id)
    return conn.execute(query).first() is not None


def check_read(
    conn: Connection,
    actor: Actor,
    therapist_id: int,
    object_id: object,
    *,
    episode_id: int | None = None,
) -> None:
    if not can_read(conn, actor, therapist_id, episode_id=episode_id):
        raise AccessDeniedError(
            actor, "episode", object_id, "only the treating therapist or their supervisor reads"
        )


def check_write(conn: Connection, actor: Actor, episode: Episode, episode_id: object) -> None:
    """Clinical entries are written by the treating therapist (or the system)."""
    if actor.user_id is None:
        return
    role = _active_role(conn, actor)
    if role is None:
        raise AccessDeniedError(actor, "episode", episode_id, "the account is not active")
    if actor.user_id != episode.therapist_id:
        raise AccessDeniedError(actor, "episode", episode_id, "only the treating therapist writes")


def load_for_write(conn: Connection, actor: Actor, episode_id: int) -> tuple[Episode, RowMapping]:
    """The episode and its row, once `check_write` lets the actor write to it."""
    episode, row = load_episode(conn, episode_id)
    check_write(conn, actor, episode, episode_id)
    return episode, row


def open_for_entry(
    conn: Connection, actor: Actor, episode_id: int, entry: str, *, session_id: int | None = None
) -> Episode:
    """The open episode a new `entry` goes into: the actor writes it; a session named is its own."""
    episode, _ = load_for_write(conn, actor, episode_id)
    check_session_of(conn, session_id, episode_id)
    require_open(episode, entry)
    return episode
