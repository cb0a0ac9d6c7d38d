"""Goals, sessions, closing, worksheets, boundaries and notes: rules as small tables."""

from __future__ import annotations

from datetime import date

import pytest

from alliance.domain import (
    Attendance,
    BoundaryKind,
    BoundaryRationale,
    ClosingReason,
    DomainError,
    Episode,
    GoalStatus,
    RelapsePreventionPlan,
    Session,
    check_boundary_event,
    check_closing,
    check_goal_text,
    check_next_session,
    check_tags,
)
from alliance.domain.goals import check_goal_move
from alliance.domain.worksheets import MiracleQuestion, WorksheetKind, check_worksheet
from tests.conftest import FIXED_NOW

NOW = FIXED_NOW
OPEN = Episode(client_id=1, therapist_id=2, opened_on=date(2026, 1, 5))


@pytest.mark.parametrize(
    ("text", "result_or_message"),
    [
        ("  Sleep through the night ", "Sleep through the night"),
        ("x" * 500, "x" * 500),
        ("", "goal.text: empty text: must not be empty"),
        ("   ", "goal.text: empty text: must not be empty"),
        ("x" * 501, "goal.text: 501 characters: at most 500 characters"),
    ],
)
def test_it_checks_goal_text(text: str, result_or_message: str) -> None:
    if result_or_message.startswith("goal.text:"):
        with pytest.raises(DomainError) as refused:
            check_goal_text(text)
        assert str(refused.value) == result_or_message
    else:
        assert check_goal_text(text) == result_or_message


# current   target   allowed
GOAL_MOVES = [
    ("proposed", "agreed", True),
    ("proposed", "dropped", True),
    ("proposed", "achieved", False),
    ("agreed", "achieved", True),
    ("agreed", "dropped", True),
    ("achieved", "agreed", True),
    ("dropped", "achieved", False),
]


@pytest.mark.parametrize(("current", "target", "allowed"), GOAL_MOVES)
def test_it_moves_goal_status(current: str, target: str, allowed: bool) -> None:
    if allowed:
        assert check_goal_move(GoalStatus(current), GoalStatus(target)) == GoalStatus(target)
    else:
        with pytest.raises(DomainError, match=f"cannot change from {current} to {target}"):
            check_goal_move(GoalStatus(current), GoalStatus(target))


PREVIOUS = [Session(1, date(2026, 1, 5), Attendance.ATTENDED)]


# number  held_on        message (None = allowed)
SESSIONS = [
    (None, date(2026, 1, 12), None),
    (2, date(2026, 1, 12), None),
    (2, date(2026, 1, 5), None),  # same day as the last session is allowed
    (
        3,
        date(2026, 1, 12),
        "session.number: 3 is out of order: sessions are numbered in order; the next is 2",
    ),
    (
        1,
        date(2026, 1, 12),
        "session.number: 1 is out of order: sessions are numbered in order; the next is 2",
    ),
    (
        2,
        date(2026, 1, 4),
        "session.held_on: '2026-01-04' is refused: "
        "must not be before the episode opened (2026-01-05)",
    ),
    (
        2,
        date(2026, 3, 3),
        "session.held_on: '2026-03-03' is refused: must not be after today (2026-03-02)",
    ),
]


@pytest.mark.parametrize(("number", "held_on", "message"), SESSIONS)
def test_it_numbers_sessions_in_order(
    number: int | None, held_on: date, message: str | None
) -> None:
    if message is None:
        assert check_next_session(OPEN, PREVIOUS, number, held_on, NOW) == 2
    else:
        with pytest.raises(DomainError) as refused:
            check_next_session(OPEN, PREVIOUS, number, held_on, NOW)
        assert str(refused.value) == message


def test_it_refuses_a_session_dated_before_the_last_one() -> None:
    later = [*PREVIOUS, Session(2, date(2026, 1, 19), Attendance.NO_SHOW)]
    with pytest.raises(DomainError) as refused:
        check_next_session(OPEN, later, 3, date(2026, 1, 12), NOW)
    assert str(refused.value) == (
        "session.held_on: '2026-01-12' is refused: must not be before session 2 (2026-01-19)"
    )


# closed_on        has_plan  outcome
CLOSINGS = [
    (date(2026, 3, 1), True, []),
    (date(2026, 3, 1), False, ["warning"]),
    (None, True, "closed_on: missing: closing needs a closing date"),
    (
        date(2026, 1, 4),
        True,
        "closed_on: '2026-01-04' is refused: must not be before the opening date (2026-01-05)",
    ),
    (
        date(2026, 3, 3),
        True,
        "closed_on: '2026-03-03' is refused: must not be after today (2026-03-02)",
    ),
]


@pytest.mark.parametrize(("closed_on", "has_plan", "outcome"), CLOSINGS)
def test_it_closes_with_a_date_and_asks_for_a_plan(
    closed_on: date | None, has_plan: bool, outcome: list[str] | str
) -> None:
    if isinstance(outcome, str):
        with pytest.raises(DomainError) as refused:
            check_closing(OPEN, closed_on, NOW, has_relapse_plan=has_plan, reason="planned")
        assert str(refused.value) == outcome
        return
    _, _, warnings = check_closing(
        OPEN, closed_on, NOW, has_relapse_plan=has_plan, reason="planned"
    )
    assert len(warnings) == len(outcome)
    if outcome:
        assert "relapse-prevention plan" in warnings[0]


