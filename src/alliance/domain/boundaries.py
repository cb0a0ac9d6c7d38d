"""The boundary log of an episode (Zur 2018; Lazarus & Zur 2002).

Rules and rituals give the session its frame; a self-disclosure or a crossing is kept with its
rationale. A crossing can serve the alliance when made for the client's welfare and a technique's
goal, as part of the plan, so all three are required. A suspected violation (exploiting power, a
dual relationship) is never a routine entry: it is an incident for the supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass

from alliance.domain.errors import Choice, DomainError, check_text

DESCRIPTION_MAX = 2000
RATIONALE_MAX = 1000
VIOLATION_RULE = "a suspected violation is an incident for the supervisor, not a routine entry"
VIOLATION_WORDS = frozenset({"violation", "boundary_violation", "dual_relationship"})


class BoundaryKind(Choice, field="boundary.kind"):
    RULE = "rule"
    RITUAL = "ritual"
    SELF_DISCLOSURE = "self_disclosure"
    CROSSING = "crossing"

    @classmethod
    def parse(cls, value: object) -> BoundaryKind:
        """Also 'self-disclosure' or 'self disclosure'; a violation is refused (an incident)."""
        name = str(value).strip().lower().replace("-", "_").replace(" ", "_")
        if name in VIOLATION_WORDS:
            raise DomainError(
                "boundary.kind", value, VIOLATION_RULE, detail=f"{value!r} is refused"
            )
        return cls.lookup(name, value)


@dataclass(frozen=True)
class BoundaryRationale:
    """Why a crossing or disclosure serves the client."""

    client_welfare: str | None = None
    technique_goal: str | None = None
    plan_link: str | None = None


@dataclass(frozen=True)
class BoundaryEvent:
    kind: BoundaryKind
    description: str
    rationale: BoundaryRationale


# Kept as a name so code and tests can speak of it as the domain does.
BoundaryCrossing = BoundaryEvent


def _optional(field: str, text: str | None) -> str | None:
    if text is None or not text.strip():
        return None
    return check_text(field, text, max_length=RATIONALE_MAX)


def check_boundary_event(
    kind: BoundaryKind, description: str, rationale: BoundaryRationale
) -> BoundaryEvent:
    """Refuse a crossing without its full rationale and a disclosure without a welfare reason."""
    clean_description = check_text("boundary.description", description, max_length=DESCRIPTION_MAX)
    clean = BoundaryRationale(
        client_welfare=_optional("boundary.client_welfare", rationale.client_welfare),
        technique_goal=_optional("boundary.technique_goal", rationale.technique_goal),
        plan_link=_optional("boundary.plan_link", rationale.plan_link),
    )
    if kind == BoundaryKind.CROSSING:
        for field in ("client_welfare", "technique_goal", "plan_link"):
            if getattr(clean, field) is None:
                raise DomainError(
                    f"boundary.{field}",
                    None,
                    "a crossing needs its rationale: client welfare, technique goal and "
                    "link to the plan",
                    detail="missing",
                )
    if kind == BoundaryKind.SELF_DISCLOSURE and clean.client_welfare is None:
        raise DomainError(
            "boundary.client_welfare",
            None,
            "a self-disclosure needs a reason it serves the client",
            detail="missing",
        )
    return BoundaryEvent(kind, clean_description, clean)
