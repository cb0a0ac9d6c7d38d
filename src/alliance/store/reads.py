"""Reads for pages and reports: a therapist's caseload and one episode in full.

Each read of clinical data by a user is audited (action "read"); access follows
alliance.store.base.can_read (the treating therapist and their supervisor).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, case, func, select

from alliance.domain import Attendance, GoalStatus, Stage, StageTransition
from alliance.store import audit
from alliance.store.base import (
    AccessDeniedError,
    Actor,
    NotFoundError,
    as_utc,
    atomic,
    can_read,
    check_read,
    load_episode,
)
from alliance.store.people import user_by_id
from alliance.store.tables import (
    administrations,
    boundary_events,
    boundary_incidents,
    client_identities,
    clients,
    episodes,
    goals,
    relational_notes,
    sessions,
    stage_transitions,
    tasks,
    users,
    worksheets,
)


@dataclass(frozen=True)
class LastScore:
    instrument_id: str
    total: float | None
    band: str | None
    flags: list[str]
    validity: str
    session_number: int | None
    at: datetime


@dataclass(frozen=True)
class CaseloadEntry:
    episode_id: int
    client_id: int
    client_code: str
    therapist_id: int
    stage: Stage
    opened_on: date
    consent_on: date | None
    closed_on: date | None
    sessions_attended: int
    sessions_total: int
    last_session_on: date | None
    last_scores: dict[str, LastScore] = field(default_factory=dict)

    @property
    def risk_flags(self) -> list[str]:
        """Risk flags on the latest form of each measure: shown first, never buried."""
        return [f for s in self.last_scores.values() for f in s.flags if f.startswith("risk:")]


def supervisees(conn: Connection, supervisor_id: int) -> list[RowMapping]:
    """The therapists a supervisor supervises (id, username, display_name), by username."""
    return list(
        conn.execute(
            select(users.c.id, users.c.username, users.c.display_name)
            .where(users.c.supervisor_id == supervisor_id, users.c.active.is_(True))
            .order_by(users.c.username)
        ).mappings()
    )


def _administrations_query(where: ColumnElement[bool]) -> Select[Any]:
    """Administrations matching `where` with their session number, in the order they were made."""
    return (
        select(administrations, sessions.c.number.label("session_number"))
        .outerjoin(sessions, sessions.c.id == administrations.c.session_id)
        .where(where)
        .order_by(administrations.c.created_at, administrations.c.id)
    )


def _last_scores(conn: Connection, episode_ids: list[int]) -> dict[int, dict[str, LastScore]]:
    if not episode_ids:
        return {}
    rows = conn.execute(
        _administrations_query(administrations.c.episode_id.in_(episode_ids))
    ).mappings()
    found: dict[int, dict[str, LastScore]] = defaultdict(dict)
    for row in rows:  # later rows overwrite earlier ones: the last form of each measure wins
        found[row["episode_id"]][row["instrument_id"]] = LastScore(
            instrument_id=row["instrument_id"],
            total=row["total"],
            band=row["band"],
            flags=list(row["flags"]),
            validity=row["validity"],
            session_number=row["session_number"],
            at=as_utc(row["created_at"]),
        )
    return found


def caseload(
    conn: Connection,
    actor: Actor,
    therapist_id: int,
    *,
    include_closed: bool = False,
    now: datetime | None = None,
) -> list[CaseloadEntry]:
    """The therapist's episodes (open ones unless include_closed), oldest opened first."""
    user_by_id(conn, therapist_id)
    check_read(conn, actor, therapist_id, f"caseload of user {therapist_id}")
    attended = func.sum(case((sessions.c.attendance == Attendance.ATTENDED.value, 1), else_=0))
    counts = (
        select(
            sessions.c.episode_id,
            func.count().label("total"),
            attended.label("attended"),
            func.max(sessions.c.held_on).label("last_on"),
        )
        .group_by(sessions.c.episode_id)
        .subquery()
    )
    query = (
        select(
            episodes,
            clients.c.code,
            counts.c.total,
            counts.c.attended,
            counts.c.last_on,
        )
        .join(clients, clients.c.id == episodes.c.client_id)
        .outerjoin(counts, counts.c.episode_id == episodes.c.id)
        .where(episodes.c.therapist_id == therapist_id)
        .order_by(episodes.c.opened_on, episodes.c.id)
    )
    if not include_closed:
        query = query.where(episodes.c.closed_on.is_(None))
    rows = list(conn.execute(query).mappings())
    scores = _last_scores(conn, [r["id"] for r in rows])
    with atomic(conn):
        audit.record(conn, actor, "read", "caseload", therapist_id, now=now)
    return [
        CaseloadEntry(
            episode_id=r["id"],
            client_id=r["client_id"],
            client_code=r["code"],
            therapist_id=r["therapist_id"],
            stage=Stage(r["stage"]),
            opened_on=r["opened_on"],
            consent_on=r["consent_on"],
            closed_on=r["closed_on"],
            sessions_attended=int(r["attended"] or 0),
            sessions_total=int(r["total"] or 0),
            last_session_on=r["last_on"],
            last_scores=scores.get(r["id"], {}),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class EpisodeDetail:
    """One episode with everything recorded on it; lists are in the order things happened."""

    episode_id: int
    client_id: int
    client_code: str
    therapist_id: int
    stage: Stage
    opened_on: date
    consent_on: date | None
    closed_on: date | None
    closing_summary: str | None
    transitions: list[StageTransition]
    goals: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    worksheets: list[dict[str, Any]]
    boundary_events: list[dict[str, Any]]
    boundary_incidents: list[dict[str, Any]]
    relational_notes: list[dict[str, Any]]
    administrations: list[dict[str, Any]]

    @property
    def agreed_goals(self) -> list[dict[str, Any]]:
        agreed = {s.value for s in (GoalStatus.AGREED, GoalStatus.ACHIEVED)}
        return [g for g in self.goals if g["status"] in agreed]


def _rows(conn: Connection, table: Any, episode_id: int, order: Any) -> list[dict[str, Any]]:
    query = select(table).where(table.c.episode_id == episode_id).order_by(order, table.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def episode_detail(
    conn: Connection, actor: Actor, episode_id: int, *, now: datetime | None = None
) -> EpisodeDetail:
    """Everything on one episode, for the chart and the episode page; the read is audited."""
    episode, row = load_episode(conn, episode_id)
    check_read(conn, actor, episode.therapist_id, episode_id, episode_id=episode_id)
    code = conn.execute(
        select(clients.c.code).where(clients.c.id == episode.client_id)
    ).scalar_one()
    transitions = [
        StageTransition(
            from_stage=Stage(t["from_stage"]) if t["from_stage"] else None,
            to_stage=Stage(t["to_stage"]),
            at=as_utc(t["at"]),
            by_user_id=t["by_user_id"],
            reason=t["reason"],
        )
        for t in _rows(conn, stage_transitions, episode_id, stage_transitions.c.at)
    ]
    admin_rows = conn.execute(
        _administrations_query(administrations.c.episode_id == episode_id)
    ).mappings()
    detail = EpisodeDetail(
        episode_id=episode_id,
        client_id=episode.client_id,
        client_code=code,
        therapist_id=episode.therapist_id,
        stage=episode.stage,
        opened_on=episode.opened_on,
        consent_on=episode.consent_on,
        closed_on=episode.closed_on,
        closing_summary=row["closing_summary"],
        transitions=transitions,
        goals=_rows(conn, goals, episode_id, goals.c.created_at),
        tasks=_rows(conn, tasks, episode_id, tasks.c.created_at),
        sessions=_rows(conn, sessions, episode_id, sessions.c.number),
        worksheets=_rows(conn, worksheets, episode_id, worksheets.c.created_at),
        boundary_events=_rows(conn, boundary_events, episode_id, boundary_events.c.occurred_on),
        boundary_incidents=_rows(
            conn, boundary_incidents, episode_id, boundary_incidents.c.created_at
        ),
        relational_notes=_rows(conn, relational_notes, episode_id, relational_notes.c.created_at),
        administrations=[dict(r) for r in admin_rows],
    )
    with atomic(conn):
        audit.record(conn, actor, "read", "episode", episode_id, now=now)
    return detail


def client_identity(
    conn: Connection, actor: Actor, client_id: int, *, now: datetime | None = None
) -> dict[str, str | None]:
    """A client's name and contact, for those who may read one of the client's episodes."""
    therapists = conn.execute(
        select(episodes.c.therapist_id).where(episodes.c.client_id == client_id).distinct()
    ).scalars()
    if not any(can_read(conn, actor, therapist_id) for therapist_id in list(therapists)):
        raise AccessDeniedError(actor, "client", client_id, "no readable episode of this client")
    row = (
        conn.execute(select(client_identities).where(client_identities.c.client_id == client_id))
        .mappings()
        .first()
    )
    if (
        row is None
        and conn.execute(select(clients.c.id).where(clients.c.id == client_id)).first() is None
    ):
        raise NotFoundError("client", client_id)
    with atomic(conn):
        audit.record(conn, actor, "read", "client_identity", client_id, now=now)
    return {"name": row["name"] if row else None, "contact": row["contact"] if row else None}
