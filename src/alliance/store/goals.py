"""Goals in the client's words and the tasks linked to them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Connection

from alliance.domain import DomainError, GoalStatus, TaskKind, TaskStatus, check_goal_text
from alliance.domain.goals import check_goal_move, check_task_goal, check_task_text
from alliance.store import audit
from alliance.store.access import open_for_entry
from alliance.store.base import Actor, atomic, insert_id, row_by_id, update_by_id, utc_now
from alliance.store.tables import goals, tasks


def add_goal(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    text: str,
    *,
    status: GoalStatus | str = GoalStatus.AGREED,
    agreed_on: date | None = None,
    worksheet_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Add a goal; an agreed goal carries the date it was agreed (today when not given)."""
    now = now or utc_now()
    clean = check_goal_text(text)
    goal_status = GoalStatus.parse(status)
    if goal_status not in (GoalStatus.PROPOSED, GoalStatus.AGREED):
        raise DomainError("goal.status", goal_status.value, "a new goal is proposed or agreed")
    with atomic(conn):
        open_for_entry(conn, actor, episode_id, "goal")
        goal_id = insert_id(
            conn,
            goals,
            episode_id=episode_id,
            text=clean,
            status=goal_status.value,
            worksheet_id=worksheet_id,
            agreed_on=(agreed_on or now.date()) if goal_status == GoalStatus.AGREED else None,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        audit.record(conn, actor, "create", "goal", goal_id, now=now)
    return goal_id


def set_goal_status(
    conn: Connection,
    actor: Actor,
    goal_id: int,
    status: GoalStatus | str,
    *,
    now: datetime | None = None,
) -> GoalStatus:
    """Agree, achieve or drop a goal (the allowed moves are in alliance.domain.goals)."""
    now = now or utc_now()
    target = GoalStatus.parse(status)
    with atomic(conn):
        row = row_by_id(conn, goals, "goal", goal_id)
        open_for_entry(conn, actor, row["episode_id"], "goal")
        check_goal_move(GoalStatus(row["status"]), target)
        values: dict[str, object] = {"status": target.value, "updated_at": now}
        if target == GoalStatus.AGREED and row["agreed_on"] is None:
            values["agreed_on"] = now.date()
        update_by_id(conn, goals, goal_id, **values)
        audit.record(conn, actor, "update", "goal", goal_id, now=now)
    return target


def add_task(
    conn: Connection,
    actor: Actor,
    goal_id: int,
    description: str,
    *,
    kind: TaskKind | str = TaskKind.TECHNIQUE,
    now: datetime | None = None,
) -> int:
    """A task (technique, homework) that serves one goal of the same episode."""
    now = now or utc_now()
    clean = check_task_text(description)
    task_kind = TaskKind.parse(kind)
    with atomic(conn):
        goal = row_by_id(conn, goals, "goal", goal_id)
        open_for_entry(conn, actor, goal["episode_id"], "task")
        check_task_goal(GoalStatus(goal["status"]))
        task_id = insert_id(
            conn,
            tasks,
            episode_id=goal["episode_id"],
            goal_id=goal_id,
            description=clean,
            kind=task_kind.value,
            status=TaskStatus.OPEN.value,
            created_by=actor.user_id,
            created_at=now,
            updated_at=now,
        )
        audit.record(conn, actor, "create", "task", task_id, now=now)
    return task_id


def set_task_status(
    conn: Connection,
    actor: Actor,
    task_id: int,
    status: TaskStatus | str,
    *,
    now: datetime | None = None,
) -> TaskStatus:
    now = now or utc_now()
    target = TaskStatus.parse(status)
    with atomic(conn):
        row = row_by_id(conn, tasks, "task", task_id)
        open_for_entry(conn, actor, row["episode_id"], "task")
        update_by_id(conn, tasks, task_id, status=target.value, updated_at=now)
        audit.record(conn, actor, "update", "task", task_id, now=now)
    return target
