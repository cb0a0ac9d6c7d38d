"""Goals in the client's own words and the tasks that serve them (Bordin 1979)."""

from __future__ import annotations

from alliance.domain.errors import Choice, DomainError, check_text

GOAL_MAX = 500
TASK_MAX = 500


class GoalStatus(Choice, field="goal.status"):
    PROPOSED = "proposed"  # e.g. seeded from a Miracle Question answer, not yet agreed
    AGREED = "agreed"
    ACHIEVED = "achieved"
    DROPPED = "dropped"


# Agreed and achieved goals both count as agreed on: the work was shared.
AGREED_STATUSES = frozenset({GoalStatus.AGREED, GoalStatus.ACHIEVED})

_GOAL_MOVES = {
    GoalStatus.PROPOSED: {GoalStatus.AGREED, GoalStatus.DROPPED},
    GoalStatus.AGREED: {GoalStatus.ACHIEVED, GoalStatus.DROPPED},
    GoalStatus.ACHIEVED: {GoalStatus.AGREED},
    GoalStatus.DROPPED: {GoalStatus.PROPOSED, GoalStatus.AGREED},
}


class TaskKind(Choice, field="task.kind"):
    TECHNIQUE = "technique"
    HOMEWORK = "homework"
    OTHER = "other"


class TaskStatus(Choice, field="task.status"):
    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


def check_goal_text(text: str) -> str:
    """The client's words, kept as written (stripped), 1 to GOAL_MAX characters."""
    return check_text("goal.text", text, max_length=GOAL_MAX)


def check_task_text(text: str) -> str:
    return check_text("task.description", text, max_length=TASK_MAX)


def check_goal_move(current: GoalStatus, target: GoalStatus) -> GoalStatus:
    if target not in _GOAL_MOVES[current]:
        raise DomainError(
            "goal.status",
            target.value,
            f"from {current.value} a goal can become "
            + ", ".join(sorted(s.value for s in _GOAL_MOVES[current])),
            detail=f"cannot change from {current.value} to {target.value}",
        )
    return target


def check_task_goal(goal_status: GoalStatus) -> None:
    """A task serves a goal that is still being worked on."""
    if goal_status == GoalStatus.DROPPED:
        raise DomainError(
            "task.goal_id", goal_status.value, "a task needs a goal that is not dropped"
        )