ALLOWED_REASONS = "one of planned, dropout, referred, other"

# reason given          accepted as (a ClosingReason) or refused with (the message)
REASONS: list[tuple[ClosingReason | str | None, ClosingReason | str]] = [
    ("planned", ClosingReason.PLANNED),
    ("dropout", ClosingReason.DROPOUT),
    ("referred", ClosingReason.REFERRED),
    ("other", ClosingReason.OTHER),
    (" Dropout ", ClosingReason.DROPOUT),
    (ClosingReason.REFERRED, ClosingReason.REFERRED),
    (None, f"closing_reason: None is missing: closing needs a reason, {ALLOWED_REASONS}"),
    ("", f"closing_reason: '' is missing: closing needs a reason, {ALLOWED_REASONS}"),
    ("  ", f"closing_reason: '  ' is missing: closing needs a reason, {ALLOWED_REASONS}"),
    ("quit", f"closing_reason: 'quit' is unknown: {ALLOWED_REASONS}"),
    ("drop-out", f"closing_reason: 'drop-out' is unknown: {ALLOWED_REASONS}"),
]


@pytest.mark.parametrize(("reason", "outcome"), REASONS)
def test_it_closes_only_with_a_known_reason(
    reason: ClosingReason | str | None, outcome: ClosingReason | str
) -> None:
    if not isinstance(outcome, ClosingReason):
        with pytest.raises(DomainError) as refused:
            check_closing(OPEN, date(2026, 3, 1), NOW, has_relapse_plan=True, reason=reason)
        assert str(refused.value) == outcome
        assert refused.value.field == "closing_reason"
        return
    clean, _, warnings = check_closing(
        OPEN, date(2026, 3, 1), NOW, has_relapse_plan=True, reason=reason
    )
    assert clean is outcome
    assert warnings == []


def test_it_keeps_the_plan_warning_on_a_dropout() -> None:
    reason, _, warnings = check_closing(
        OPEN, date(2026, 3, 1), NOW, has_relapse_plan=False, reason="dropout"
    )
    assert reason is ClosingReason.DROPOUT
    assert len(warnings) == 1
    assert "relapse-prevention plan" in warnings[0]


WELFARE = BoundaryRationale(client_welfare="normalise the experience")
FULL = BoundaryRationale("fear of travel", "graded exposure", "goal 1, step 3")

# kind               rationale              refused field (None = allowed)
BOUNDARIES = [
    ("rule", BoundaryRationale(), None),
    ("ritual", BoundaryRationale(), None),
    ("self_disclosure", WELFARE, None),
    ("self_disclosure", BoundaryRationale(), "boundary.client_welfare"),
    ("crossing", FULL, None),
    ("crossing", BoundaryRationale(), "boundary.client_welfare"),
    ("crossing", WELFARE, "boundary.technique_goal"),
    ("crossing", BoundaryRationale("a", "b", " "), "boundary.plan_link"),
]


@pytest.mark.parametrize(("kind", "rationale", "field"), BOUNDARIES)
def test_it_asks_for_the_rationale_of_boundary_events(
    kind: str, rationale: BoundaryRationale, field: str | None
) -> None:
    if field is None:
        event = check_boundary_event(BoundaryKind.parse(kind), "what happened", rationale)
        assert event.kind == BoundaryKind(kind)
    else:
        with pytest.raises(DomainError) as refused:
            check_boundary_event(BoundaryKind.parse(kind), "what happened", rationale)
        assert refused.value.field == field


@pytest.mark.parametrize("kind", ["violation", "Boundary violation", "dual-relationship"])
def test_it_never_logs_a_violation_as_routine(kind: str) -> None:
    with pytest.raises(DomainError) as refused:
        BoundaryKind.parse(kind)
    assert refused.value.rule == (
        "a suspected violation is an incident for the supervisor, not a routine entry"
    )


@pytest.mark.parametrize(
    ("tags", "result"),
    [
        (["Withdrawal", "homework", "withdrawal"], ["withdrawal", "homework"]),
        ("rupture, task-change", ["rupture", "task-change"]),
        ([], []),
    ],
)
def test_it_normalises_tags(tags: list[str] | str, result: list[str]) -> None:
    assert check_tags(tags) == result


def test_it_refuses_a_tag_with_odd_characters() -> None:
    with pytest.raises(DomainError, match=r"note\.tags"):
        check_tags(["ok", "no/slash"])


def test_it_seeds_goals_from_miracle_answers_without_repeats() -> None:
    sheet = MiracleQuestion.from_content({"answers": ["Walk the dog", "Call Mum", "Walk the dog"]})
    assert sheet.goal_seeds() == ["Walk the dog", "Call Mum"]


@pytest.mark.parametrize("missing", ["warning_signs", "triggers", "coping_steps", "who_to_call"])
def test_it_wants_every_part_of_the_relapse_plan(missing: str) -> None:
    content = {
        k: ["one entry"] for k in ("warning_signs", "triggers", "coping_steps", "who_to_call")
    }
    content[missing] = []
    with pytest.raises(DomainError) as refused:
        check_worksheet(WorksheetKind.RELAPSE_PREVENTION, content)
    assert str(refused.value) == (
        f"relapse_prevention.{missing}: no entries: needs at least one entry"
    )
    content[missing] = ["filled"]
    assert isinstance(RelapsePreventionPlan.from_content(content), RelapsePreventionPlan)
