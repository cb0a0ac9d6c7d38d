"""The four stages of an episode of care and the rules for moving between them.

Rivera (1992): commitment -> process -> change -> termination. Stages move forward one at a
time; a move back (e.g. change -> process after a relapse) is allowed with a reason.
Every move is kept as a StageTransition (from, to, when, who, reason), as Healthchecks keeps
each status flip as a row.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from alliance.domain.errors import Choice, DomainError, check_text

REASON_MAX = 1000


class Stage(Choice, field="stage", rule="unknown stage; one of"):
    COMMITMENT = "commitment"
    PROCESS = "process"
    CHANGE = "change"
    TERMINATION = "termination"

    @property
    def order(self) -> int:
        return _ORDER[self]


_ORDER = {stage: index for index, stage in enumerate(Stage)}


@dataclass(frozen=True)
class StageTransition:
    """One move between stages; `from_stage` is None for the opening entry into commitment."""

    from_stage: Stage | None
    to_stage: Stage
    at: datetime
    by_user_id: int | None
    reason: str | None = None


@dataclass(frozen=True)
class StageReadiness:
    """What the stage rules need to know about an episode, read at the moment of the move."""

    closed: bool
    consent_recorded: bool
    agreed_goals: int


def check_transition(
    current: Stage, target: Stage, readiness: StageReadiness, reason: str | None
) -> str | None:
    """Refuse a move the rules forbid; return the cleaned reason (None when not given)."""
    clean_reason = None
    if reason is not None and reason.strip():
        clean_reason = check_text("reason", reason, max_length=REASON_MAX)

    def refuse(rule: str) -> DomainError:
        return DomainError(
            "stage",
            target.value,
            rule,
            detail=f"cannot move from {current.value} to {target.value}",
        )

    if readiness.closed:
        raise refuse("the episode is closed")
    if target == current:
        raise refuse("the episode is already in that stage")
    if target.order > current.order + 1:
        raise refuse("stages move forward one step at a time")
    if target.order < current.order and clean_reason is None:
        raise refuse("a step back needs a reason")
    if target == Stage.PROCESS:
        if not readiness.consent_recorded:
            raise refuse("entering process needs recorded consent")
        if readiness.agreed_goals < 1:
            raise refuse("entering process needs at least one agreed goal")
    return clean_reason


def check_history(transitions: Sequence[StageTransition]) -> Stage:
    """Check that transitions chain (each from = previous to) and return the current stage."""
    if not transitions:
        raise DomainError("stage_transitions", 0, "an episode starts with one entry", detail="none")
    first = transitions[0]
    if first.from_stage is not None or first.to_stage != Stage.COMMITMENT:
        raise DomainError(
            "stage_transitions", first.to_stage.value, "an episode opens in commitment"
        )
    for previous, following in itertools.pairwise(transitions):
        if following.from_stage != previous.to_stage:
            raise DomainError(
                "stage_transitions",
                following.from_stage,
                "each transition starts where the previous one ended",
            )
        if following.at < previous.at:
            raise DomainError("stage_transitions", following.at, "transitions are in time order")
    return transitions[-1].to_stage
