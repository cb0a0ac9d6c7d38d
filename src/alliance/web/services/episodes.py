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
from alliance.store import audit, break_glass
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.store.episodes import agreed_goal_count
from alliance.web.auth import Viewer
from alliance.web.services import charts
from alliance.web.services.access import can_write, episode_for
from alliance.web.services.alerts import AlertView, alerts_for
from alliance.web.services.clinical import goal_moves
from alliance.web.services.scores import score_frame

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
    can_write: bool
    transitions: list[dict[str, Any]]
    steps: list[StageStep]
    goals: list[dict[str, Any]]
    tasks: list[dict[str, Any]]
    sessions: list[SessionView]
    worksheets: list[dict[str, Any]]
    boundaries: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    alerts: list[AlertView]
    ruptures: list[dict[str, Any]]
    frame: pl.DataFrame
    # Every break-glass grant on the episode, shown to its therapist and supervisor.
    break_glass: list[break_glass.Grant] = field(default_factory=list)

    @property
    def open_alerts(self) -> list[AlertView]:
        return [a for a in self.alerts if not a.acknowledged]

    @property
    def has_relapse_plan(self) -> bool:
        return any(w["kind"] == WorksheetKind.RELAPSE_PREVENTION.value for w in self.worksheets)

    @property
    def risk(self) -> bool:
        return any(a.kind == "risk" and not a.acknowledged for a in self.alerts)


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


def _rows(conn: Connection, table: Table, episode_id: int, order: Any) -> list[dict[str, Any]]:
    result = conn.execute(select(table).where(table.c.episode_id == episode_id).order_by(order))
    return [dict(r) for r in result.mappings()]


def _ruptures(frame: pl.DataFrame) -> list[dict[str, Any]]:
    if frame.height == 0:
        return []
    from alliance.analytics.ruptures import detect_ruptures

    found = detect_ruptures(frame)
    return [dict(r) for r in found.iter_rows(named=True)]


def episode_detail(conn: Connection, viewer: Viewer, episode_id: int) -> EpisodeDetail:
    """Everything about one episode the viewer may see; the read is audited."""
    row = episode_for(conn, viewer, episode_id)
    stage = Stage(row.stage)
    readiness = StageReadiness(
        closed=row.closed_on is not None,
        consent_recorded=row.consent_on is not None,
        agreed_goals=agreed_goal_count(conn, episode_id),
    )
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
        for r in _rows(conn, t.administrations, episode_id, t.administrations.c.id)
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
    frame = score_frame(conn, [episode_id])
    detail = EpisodeDetail(
        id=row.id,
        client_code=row.client_code,
        therapist_id=row.therapist_id,
        stage=stage.value,
        opened_on=row.opened_on,
        consent_on=row.consent_on,
        closed_on=row.closed_on,
        closing_reason=row.closing_reason,
        can_write=can_write(viewer, row),
        transitions=_rows(conn, t.stage_transitions, episode_id, t.stage_transitions.c.id),
        steps=stage_steps(stage, readiness),
        goals=[
            g | {"moves": goal_moves(g["status"])}
            for g in _rows(conn, t.goals, episode_id, t.goals.c.id)
        ],
        tasks=_rows(conn, t.tasks, episode_id, t.tasks.c.id),
        sessions=sessions,
        worksheets=_rows(conn, t.worksheets, episode_id, t.worksheets.c.id),
        boundaries=_rows(conn, t.boundary_events, episode_id, t.boundary_events.c.id),
        notes=_rows(conn, t.relational_notes, episode_id, t.relational_notes.c.id),
        incidents=_rows(conn, t.boundary_incidents, episode_id, t.boundary_incidents.c.id),
        alerts=alerts_for(conn, frame).get(episode_id, []),
        ruptures=_ruptures(frame),
        frame=frame,
        break_glass=break_glass.grants_on_episode(conn, episode_id),
    )
    audit.record(conn, Actor(viewer.user_id, viewer.ip), "read", "episode", episode_id)
    return detail


def _stage_spans(detail: EpisodeDetail) -> list[charts.StageSpan]:
    """Each stage's stretch of sessions: a session belongs to the stage in force on its day."""
    attended = list(detail.sessions)
    if not attended:
        return []
    spans: list[charts.StageSpan] = []
    for session in attended:
        current = Stage.COMMITMENT.value
        for tr in detail.transitions:
            at = tr["at"]
            if (at.date() if isinstance(at, datetime) else at) <= session.held_on:
                current = tr["to_stage"]
        if spans and spans[-1].stage == current:
            last = spans[-1]
            spans[-1] = charts.StageSpan(current, last.first_session, session.number + 0.5)
        else:
            spans.append(charts.StageSpan(current, session.number - 0.5, session.number + 0.5))
    return spans


def chart_data(detail: EpisodeDetail, expected: list[charts.ExpectedPoint]) -> charts.ChartData:
    """The client chart's inputs from an episode's scores, stages, ruptures and expected band."""
    points: list[charts.ChartPoint] = []
    cutoffs: list[charts.CutoffLine] = []
    domains: dict[str, tuple[float, float]] = {}
    for row in detail.frame.iter_rows(named=True):
        instrument = load_instrument(row["instrument"])
        points.append(
            charts.ChartPoint(
                row["session"], instrument.id, instrument.short_name, instrument.kind, row["total"]
            )
        )
        if instrument.id not in domains:
            domains[instrument.id] = (instrument.total_min, instrument.total_max)
            if instrument.cutoff is not None:
                cutoffs.append(
                    charts.CutoffLine(
                        instrument.id,
                        instrument.cutoff.value,
                        f"{instrument.short_name} {instrument.cutoff.label}",
                    )
                )
    markers: list[charts.ChartMarker] = []
    totals = {(p.instrument, p.session): p.total for p in points}
    for rupture in detail.ruptures:
        start = int(rupture["start_session"])
        markers.append(
            charts.ChartMarker(
                start,
                rupture["instrument"],
                "rupture",
                totals.get((rupture["instrument"], start), 0.0),
            )
        )
        if rupture.get("repaired") and rupture.get("repair_session") is not None:
            end = int(rupture["repair_session"])
            markers.append(
                charts.ChartMarker(
                    end,
                    rupture["instrument"],
                    "repair",
                    totals.get((rupture["instrument"], end), 0.0),
                )
            )
    return charts.ChartData(points, _stage_spans(detail), markers, expected, cutoffs, domains)
