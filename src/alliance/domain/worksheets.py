"""Worksheets: the Miracle Question that seeds goals, and the relapse-prevention plan.

Miracle Question (de Shazer, solution-focused therapy): the client describes the day after a
miracle solved the problem; each described change is a candidate goal in the client's words.
The relapse-prevention plan belongs to termination (Rivera 1992, stage 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from alliance.domain.errors import Choice, DomainError, check_text
from alliance.domain.goals import check_goal_text

ENTRY_MAX = 500
ENTRIES_MAX = 30


class WorksheetKind(Choice, field="worksheet.kind"):
    MIRACLE_QUESTION = "miracle_question"
    RELAPSE_PREVENTION = "relapse_prevention"


def _entries(field: str, values: object, *, required: bool, max_length: int) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise DomainError(field, type(values).__name__, "must be a list of text entries")
    clean = tuple(
        check_text(f"{field}[{i}]", str(v) if not isinstance(v, str) else v, max_length=max_length)
        for i, v in enumerate(values)
    )
    if required and not clean:
        raise DomainError(field, 0, "needs at least one entry", detail="no entries")
    if len(clean) > ENTRIES_MAX:
        raise DomainError(field, len(clean), f"at most {ENTRIES_MAX} entries")
    return clean


@dataclass(frozen=True)
class MiracleQuestion:
    """The client's answers: what would be different the morning after the miracle."""

    answers: tuple[str, ...]

    @classmethod
    def from_content(cls, content: Mapping[str, Any]) -> MiracleQuestion:
        answers = content.get("answers", ())
        # Each answer may become a goal, so it obeys the goal's length rule.
        checked = _entries("miracle_question.answers", answers, required=True, max_length=500)
        return cls(tuple(check_goal_text(a) for a in checked))

    def to_content(self) -> dict[str, Any]:
        return {"answers": list(self.answers)}

    def goal_seeds(self) -> list[str]:
        """Candidate goals, in the client's words, one per answer, without repeats."""
        return list(dict.fromkeys(self.answers))


@dataclass(frozen=True)
class RelapsePreventionPlan:
    """Warning signs, triggers, coping steps and who to call; each needs at least one entry."""

    warning_signs: tuple[str, ...]
    triggers: tuple[str, ...]
    coping_steps: tuple[str, ...]
    who_to_call: tuple[str, ...]

    @classmethod
    def from_content(cls, content: Mapping[str, Any]) -> RelapsePreventionPlan:
        parts = {
            name: _entries(
                f"relapse_prevention.{name}",
                content.get(name, ()),
                required=True,
                max_length=ENTRY_MAX,
            )
            for name in ("warning_signs", "triggers", "coping_steps", "who_to_call")
        }
        return cls(**parts)

    def to_content(self) -> dict[str, Any]:
        return {
            "warning_signs": list(self.warning_signs),
            "triggers": list(self.triggers),
            "coping_steps": list(self.coping_steps),
            "who_to_call": list(self.who_to_call),
        }


def check_worksheet(kind: WorksheetKind, content: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a worksheet's content and return its canonical form for storage."""
    if not isinstance(content, Mapping):
        raise DomainError("worksheet.content", type(content).__name__, "must be a mapping")
    if kind == WorksheetKind.MIRACLE_QUESTION:
        return MiracleQuestion.from_content(content).to_content()
    return RelapsePreventionPlan.from_content(content).to_content()
