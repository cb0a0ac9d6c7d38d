"""The boundary log, boundary incidents for the supervisor, and relational notes."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from sqlalchemy import Connection

from alliance.domain import BoundaryKind, BoundaryRationale, NoteKind, check_boundary_event
from alliance.domain.episode import check_not_future
from alliance.domain.errors import check_text
from alliance.domain.relational import check_note_text, check_tags
from alliance.store import audit
from alliance.store.access import check_read
from alliance.store.base import Actor, atomic, insert_id, load_episode, utc_now
from alliance.store.entries import add_entry
from alliance.store.people import user_by_id
from alliance.store.tables import boundary_events, boundary_incidents, relational_notes


def record_boundary_event(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    kind: BoundaryKind | str,
    description: str,
    *,
    occurred_on: date,
    rationale: BoundaryRationale | None = None,
    session_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """A rule, ritual, self-disclosure or crossing; 'violation' is refused (see report_incident)."""
    now = now or utc_now()
    boundary_kind = BoundaryKind.parse(kind)
    event = check_boundary_event(boundary_kind, description, rationale or BoundaryRationale())
    check_not_future("boundary.occurred_on", occurred_on, now)
    with atomic(conn):
        return add_entry(
            conn,
            actor,
            boundary_events,
            episode_id,
            "boundary",
            "boundary_event",
            session_id=session_id,
            now=now,
            kind=event.kind.value,
            description=event.description,
            client_welfare=event.rationale.client_welfare,
            technique_goal=event.rationale.technique_goal,
            plan_link=event.rationale.plan_link,
            occurred_on=occurred_on,
        )


def report_boundary_incident(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    description: str,
    *,
    occurred_on: date,
    now: datetime | None = None,
) -> int:
    """A suspected boundary violation: an incident addressed to the therapist's supervisor.

    Anyone who may read the episode may report, so a supervisor can also open one.
    """
    now = now or utc_now()
    clean = check_text("incident.description", description, max_length=5000)
    check_not_future("incident.occurred_on", occurred_on, now)
    with atomic(conn):
        episode, _ = load_episode(conn, episode_id)
        check_read(conn, actor, episode.therapist_id, episode_id)
        supervisor_id = user_by_id(conn, episode.therapist_id)["supervisor_id"]
        incident_id = insert_id(
            conn,
            boundary_incidents,
            episode_id=episode_id,
            reported_by=actor.user_id,
            supervisor_id=supervisor_id,
            occurred_on=occurred_on,
            description=clean,
            status="open",
            created_at=now,
        )
        audit.record(conn, actor, "create", "boundary_incident", incident_id, now=now)
    return incident_id


def add_relational_note(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    kind: NoteKind | str,
    text: str,
    *,
    tags: Iterable[str] | str = (),
    session_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """A transference, countertransference, rupture or repair note, with tags."""
    now = now or utc_now()
    note_kind = NoteKind.parse(kind)
    clean = check_note_text(text)
    clean_tags = check_tags(tags if isinstance(tags, str) else list(tags))
    with atomic(conn):
        return add_entry(
            conn,
            actor,
            relational_notes,
            episode_id,
            "note",
            "relational_note",
            session_id=session_id,
            now=now,
            kind=note_kind.value,
            text=clean,
            tags=clean_tags,
        )
