"""Writes to an episode from a page or the API: check access, call the store, map refusals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TypeVar

from sqlalchemy import Connection

from alliance.domain import DomainError
from alliance.domain.boundaries import BoundaryRationale
from alliance.store import episodes as store_episodes
from alliance.store import goals as store_goals
from alliance.store import relational as store_relational
from alliance.store import sessions as store_sessions
from alliance.store.base import Actor
from alliance.web.auth import Viewer
from alliance.web.services.access import episode_for, require_writer
from alliance.web.services.errors import FormError

T = TypeVar("T")


def actor(viewer: Viewer) -> Actor:
    return Actor(viewer.user_id, viewer.ip)


# Domain field names whose form field is called differently.
_FORM_FIELD = {"stage": "target"}


def _field(name: str) -> str:
    """The form field a domain error names: 'boundary.plan_link' -> 'plan_link'."""
    last = name.rsplit(".", 1)[-1]
    return _FORM_FIELD.get(last, last)


@contextmanager
def refused_as_form_errors() -> Iterator[None]:
    try:
        yield
    except DomainError as exc:
        raise FormError({_field(exc.field): f"{exc.detail}: {exc.rule}"}) from None


def _write(conn: Connection, viewer: Viewer, episode_id: int, op: Callable[[], T]) -> T:
    require_writer(viewer, episode_for(conn, viewer, episode_id))
    with refused_as_form_errors():
        return op()


def parse_date(field: str, value: str | None, *, required: bool = True) -> date | None:
    if value is None or not value.strip():
        if required:
            raise FormError({field: "a date is required (YYYY-MM-DD)"})
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise FormError({field: f"{value.strip()[:20]!r} is not a date (YYYY-MM-DD)"}) from None


def move_stage(
    conn: Connection, viewer: Viewer, episode_id: int, target: str, reason: str | None
) -> str:
    return _write(
        conn,
        viewer,
        episode_id,
        lambda: (
            store_episodes.move_stage(
                conn, actor(viewer), episode_id, target, reason=reason or None
            ).value
        ),
    )


def record_consent(conn: Connection, viewer: Viewer, episode_id: int, consent_on: str) -> None:
    day = parse_date("consent_on", consent_on)
    assert day is not None
    _write(
        conn,
        viewer,
        episode_id,
        lambda: store_episodes.record_consent(conn, actor(viewer), episode_id, day),
    )


def add_goal(conn: Connection, viewer: Viewer, episode_id: int, text: str, status: str) -> int:
    if not text.strip():
        raise FormError({"text": "the goal is empty; write it in the client's words"})
    return _write(
        conn,
        viewer,
        episode_id,
        lambda: store_goals.add_goal(
            conn, actor(viewer), episode_id, text, status=status or "agreed"
        ),
    )


def add_task(
    conn: Connection, viewer: Viewer, episode_id: int, goal_id: int, description: str, kind: str
) -> int:
    if not description.strip():
        raise FormError({"description": "the task is empty"})
    episode = episode_for(conn, viewer, episode_id)
    require_writer(viewer, episode)
    from sqlalchemy import select

    from alliance.store import tables as t

    owner = conn.execute(select(t.goals.c.episode_id).where(t.goals.c.id == goal_id)).scalar()
    if owner != episode_id:
        raise FormError({"goal_id": f"goal {goal_id} is not a goal of this episode"})
    with refused_as_form_errors():
        return store_goals.add_task(conn, actor(viewer), goal_id, description, kind=kind)


def record_boundary(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    *,
    kind: str,
    description: str,
    occurred_on: str,
    client_welfare: str,
    technique_goal: str,
    plan_link: str,
) -> int:
    day = parse_date("occurred_on", occurred_on)
    assert day is not None
    rationale = BoundaryRationale(client_welfare, technique_goal, plan_link)
    return _write(
        conn,
        viewer,
        episode_id,
        lambda: store_relational.record_boundary_event(
            conn, actor(viewer), episode_id, kind, description, occurred_on=day, rationale=rationale
        ),
    )


def add_note(
    conn: Connection, viewer: Viewer, episode_id: int, kind: str, text: str, tags: str
) -> int:
    return _write(
        conn,
        viewer,
        episode_id,
        lambda: store_relational.add_relational_note(
            conn, actor(viewer), episode_id, kind, text, tags=tags
        ),
    )


def record_session(
    conn: Connection, viewer: Viewer, episode_id: int, held_on: str, attendance: str
) -> int:
    day = parse_date("held_on", held_on)
    assert day is not None
    return _write(
        conn,
        viewer,
        episode_id,
        lambda: store_sessions.record_session(
            conn, actor(viewer), episode_id, day, attendance=attendance
        ),
    )
