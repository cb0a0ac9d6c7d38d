"""Boundary incidents have an owner: the supervisor acknowledges, responds and resolves.

A therapist (or a supervisor) reports a suspected violation on the episode; it is addressed to
the therapist's supervisor. Only that supervisor takes the steps; the treating therapist reads
each one. The state and every step (who, when, what was said) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, insert, select, update

from alliance.domain.errors import check_text
from alliance.errors import FormError, NotVisibleError
from alliance.services.clinical import refused_as_form_errors
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import as_utc, utc_now

RESPONSE_MAX = 4000
STATE_LABELS = {"open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved"}
STEP_LABELS = {"acknowledged": "Acknowledged", "responded": "Response", "resolved": "Resolved"}


@dataclass(frozen=True)
class IncidentStep:
    step: str
    text: str | None
    by: str | None
    at: datetime

    @property
    def label(self) -> str:
        return STEP_LABELS[self.step]


@dataclass(frozen=True)
class Incident:
    id: int
    episode_id: int
    client_code: str
    status: str
    occurred_on: date
    reported_on: datetime
    reported_by: str
    description: str
    supervisor_id: int | None
    steps: list[IncidentStep] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATE_LABELS[self.status]


def _steps(conn: Connection, incident_ids: list[int]) -> dict[int, list[IncidentStep]]:
    s, u = t.incident_steps, t.users
    rows = conn.execute(
        select(s.c.incident_id, s.c.step, s.c.text, u.c.display_name, s.c.at)
        .outerjoin(u, u.c.id == s.c.by_user_id)
        .where(s.c.incident_id.in_(incident_ids))
        .order_by(s.c.id)
    ).all()
    out: dict[int, list[IncidentStep]] = {i: [] for i in incident_ids}
    for row in rows:
        out[row.incident_id].append(
            IncidentStep(row.step, row.text, row.display_name, as_utc(row.at))
        )
    return out


def _incidents(
    conn: Connection, where: ColumnElement[bool], *order_by: ColumnElement[Any]
) -> list[Incident]:
    i, c, e, u = t.boundary_incidents, t.clients, t.episodes, t.users
    rows = conn.execute(
        select(
            i.c.id,
            i.c.episode_id,
            c.c.code,
            i.c.status,
            i.c.occurred_on,
            i.c.created_at,
            u.c.display_name,
            i.c.description,
            i.c.supervisor_id,
        )
        .join(e, e.c.id == i.c.episode_id)
        .join(c, c.c.id == e.c.client_id)
        .outerjoin(u, u.c.id == i.c.reported_by)
        .where(where)
        .order_by(*order_by)
    ).all()
    steps = _steps(conn, [r.id for r in rows])
    return [
        Incident(
            r.id,
            r.episode_id,
            r.code,
            r.status,
            r.occurred_on,
            as_utc(r.created_at),
            r.display_name or "the system",
            r.description,
            r.supervisor_id,
            steps[r.id],
        )
        for r in rows
    ]


def incidents_of_episode(conn: Connection, viewer: Viewer, episode_id: int) -> list[Incident]:
    """The episode's incidents with their steps, for whoever reads the episode."""
    Access(conn, viewer).episode(episode_id)
    i = t.boundary_incidents
    return _incidents(conn, i.c.episode_id == episode_id, i.c.id)


def open_incidents(conn: Connection, viewer: Viewer) -> list[Incident]:
    """Unresolved boundary incidents addressed to this supervisor, oldest first; reads audited."""
    i = t.boundary_incidents
    mine = and_(i.c.supervisor_id == viewer.user_id, i.c.status != "resolved")
    out = _incidents(conn, mine, i.c.created_at, i.c.id)
    for item in out:
        audit.record(conn, viewer.actor, "read", "boundary_incident", item.id)
    return out


def incident(conn: Connection, viewer: Viewer, incident_id: int) -> Incident:
    """One incident, for a reader of its episode; reading it is audited."""
    episode_id = conn.execute(
        select(t.boundary_incidents.c.episode_id).where(t.boundary_incidents.c.id == incident_id)
    ).scalar_one_or_none()
    if episode_id is None:
        raise NotVisibleError("incident")
    try:
        found = next(
            x for x in incidents_of_episode(conn, viewer, episode_id) if x.id == incident_id
        )
    except NotVisibleError:
        raise NotVisibleError("incident") from None
    Access(conn, viewer).record("read", "boundary_incident", incident_id)
    return found


def can_act(viewer: Viewer, item: Incident) -> bool:
    """The supervisor the incident is addressed to, and nobody else, takes its steps."""
    return viewer.role == "supervisor" and item.supervisor_id == viewer.user_id


def take_step(
    conn: Connection, viewer: Viewer, incident_id: int, step: str, text: str | None = None
) -> str:
    """Acknowledge, respond (text required) or resolve; returns the new state."""
    item = incident(conn, viewer, incident_id)
    if not can_act(viewer, item):
        raise NotVisibleError("incident")
    if step not in STEP_LABELS:
        raise FormError({"step": "Choose acknowledge, respond or resolve."})
    if item.status == "resolved":
        raise FormError({"step": "This incident is resolved; it takes no more steps."})
    if step == "acknowledged" and item.status != "open":
        raise FormError({"step": "This incident is already acknowledged."})
    clean: str | None = None
    with refused_as_form_errors():
        if step == "responded":
            clean = check_text("incident.text", text or "", max_length=RESPONSE_MAX)
        elif text and text.strip():
            clean = check_text("incident.text", text, max_length=RESPONSE_MAX)
    now = utc_now()
    if item.status == "open" and step != "acknowledged":
        # Responding or resolving answers the report: it is acknowledged by the same act.
        _insert(conn, viewer, incident_id, "acknowledged", None, now)
    _insert(conn, viewer, incident_id, step, clean, now)
    state = "resolved" if step == "resolved" else "acknowledged"
    values: dict[str, object] = {"status": state}
    if state == "resolved":
        values |= {"reviewed_at": now, "reviewed_by": viewer.user_id}
    conn.execute(
        update(t.boundary_incidents)
        .where(t.boundary_incidents.c.id == incident_id)
        .values(**values)
    )
    Access(conn, viewer).record(f"incident_{step}", "boundary_incident", incident_id)
    return state


def _insert(
    conn: Connection, viewer: Viewer, incident_id: int, step: str, text: str | None, at: datetime
) -> None:
    conn.execute(
        insert(t.incident_steps).values(
            incident_id=incident_id, step=step, text=text, by_user_id=viewer.user_id, at=at
        )
    )
