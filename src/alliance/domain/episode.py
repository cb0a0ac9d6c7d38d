"""An episode of care: one client, one therapist, consent, a beginning and an end.

A therapeutic relationship is purposeful, willing and time-bound (DOMAIN section 2): consent is
recorded with its date, and an episode is opened and closed on dates that are never in the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from alliance.domain.errors import DomainError, check_text
from alliance.domain.stages import Stage, StageReadiness, StageTransition, check_transition

SUMMARY_MAX = 5000
NO_RELAPSE_PLAN = (
    "no relapse-prevention plan was recorded; consider writing one with the client "
    "(warning signs, triggers, coping steps, who to call)"
)


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


def check_not_future(field: str, value: date, now: datetime) -> date:
    """Clinical dates record what happened: refuse a date after today."""
    if not isinstance(value, date):
        raise DomainError(field, value, "must be a date (YYYY-MM-DD)")
    if value > now.date():
        raise DomainError(field, value.isoformat(), f"must not be after today ({now.date()})")
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
    summary: str | None = None,
) -> tuple[str | None, list[str]]:
    """Refuse a closing without a valid date; return the cleaned summary and any warnings.

    A missing relapse-prevention plan is a warning, not a block: an episode may end early
    (drop-out, referral) when no plan could be written.
    """
    if not episode.is_open:
        raise DomainError("closed_on", closed_on, "the episode is already closed")
    if closed_on is None:
        raise DomainError("closed_on", None, "closing needs a closing date", detail="missing")
    check_not_future("closed_on", closed_on, now)
    if closed_on < episode.opened_on:
        raise DomainError(
            "closed_on",
            closed_on.isoformat(),
            f"must not be before the opening date ({episode.opened_on})",
        )
    clean_summary = None
    if summary is not None and summary.strip():
        clean_summary = check_text("summary", summary, max_length=SUMMARY_MAX)
    warnings = [] if has_relapse_plan else [NO_RELAPSE_PLAN]
    return clean_summary, warnings


def require_open(episode: Episode, field: str) -> None:
    """Clinical entries go on open episodes only."""
    if not episode.is_open:
        raise DomainError(field, episode.closed_on, "the episode is closed", detail="closed")
