"""What every store operation shares: the actor, the clock, one transaction, the errors.

Who may read or write an episode is decided in one place, alliance.store.access.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    ColumnElement,
    Connection,
    RowMapping,
    Table,
    func,
    insert,
    select,
    update,
)

from alliance.domain import DomainError, Episode, Role, Stage
from alliance.errors import AllianceError
from alliance.store.tables import episodes, sessions, users


@dataclass(frozen=True)
class Actor:
    """Who acts, and from where; user_id None is the system itself (init, demo, imports)."""

    user_id: int | None
    ip: str | None = None
    # Acting in a sign-in that followed an admin's password reset: audited as such (see audit).
    after_reset: bool = False

    @classmethod
    def system(cls) -> Actor:
        return cls(None)


class NotFoundError(AllianceError, LookupError):
    """The named object does not exist (the message names its type and id only)."""

    def __init__(self, object_type: str, object_id: object) -> None:
        self.object_type = object_type
        self.object_id = object_id
        super().__init__(f"{object_type}: {object_id!r} does not exist")


class AccessDeniedError(AllianceError, PermissionError):
    """The actor may not do this to this object."""

    def __init__(self, actor: Actor, object_type: str, object_id: object, rule: str) -> None:
        self.rule = rule
        super().__init__(f"{object_type}: user {actor.user_id} may not access {object_id}: {rule}")


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Timestamps read back from SQLite are naive; they were written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@contextmanager
def atomic(conn: Connection) -> Iterator[None]:
    """One all-or-nothing unit: a transaction, or a savepoint inside the caller's transaction."""
    if conn.in_transaction():
        with conn.begin_nested():
            yield
    else:
        with conn.begin():
            yield


def insert_id(conn: Connection, table: Table, **values: object) -> int:
    """Insert one row and return its id."""
    return int(conn.execute(insert(table).values(**values).returning(table.c.id)).scalar_one())


def count_rows(conn: Connection, table: Table, *where: ColumnElement[bool]) -> int:
    """How many rows of `table` meet every condition in `where`."""
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def row_by_id(conn: Connection, table: Table, object_type: str, object_id: int) -> RowMapping:
    """The row of `table` with this id; NotFoundError, naming `object_type`, when there is none."""
    row = conn.execute(select(table).where(table.c.id == object_id)).mappings().first()
    if row is None:
        raise NotFoundError(object_type, object_id)
    return row


def update_by_id(conn: Connection, table: Table, row_id: int, **values: object) -> None:
    """Set `values` on the row of `table` with this id."""
    conn.execute(update(table).where(table.c.id == row_id).values(**values))


def load_episode(conn: Connection, episode_id: int) -> tuple[Episode, RowMapping]:
    """The episode's state for the domain rules, plus its row."""
    row = row_by_id(conn, episodes, "episode", episode_id)
    episode = Episode(
        client_id=row["client_id"],
        therapist_id=row["therapist_id"],
        opened_on=row["opened_on"],
        stage=Stage(row["stage"]),
        consent_on=row["consent_on"],
        closed_on=row["closed_on"],
    )
    return episode, row


def check_session_of(conn: Connection, session_id: int | None, episode_id: int) -> None:
    """A linked session must belong to the same episode."""
    if session_id is None:
        return
    owner = conn.execute(
        select(sessions.c.episode_id).where(sessions.c.id == session_id)
    ).scalar_one_or_none()
    if owner is None:
        raise NotFoundError("session", session_id)
    if owner != episode_id:
        raise DomainError("session_id", session_id, f"must be a session of episode {episode_id}")


def check_member(
    conn: Connection, actor: Actor, organisation_id: int, roles: frozenset[Role] | None = None
) -> None:
    """The actor is an active user of the organisation (with one of `roles`, when given)."""
    if actor.user_id is None:
        return
    user = row_by_id(conn, users, "user", actor.user_id)
    if not user["active"] or user["organisation_id"] != organisation_id:
        raise AccessDeniedError(actor, "organisation", organisation_id, "not a member")
    if roles is not None and Role(user["role"]) not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise AccessDeniedError(actor, "organisation", organisation_id, f"needs role {allowed}")
