"""The pure model of the therapeutic relationship: no I/O, no SQL, no web."""

from alliance.domain.boundaries import (
    BoundaryCrossing,
    BoundaryEvent,
    BoundaryKind,
    BoundaryRationale,
    check_boundary_event,
)
from alliance.domain.episode import (
    ClosingReason,
    Episode,
    check_closing,
    check_consent,
    check_opening,
    parse_closing_reason,
)
from alliance.domain.errors import DomainError
from alliance.domain.goals import GoalStatus, TaskKind, TaskStatus, check_goal_text
from alliance.domain.people import Role
from alliance.domain.relational import NoteKind, check_tags
from alliance.domain.sessions import Attendance, Session, check_next_session
from alliance.domain.stages import Stage, StageTransition, check_history, check_transition
from alliance.domain.worksheets import MiracleQuestion, RelapsePreventionPlan, WorksheetKind

__all__ = [
    "Attendance",
    "BoundaryCrossing",
    "BoundaryEvent",
    "BoundaryKind",
    "BoundaryRationale",
    "ClosingReason",
    "DomainError",
    "Episode",
    "GoalStatus",
    "MiracleQuestion",
    "NoteKind",
    "RelapsePreventionPlan",
    "Role",
    "Session",
    "Stage",
    "StageTransition",
    "TaskKind",
    "TaskStatus",
    "WorksheetKind",
    "check_boundary_event",
    "check_closing",
    "check_consent",
    "check_goal_text",
    "check_history",
    "check_next_session",
    "check_opening",
    "check_tags",
    "check_transition",
    "parse_closing_reason",
]
