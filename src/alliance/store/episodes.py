"""Episodes of care: open, record consent, move between stages, close."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Connection, insert, select

from alliance.domain import (
    ClosingReason,
    DomainError,
    Role,
    Stage,
    check_closing,
    check_consent,
    check_opening,
)
from alliance.domain.episode import Episode
from alliance.domain.errors import check_text
from alliance.domain.goals import AGREED_STATUSES
from alliance.domain.worksheets import WorksheetKind
from alliance.store import audit
from alliance.store.access import check_write, load_for_write
from alliance.store.base import (
    Actor,
    NotFoundError,
    atomic,
    count_rows,
    insert_id,
    update_by_id,
    utc_now,
)
from alliance.store.people import user_by_id
from alliance.store.tables import (
    clients,
    episode_reopenings,
    episodes,
    goals,
    stage_transitions,
    worksheets,
)


@dataclass(frozen=True)
class ClosingResult:
    episode_id: int
    closed_on: date
    reason: ClosingReason
    warnings: list[str] = field(default_factory=list)


def open_episode(
    conn: Connection,
    actor: Actor,
    *,
    client_id: int,
    therapist_id: int,
    opened_on: date,
    consent_on: date | None = None,
    now: datetime | None = None,
) -> int:
    """Open an episode in commitment; its first transition row has no 'from'."""
    now = now or utc_now()
    check_opening(opened_on, now)
    with atomic(conn):
        if conn.execute(select(clients.c.id).where(clients.c.id == client_id)).first() is None:
            raise NotFoundError("client", client_id)
        therapist = user_by_id(conn, therapist_id)
        if Role(therapist["role"]) != Role.THERAPIST:
            raise DomainError(
                "episode.therapist_id", therapist_id, "must name a user with role therapist"
            )
        check_write(conn, actor, Episode(client_id, therapist_id, opened_on), "new")
        _refuse_a_second_open_episode(conn, client_id)
        if consent_on is not None:
            check_consent(Episode(client_id, therapist_id, opened_on), consent_on, now)
        # A returning client: the new episode points at the last one, so both read as one story.
        previous = conn.execute(
            select(episodes.c.id)
            .where(episodes.c.client_id == client_id)
            .order_by(episodes.c.closed_on.desc(), episodes.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        episode_id = insert_id(
            conn,
            episodes,
            client_id=client_id,
            therapist_id=therapist_id,
            opened_on=opened_on,
            consent_on=consent_on,
            consent_recorded_by=actor.user_id if consent_on else None,
            stage=Stage.COMMITMENT.value,
            created_at=now,
            previous_episode_id=previous,
        )
        conn.execute(
            insert(stage_transitions).values(
                episode_id=episode_id,
                from_stage=None,
                to_stage=Stage.COMMITMENT.value,
                at=now,
                by_user_id=actor.user_id,
                reason=None,
            )
        )
        audit.record(conn, actor, "create", "episode", episode_id, now=now)
    return episode_id


def _refuse_a_second_open_episode(conn: Connection, client_id: int) -> None:
    """A client has one open episode at a time."""
    if count_rows(
        conn, episodes, episodes.c.client_id == client_id, episodes.c.closed_on.is_(None)
    ):
        raise DomainError("episode.client_id", client_id, "the client already has an open episode")


def record_consent(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    consent_on: date,
    *,
    now: datetime | None = None,
) -> None:
    now = now or utc_now()
    with atomic(conn):
        episode, _ = load_for_write(conn, actor, episode_id)
        check_consent(episode, consent_on, now)
        update_by_id(
            conn, episodes, episode_id, consent_on=consent_on, consent_recorded_by=actor.user_id
        )
        audit.record(conn, actor, "consent", "episode", episode_id, now=now)


def agreed_goal_count(conn: Connection, episode_id: int) -> int:
    return count_rows(
        conn,
        goals,
        goals.c.episode_id == episode_id,
        goals.c.status.in_([s.value for s in AGREED_STATUSES]),
    )


def move_stage(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    target: Stage | str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Stage:
    """Move the episode to `target` if the stage rules allow it; store the transition."""
    now = now or utc_now()
    stage = Stage.parse(target)
    with atomic(conn):
        episode, _ = load_for_write(conn, actor, episode_id)
        transition = episode.move(
            stage,
            now=now,
            by_user_id=actor.user_id,
            agreed_goals=agreed_goal_count(conn, episode_id),
            reason=reason,
        )
        conn.execute(
            insert(stage_transitions).values(
                episode_id=episode_id,
                from_stage=episode.stage.value,
                to_stage=stage.value,
                at=now,
                by_user_id=actor.user_id,
                reason=transition.reason,
            )
        )
        update_by_id(conn, episodes, episode_id, stage=stage.value)
        audit.record(conn, actor, "move", "episode", episode_id, now=now)
    return stage


def has_relapse_plan(conn: Connection, episode_id: int) -> bool:
    return bool(
        count_rows(
            conn,
            worksheets,
            worksheets.c.episode_id == episode_id,
            worksheets.c.kind == WorksheetKind.RELAPSE_PREVENTION.value,
        )
    )


def close_episode(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    closed_on: date | None,
    *,
    reason: ClosingReason | str | None,
    summary: str | None = None,
    now: datetime | None = None,
) -> ClosingResult:
    """Close with a date and a reason; warn (not refuse) when no relapse plan was written."""
    now = now or utc_now()
    with atomic(conn):
        episode, _ = load_for_write(conn, actor, episode_id)
        clean_reason, clean_summary, warnings = check_closing(
            episode,
            closed_on,
            now,
            has_relapse_plan=has_relapse_plan(conn, episode_id),
            reason=reason,
            summary=summary,
        )
        assert closed_on is not None  # check_closing refused a missing date
        update_by_id(
            conn,
            episodes,
            episode_id,
            closed_on=closed_on,
            closing_summary=clean_summary,
            closing_reason=clean_reason.value,
        )
        audit.record(conn, actor, "close", "episode", episode_id, now=now)
    return ClosingResult(episode_id, closed_on, clean_reason, warnings)


REASON_MIN = 10


def _reopen_reason(reason: str) -> str:
    clean = check_text("episode.reopen_reason", reason, max_length=2000)
    if len(clean) < REASON_MIN:
        raise DomainError(
            "episode.reopen_reason",
            len(clean),
            f"say why in at least {REASON_MIN} characters",
            detail=f"{len(clean)} characters is too short",
        )
    return clean


def reopen_episode(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    reason: str,
    *,
    within_days: int,
    now: datetime | None = None,
) -> None:
    """Reopen a closed episode within `within_days` of its closing, for a stated reason.

    The period is the clinic's (the `reopen_days` setting); after it a returning client gets a
    new episode linked to the old one.

    What the closing said (date, reason, summary) is kept in `episode_reopenings`.
    """
    now = now or utc_now()
    clean = _reopen_reason(reason)
    with atomic(conn):
        _, row = load_for_write(conn, actor, episode_id)
        closed_on = row["closed_on"]
        if closed_on is None:
            raise DomainError("episode.closed_on", "open", "only a closed episode can be reopened")
        days = (now.date() - closed_on).days
        if days > within_days:
            raise DomainError(
                "episode.closed_on",
                str(closed_on),
                f"an episode can be reopened up to {within_days} days after its closing; "
                "open a new episode instead",
                detail=f"closed {days} days ago",
            )
        _refuse_a_second_open_episode(conn, row["client_id"])
        conn.execute(
            insert(episode_reopenings).values(
                episode_id=episode_id,
                reopened_at=now,
                reopened_by=actor.user_id,
                reason=clean,
                closed_on=closed_on,
                closing_reason=row["closing_reason"],
                closing_summary=row["closing_summary"],
            )
        )
        update_by_id(
            conn, episodes, episode_id, closed_on=None, closing_reason=None, closing_summary=None
        )
        audit.record(conn, actor, "reopen", "episode", episode_id, now=now)
