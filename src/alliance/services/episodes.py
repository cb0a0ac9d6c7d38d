"""One episode as the therapist (or their supervisor) sees it: everything the episode page shows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Table, select

from alliance.domain import DomainError, Stage, WorksheetKind
from alliance.domain.stages import StageReadiness, check_transition
from alliance.instruments import load_instrument
from alliance.services.alerts import AlertView, alerts_for, noted_repair, repair_notes
from alliance.services.clinical import goal_moves
from alliance.services.incidents import Incident, incidents_of_episode
from alliance.services.practice import Reopening, reopenings
from alliance.services.scores import score_frame
from alliance.store import break_glass
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.episodes import agreed_goal_count

STAGES = [s.value for s in Stage]


@dataclass(frozen=True)
class StageStep:
    target: str
    direction: str  # "forward" or "back"
    allowed: bool
    rule: str | None


@dataclass(frozen=True)
class AdministrationView:
    id: int
    session_id: int | None
    instrument: str
    label: str
    total: float | None
    band: str | None
    flags: list[str]
    source: str
    created_at: datetime


@dataclass(frozen=True)
class SessionView:
    id: int
    number: int
    held_on: date
    attendance: str
    administrations: list[AdministrationView] = field(default_factory=list)


@dataclass(frozen=True)
class Acknowledgement:
    """An alert the therapist has seen, and what they said they will do."""

    at: datetime
    by: str
    alert: str
    note: str | None


def _acknowledgements(
    conn: Connection, episode_id: int, alerts: list[AlertView]
) -> list[Acknowledgement]:
    """Newest first; one row per acknowledgement (a card's signals acknowledged together)."""
    titles = {key: a.title for a in alerts for key in [a.key, *a.keys]}
    s, u = t.signal_acknowledgements, t.users
    rows = conn.execute(
        select(s.c.at, s.c.note, s.c.signal_key, u.c.display_name)
        .join(u, u.c.id == s.c.user_id)
        .where(s.c.episode_id == episode_id)
        .order_by(s.c.at.desc(), s.c.id.desc())
    ).all()
    seen: set[tuple[object, ...]] = set()
    out = []
    for row in rows:
        title = titles.get(row.signal_key, "An alert no longer shown")
        if (row.at, row.note, title) in seen:
            continue
        seen.add((row.at, row.note, title))
        out.append(Acknowledgement(row.at, row.display_name, title, row.note))
    return out


@dataclass
class EpisodeDetail:
    id: int
    client_code: str
    therapist_id: int
    stage: str
    opened_on: date
    consent_on: date | None
    closed_on: date | None
    closing_reason: str | None
    closing_summary: str | None
    client_id: int
    previous_episode_id: int | None
    can_write: bool
    transitions: list[dict[str, Any]]
    steps: list[StageStep]
    goals: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    sessions: list[SessionView]
    worksheets: list[dict[str, Any]]
    boundaries: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    incidents: list[Incident]
    alerts: list[AlertView]
    ruptures: list[dict[str, Any]]
    frame: pl.DataFrame
    # Every break-glass grant on the episode, shown to its therapist and supervisor.
    break_glass: list[break_glass.Grant] = field(default_factory=list)
    reopenings: list[Reopening] = field(default_factory=list)
    acknowledgements: list[Acknowledgement] = field(default_factory=list)

    @property
    def open_alerts(self) -> list[AlertView]:
        return [a for a in self.alerts if not a.acknowledged]

    @property
    def has_relapse_plan(self) -> bool:
        return any(w["kind"] == WorksheetKind.RELAPSE_PREVENTION.value for w in self.worksheets)

    @property
    def risk(self) -> bool:
        return any(a.is_risk and not a.acknowledged for a in self.alerts)


def stage_steps(stage: Stage, readiness: StageReadiness) -> list[StageStep]:
    """Each other stage with whether the rules allow moving there now (back moves need a reason)."""
    steps = []
    for target in Stage:
        if target == stage:
            continue
        direction = "forward" if target.order > stage.order else "back"
        try:
            check_transition(
                stage, target, readiness, "reason given" if direction == "back" else None
            )
            steps.append(StageStep(target.value, direction, True, None))
        except DomainError as refused:
            steps.append(StageStep(target.value, direction, False, refused.rule))
    return steps


def _rows(
    conn: Connection, table: Table, episode_id: int, order: Any = None
) -> list[dict[str, Any]]:
    """The episode's rows of `table`, in the order they were written unless told otherwise."""
    order = table.c.id if order is None else order
    result = conn.execute(select(table).where(table.c.episode_id == episode_id).order_by(order))
    return [dict(r) for r in result.mappings()]


def _ruptures(frame: pl.DataFrame, notes: list[int]) -> list[dict[str, Any]]:
    """The episode's ruptures, each with the session of the therapist's repair note if any."""
    if frame.height == 0:
        return []
    from alliance.analytics.ruptures import detect_ruptures

    found = detect_ruptures(frame)
    return [
        dict(r) | {"repair_noted_session": noted_repair(notes, int(r["start_session"]))}
        for r in found.iter_rows(named=True)
    ]


def _sessions(conn: Connection, episode_id: int) -> list[SessionView]:
    """The episode's sessions in order, each with its forms."""
    administrations = [
        AdministrationView(
            id=r["id"],
            session_id=r["session_id"],
            instrument=r["instrument_id"],
            label=load_instrument(r["instrument_id"]).short_name,
            total=r["total"],
            band=r["band"],
            flags=list(r["flags"] or []),
            source=r["source"],
            created_at=r["created_at"],
        )
        for r in _rows(conn, t.administrations, episode_id)
    ]
    sessions = [
        SessionView(
            id=r["id"],
            number=r["number"],
            held_on=r["held_on"],
            attendance=r["attendance"],
            administrations=[a for a in administrations if a.session_id == r["id"]],
        )
        for r in _rows(conn, t.sessions, episode_id, t.sessions.c.number)
    ]
    return sessions


def episode_detail(conn: Connection, viewer: Viewer, episode_id: int) -> EpisodeDetail:
    """Everything about one episode the viewer may see; the read is audited."""
    access = Access(conn, viewer)
    row = access.episode(episode_id)
    stage = Stage(row.stage)
    readiness = StageReadiness(
        closed=row.closed_on is not None,
        consent_recorded=row.consent_on is not None,
        agreed_goals=agreed_goal_count(conn, episode_id),
    )
    sessions = _sessions(conn, episode_id)
    frame = score_frame(conn, [episode_id])
    alerts = alerts_for(conn, frame, episode_ids=[episode_id]).get(episode_id, [])
    detail = EpisodeDetail(
        id=row.id,
        client_code=row.client_code,
        therapist_id=row.therapist_id,
        stage=stage.value,
        opened_on=row.opened_on,
        consent_on=row.consent_on,
        closed_on=row.closed_on,
        closing_reason=row.closing_reason,
        closing_summary=row.closing_summary,
        client_id=row.client_id,
        previous_episode_id=row.previous_episode_id,
        can_write=access.can_write(row),
        transitions=_rows(conn, t.stage_transitions, episode_id),
        steps=stage_steps(stage, readiness),
        goals=[g | {"moves": goal_moves(g["status"])} for g in _rows(conn, t.goals, episode_id)],
        tasks=_rows(conn, t.tasks, episode_id),
        sessions=sessions,
        worksheets=_rows(conn, t.worksheets, episode_id),
        boundaries=_rows(conn, t.boundary_events, episode_id),
        notes=_rows(conn, t.relational_notes, episode_id),
        incidents=incidents_of_episode(conn, viewer, episode_id),
        alerts=alerts,
        ruptures=_ruptures(frame, repair_notes(conn, [episode_id]).get(episode_id, [])),
        frame=frame,
        break_glass=break_glass.grants_on_episode(conn, episode_id),
        reopenings=reopenings(conn, viewer, episode_id),
        acknowledgements=_acknowledgements(conn, episode_id, alerts),
    )
    access.record("read", "episode", episode_id)
    return detail
