"""Every stage rule as a table: allowed and refused moves, with the exact refusal message."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.domain import DomainError, Episode, Stage, StageTransition, check_history
from alliance.domain.stages import StageReadiness, check_transition
from tests.conftest import FIXED_NOW

NOW = FIXED_NOW
READY = StageReadiness(closed=False, consent_recorded=True, agreed_goals=1)

C, P, CH, T = Stage.COMMITMENT, Stage.PROCESS, Stage.CHANGE, Stage.TERMINATION

# from  to   reason        allowed?
ALLOWED = [
    (C, P, None),
    (P, CH, None),
    (CH, T, None),
    (P, C, "consent withdrawn to rethink goals"),
    (CH, P, "relapse after a job loss"),
    (T, P, "relapse during the ending"),
    (T, C, "a new problem; goals to agree again"),
]

# from  to   reason   message
REFUSED = [
    (
        C,
        CH,
        None,
        "stage: cannot move from commitment to change: stages move forward one step at a time",
    ),
    (
        C,
        T,
        None,
        "stage: cannot move from commitment to termination: stages move forward one step at a time",
    ),
    (
        P,
        T,
        None,
        "stage: cannot move from process to termination: stages move forward one step at a time",
    ),
    (CH, P, None, "stage: cannot move from change to process: a step back needs a reason"),
    (CH, P, "   ", "stage: cannot move from change to process: a step back needs a reason"),
    (T, CH, None, "stage: cannot move from termination to change: a step back needs a reason"),
    (
        P,
        P,
        None,
        "stage: cannot move from process to process: the episode is already in that stage",
    ),
]


@pytest.mark.parametrize(("current", "target", "reason"), ALLOWED)
def test_it_allows(current: Stage, target: Stage, reason: str | None) -> None:
    assert check_transition(current, target, READY, reason) == reason


@pytest.mark.parametrize(("current", "target", "reason", "message"), REFUSED)
def test_it_refuses(current: Stage, target: Stage, reason: str | None, message: str) -> None:
    with pytest.raises(DomainError) as refused:
        check_transition(current, target, READY, reason)
    assert str(refused.value) == message
    assert refused.value.field == "stage"
    assert refused.value.value == target.value


# consent  goals  closed  message (entering process from commitment)
READINESS = [
    (
        False,
        1,
        False,
        "stage: cannot move from commitment to process: entering process needs recorded consent",
    ),
    (
        True,
        0,
        False,
        "stage: cannot move from commitment to process: "
        "entering process needs at least one agreed goal",
    ),
    (
        False,
        0,
        False,
        "stage: cannot move from commitment to process: entering process needs recorded consent",
    ),
    (True, 1, True, "stage: cannot move from commitment to process: the episode is closed"),
]


@pytest.mark.parametrize(("consent", "goals", "closed", "message"), READINESS)
def test_it_guards_entry_into_process(
    consent: bool, goals: int, closed: bool, message: str
) -> None:
    readiness = StageReadiness(closed=closed, consent_recorded=consent, agreed_goals=goals)
    with pytest.raises(DomainError) as refused:
        check_transition(C, P, readiness, None)
    assert str(refused.value) == message


def test_it_guards_process_on_the_way_back_too() -> None:
    readiness = StageReadiness(closed=False, consent_recorded=True, agreed_goals=0)
    with pytest.raises(DomainError, match="at least one agreed goal"):
        check_transition(CH, P, readiness, "relapse")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "recovery",
            "stage: 'recovery' is unknown: "
            "unknown stage; one of commitment, process, change, termination",
        ),
        (
            "",
            "stage: '' is unknown: unknown stage; one of commitment, process, change, termination",
        ),
    ],
)
def test_it_names_an_unknown_stage(text: str, message: str) -> None:
    with pytest.raises(DomainError) as refused:
        Stage.parse(text)
    assert str(refused.value) == message


def test_it_parses_stage_names_loosely() -> None:
    assert Stage.parse(" Change ") == Stage.CHANGE


# An operation: a target stage, whether a reason is given, and whether consent/goal get recorded.
operations = st.lists(
    st.tuples(st.sampled_from(list(Stage)), st.booleans(), st.booleans(), st.booleans()),
    max_size=40,
)


@given(operations)
def test_it_keeps_a_consistent_history_under_any_sequence(
    ops: list[tuple[Stage, bool, bool, bool]],
) -> None:
    episode = Episode(client_id=1, therapist_id=2, opened_on=NOW.date())
    history = [StageTransition(None, Stage.COMMITMENT, NOW, 2)]
    goals = 0
    for step, (target, with_reason, consent, goal) in enumerate(ops):
        if consent and episode.consent_on is None:
            episode = Episode(1, 2, NOW.date(), episode.stage, consent_on=NOW.date())
        goals += int(goal)
        reason = f"reason {step}" if with_reason else None
        # The plain reference rule: one step forward, or back with a reason; process needs
        # consent and an agreed goal.
        allowed = (
            target.order == episode.stage.order + 1
            or (target.order < episode.stage.order and with_reason)
        ) and (target != Stage.PROCESS or (episode.consent_on is not None and goals >= 1))
        if not allowed:
            with pytest.raises(DomainError):
                episode.move(target, now=NOW, by_user_id=2, agreed_goals=goals, reason=reason)
            continue
        history.append(
            episode.move(target, now=NOW, by_user_id=2, agreed_goals=goals, reason=reason)
        )
        episode = Episode(1, 2, NOW.date(), target, consent_on=episode.consent_on)
    assert check_history(history) == episode.stage
    for previous, following in itertools.pairwise(history):
        assert following.from_stage == previous.to_stage


def test_it_rejects_a_broken_history() -> None:
    broken = [
        StageTransition(None, C, NOW, 2),
        StageTransition(P, CH, NOW, 2),
    ]
    with pytest.raises(DomainError, match="each transition starts where the previous one ended"):
        check_history(broken)
