"""Writes to an episode from a page or the API: check access, call the store, map refusals."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from sqlalchemy import Connection, select

from alliance.domain import DomainError, GoalStatus, WorksheetKind, check_closing
from alliance.domain.boundaries import BoundaryRationale
from alliance.domain.episode import EARLIEST_DATE, LATEST_DATE
from alliance.domain.goals import check_goal_move
from alliance.errors import FormError, NotVisibleError
from alliance.services import alerts
from alliance.store import episodes as store_episodes
from alliance.store import goals as store_goals
from alliance.store import relational as store_relational
from alliance.store import sessions as store_sessions
from alliance.store import tables as t
from alliance.store import worksheets as store_worksheets
from alliance.store.access import Access, Viewer
from alliance.store.base import Actor, load_episode, utc_now

T = TypeVar("T")


def actor(viewer: Viewer) -> Actor:
    return viewer.actor


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
    Access(conn, viewer).episode(episode_id, write=True)
    with refused_as_form_errors():
        return op()


def parse_date(field: str, value: str | None, *, required: bool = True) -> date | None:
    if value is None or not value.strip():
        if required:
            raise FormError({field: "a date is required (YYYY-MM-DD)"})
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise FormError({field: f"{value.strip()[:20]!r} is not a date (YYYY-MM-DD)"}) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise FormError(
            {field: f"{day.isoformat()} is out of range: allowed {EARLIEST_DATE} to {LATEST_DATE}"}
        )
    return day


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
    Access(conn, viewer).episode(episode_id, write=True)
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
    conn: Connection, viewer: Viewer, episode_id: int, kind: str, text: str, tags: str | list[str]
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


def session_number(conn: Connection, viewer: Viewer, episode_id: int, session_id: int) -> int:
    Access(conn, viewer).episode(episode_id)
    number = store_sessions.session_number(conn, episode_id, session_id)
    if number is None:
        raise NotVisibleError("session")
    return number


def lines(text: str | None) -> list[str]:
    """One entry per non-empty line of a textarea."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


_ENTRY_INDEX = re.compile(r"^(?P<name>[a-z_]+)\[(?P<index>\d+)\]$")


def _worksheet_error(exc: DomainError, default: str) -> FormError:
    """A worksheet refusal next to its textarea, naming the line ('warning_signs[2]' -> line 3)."""
    last = exc.field.rsplit(".", 1)[-1]
    where = ""
    entry = _ENTRY_INDEX.match(last)
    if entry:
        last = entry["name"]
        where = f"line {int(entry['index']) + 1}: "
    name = last if last in WORKSHEET_FIELDS else default
    return FormError({name: f"{where}{exc.detail}: {exc.rule}"})


WORKSHEET_FIELDS = ("answers", "warning_signs", "triggers", "coping_steps", "who_to_call")


def add_worksheet(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    kind: str,
    content: dict[str, list[str]],
) -> int:
    """A Miracle Question (its answers become proposed goals) or a relapse-prevention plan."""
    Access(conn, viewer).episode(episode_id, write=True)
    try:
        sheet_kind = WorksheetKind.parse(kind)
    except DomainError as exc:
        raise FormError({"kind": f"{exc.detail}: {exc.rule}"}) from None
    default = "answers" if sheet_kind == WorksheetKind.MIRACLE_QUESTION else "warning_signs"
    try:
        return store_worksheets.add_worksheet(conn, actor(viewer), episode_id, sheet_kind, content)
    except DomainError as exc:
        raise _worksheet_error(exc, default) from None


def set_goal_status(
    conn: Connection, viewer: Viewer, episode_id: int, goal_id: str | int, status: str
) -> str:
    """Agree, achieve or drop one of this episode's goals."""
    Access(conn, viewer).episode(episode_id, write=True)
    goal = int(goal_id) if isinstance(goal_id, int) or str(goal_id).isdigit() else None
    owner = (
        conn.execute(select(t.goals.c.episode_id).where(t.goals.c.id == goal)).scalar()
        if goal is not None
        else None
    )
    if goal is None or owner != episode_id:
        raise FormError({"goal_id": f"{str(goal_id)[:12]!r} is not a goal of this episode"})
    with refused_as_form_errors():
        return store_goals.set_goal_status(conn, actor(viewer), goal, status).value


def goal_moves(status: str) -> list[str]:
    """The statuses a goal may move to from `status` (the rules live in alliance.domain.goals)."""
    current = GoalStatus(status)
    moves = []
    for target in GoalStatus:
        try:
            check_goal_move(current, target)
        except DomainError:
            continue
        moves.append(target.value)
    return moves


@dataclass(frozen=True)
class Closing:
    """What the closing form says: the date (YYYY-MM-DD), the reason and an optional summary."""

    closed_on: str
    reason: str | None
    summary: str | None = None


def check_close(conn: Connection, viewer: Viewer, episode_id: int, closing: Closing) -> list[str]:
    """The closing's warnings, or FormError: what closing would say, with nothing written."""
    day = parse_date("closed_on", closing.closed_on)
    Access(conn, viewer).episode(episode_id, write=True)
    episode, _ = load_episode(conn, episode_id)
    with refused_as_form_errors():
        _, _, warnings = check_closing(
            episode,
            day,
            utc_now(),
            has_relapse_plan=store_episodes.has_relapse_plan(conn, episode_id),
            reason=closing.reason,
            summary=closing.summary or None,
        )
    return warnings


def close_episode(
    conn: Connection, viewer: Viewer, episode_id: int, closing: Closing
) -> store_episodes.ClosingResult:
    """Close the episode for a reason; the result carries the store's warnings."""
    day = parse_date("closed_on", closing.closed_on)
    assert day is not None

    def close() -> store_episodes.ClosingResult:
        # Its open alerts close with it, in the same transaction (a refused closing keeps them).
        alerts.close_with_episode(conn, viewer, episode_id)
        return store_episodes.close_episode(
            conn,
            actor(viewer),
            episode_id,
            day,
            reason=closing.reason,
            summary=closing.summary or None,
        )

    return _write(conn, viewer, episode_id, close)


def report_incident(
    conn: Connection, viewer: Viewer, episode_id: int, description: str, occurred_on: str
) -> int:
    """A suspected boundary violation, sent to the therapist's supervisor as an incident."""
    if viewer.role not in ("therapist", "supervisor"):
        raise NotVisibleError("episode")
    Access(conn, viewer).episode(episode_id)  # the treating therapist or their supervisor
    day = parse_date("occurred_on", occurred_on)
    assert day is not None
    with refused_as_form_errors():
        return store_relational.report_boundary_incident(
            conn, actor(viewer), episode_id, description, occurred_on=day
        )


def set_attendance(
    conn: Connection, viewer: Viewer, episode_id: int, session_id: int, attendance: str
) -> str:
    Access(conn, viewer).episode(episode_id, write=True)
    owner = conn.execute(
        select(t.sessions.c.episode_id).where(t.sessions.c.id == session_id)
    ).scalar()
    if owner != episode_id:
        raise NotVisibleError("session")
    with refused_as_form_errors():
        return store_sessions.set_attendance(conn, actor(viewer), session_id, attendance).value
