"""The caseload: every open episode a user may see, with its latest figures, sorted by need."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlalchemy import Connection, func, select

from alliance.instruments import load_instrument
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.web.auth import Viewer
from alliance.web.services.access import visible_episodes
from alliance.web.services.alerts import AlertView, alerts_for
from alliance.web.services.scores import score_frame


@dataclass(frozen=True)
class LastScore:
    instrument: str
    label: str
    total: float
    session: int


@dataclass(frozen=True)
class CaseloadRow:
    episode_id: int
    client_code: str
    therapist: str
    stage: str
    sessions: int
    last_session_on: date | None
    last_alliance: LastScore | None
    last_outcome: LastScore | None
    risk: bool
    alerts: list[AlertView] = field(default_factory=list)

    @property
    def open_alerts(self) -> list[AlertView]:
        return [a for a in self.alerts if not a.acknowledged]

    @property
    def need(self) -> tuple[int, int, int, str]:
        """Risk first, then the most severe open alert, then how many, then the code."""
        top = min((a.rank for a in self.open_alerts), default=9)
        return (0 if self.risk else 1, top, -len(self.open_alerts), self.client_code)


def _kind(instrument_id: str) -> tuple[str, str]:
    instrument = load_instrument(instrument_id)
    return instrument.kind, instrument.short_name


def last_scores(frame: pl.DataFrame) -> dict[int, dict[str, LastScore]]:
    """Per episode, the latest alliance and outcome score (by session)."""
    out: dict[int, dict[str, LastScore]] = {}
    if frame.height == 0:
        return out
    latest = (
        frame.sort(["episode_id", "session"])
        .group_by(["episode_id", "instrument"], maintain_order=True)
        .last()
    )
    for row in latest.iter_rows(named=True):
        kind, label = _kind(row["instrument"])
        score = LastScore(row["instrument"], label, row["total"], row["session"])
        slot = out.setdefault(row["episode_id"], {})
        if kind in slot and slot[kind].session > score.session:
            continue
        slot[kind] = score
    return out


def caseload(
    conn: Connection, viewer: Viewer, therapist_id: int | None = None
) -> list[CaseloadRow]:
    """Open episodes visible to `viewer` (optionally one therapist's), most in need first."""
    e, c, u, s = t.episodes, t.clients, t.users, t.sessions
    query = (
        select(
            e.c.id,
            e.c.stage,
            c.c.code,
            u.c.display_name,
        )
        .join(c, c.c.id == e.c.client_id)
        .join(u, u.c.id == e.c.therapist_id)
        .where(e.c.closed_on.is_(None), visible_episodes(viewer))
    )
    if therapist_id is not None:
        query = query.where(e.c.therapist_id == therapist_id)
    episodes = conn.execute(query).all()
    ids = [r.id for r in episodes]
    counts: dict[int, tuple[int, date | None]] = {}
    if ids:
        for r in conn.execute(
            select(s.c.episode_id, func.count(), func.max(s.c.held_on))
            .where(s.c.episode_id.in_(ids), s.c.attendance == "attended")
            .group_by(s.c.episode_id)
        ).all():
            counts[r[0]] = (int(r[1]), r[2])
    frame = score_frame(conn, ids)
    lasts = last_scores(frame)
    alerts = alerts_for(conn, frame)
    risky: set[int] = set()
    if frame.height:
        latest = frame.group_by(["episode_id", "instrument"]).last()
        risky = set(latest.filter(pl.col("risk"))["episode_id"].to_list())
    rows = [
        CaseloadRow(
            episode_id=r.id,
            client_code=r.code,
            therapist=r.display_name,
            stage=r.stage,
            sessions=counts.get(r.id, (0, None))[0],
            last_session_on=counts.get(r.id, (0, None))[1],
            last_alliance=lasts.get(r.id, {}).get("alliance"),
            last_outcome=lasts.get(r.id, {}).get("outcome"),
            risk=r.id in risky or any(a.kind == "risk" for a in alerts.get(r.id, [])),
            alerts=alerts.get(r.id, []),
        )
        for r in episodes
    ]
    rows.sort(key=lambda row: row.need)
    audit.record(conn, Actor(viewer.user_id, viewer.ip), "read", "caseload", therapist_id)
    return rows
