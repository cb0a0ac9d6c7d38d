"""An episode of care: one client, one therapist, consent, a beginning and an end.

A therapeutic relationship is purposeful, willing and time-bound (DOMAIN section 2): consent is
recorded with its date, and an episode is opened and closed on dates that are never in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from alliance.domain.errors import Choice, DomainError, check_text
from alliance.domain.stages import Stage, StageReadiness, StageTransition, check_transition

SUMMARY_MAX = 5000
NO_RELAPSE_PLAN = (
    "no relapse-prevention plan was recorded; consider writing one with the client "
    "(warning signs, triggers, coping steps, who to call)"
)


class ClosingReason(Choice, field="closing_reason"):
    """Why an episode ended; clinic figures count drop-out from it.

    Drop-out is unilateral premature termination: the client stops attending or ends without
    agreement (Swift & Greenberg 2012, J Consult Clin Psychol 80(4):547-559, meta-analysis of
    premature discontinuation), as opposed to an ending agreed in the termination stage.
    """

    PLANNED = "planned"
    DROPOUT = "dropout"
    REFERRED = "referred"
    OTHER = "other"

    @property
    def label(self) -> str:
        return CLOSING_REASON_LABELS[self]


CLOSING_REASON_LABELS = {
    ClosingReason.PLANNED: "Planned ending (agreed in termination)",
    ClosingReason.DROPOUT: "Drop-out (client stopped attending or ended without agreement)",
    ClosingReason.REFERRED: "Referred on",
    ClosingReason.OTHER: "Other",
}


def parse_closing_reason(value: object) -> ClosingReason:
    """The closing reason named by `value`; missing or unknown values are refused."""
    allowed = ", ".join(member.value for member in ClosingReason)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DomainError(
            "closing_reason",
            value,
            f"closing needs a reason, one of {allowed}",
            detail=f"{value!r} is missing",
        )
    if isinstance(value, ClosingReason):
        return value
    return ClosingReason.parse(value)


@dataclass(frozen=True)
class Episode:
    """The state of an episode that the rules read; the store builds it from its rows."""

    client_id: int
    therapist_id: int
    opened_on: date
    stage: Stage = Stage.COMMITMENT
    consent_on: date | None = None
    closed_on: date | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_on is None

    def move(
        self,
        target: Stage,
        *,
        now: datetime,
        by_user_id: int | None,
        agreed_goals: int,
        reason: str | None = None,
    ) -> StageTransition:
        """The transition to `target`, or a DomainError naming the rule that refuses it."""
        readiness = StageReadiness(
            closed=not self.is_open,
            consent_recorded=self.consent_on is not None,
            agreed_goals=agreed_goals,
        )
        clean = check_transition(self.stage, target, readiness, reason)
        return StageTransition(self.stage, target, now, by_user_id, clean)


# A clinical date outside these years is a typing slip (0001-01-01, 20255-01-01), never care:
# refused where it is entered, so no later shift or export meets a date it cannot move.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)


def check_date_range(field: str, value: date) -> date:
    """Refuse a date before 1900-01-01 or after 2100-12-31."""
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise DomainError(
            field,
            value.isoformat(),
            f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}",
        )
    return value


def check_not_future(field: str, value: date, now: datetime) -> date:
    """Clinical dates record what happened: refuse a date out of range or after today."""
    if not isinstance(value, date):
        raise DomainError(field, value, "must be a date (YYYY-MM-DD)")
    check_date_range(field, value)
    if value > now.date():
        raise DomainError(field, value.isoformat(), f"must not be after today ({now.date()})")
    return value


def check_since_opening(
    field: str, value: date, episode: Episode, now: datetime, *, opening: str
) -> date:
    """A date within the episode so far: not after today, and not before `opening` (its words)."""
    check_not_future(field, value, now)
    if value < episode.opened_on:
        raise DomainError(
            field, value.isoformat(), f"must not be before {opening} ({episode.opened_on})"
        )
    return value


def check_opening(opened_on: date, now: datetime) -> date:
    return check_not_future("opened_on", opened_on, now)


def check_consent(episode: Episode, consent_on: date, now: datetime) -> date:
    """Consent is recorded once, on an open episode, on a date that has happened."""
    if not episode.is_open:
        raise DomainError("consent_on", consent_on, "the episode is closed")
    if episode.consent_on is not None:
        raise DomainError(
            "consent_on", consent_on, f"consent is already recorded ({episode.consent_on})"
        )
    return check_not_future("consent_on", consent_on, now)


def check_closing(
    episode: Episode,
    closed_on: date | None,
    now: datetime,
    *,
    has_relapse_plan: bool,
    reason: ClosingReason | str | None,
    summary: str | None = None,
) -> tuple[ClosingReason, str | None, list[str]]:
    """Refuse a closing without a valid date and reason; return reason, summary and warnings.

    A missing relapse-prevention plan is a warning, not a block: an episode may end early
    (drop-out, referral) when no plan could be written.
    """
    if not episode.is_open:
        raise DomainError("closed_on", closed_on, "the episode is already closed")
    if closed_on is None:
        raise DomainError("closed_on", None, "closing needs a closing date", detail="missing")
    check_since_opening("closed_on", closed_on, episode, now, opening="the opening date")
    clean_reason = parse_closing_reason(reason)
    clean_summary = None
    if summary is not None and summary.strip():
        clean_summary = check_text("summary", summary, max_length=SUMMARY_MAX)
    warnings = [] if has_relapse_plan else [NO_RELAPSE_PLAN]
    return clean_reason, clean_summary, warnings


def require_open(episode: Episode, field: str) -> None:
    """Clinical entries go on open episodes only."""
    if not episode.is_open:
        raise DomainError(field, episode.closed_on, "the episode is closed", detail="closed")
