"""The caseload: every open episode a user may see, with its latest figures, sorted by need."""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, Table, func, select

from alliance.instruments import load_instrument
from alliance.services.alerts import AlertView, alerts_for
from alliance.services.scores import score_frame
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import Actor
from alliance.store.engine import READ_ONLY
from alliance.store.writer import GroupCommitWriter


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


@dataclass(frozen=True)
class _Analysis:
    lasts: dict[int, dict[str, LastScore]]
    alerts: dict[int, list[AlertView]]
    risky: frozenset[int]


@dataclass(frozen=True)
class _EpisodeAnalysis:
    lasts: dict[str, LastScore]
    alerts: list[AlertView]
    risky: bool


# Enough for every open episode of a large clinic; the least recently shown go first. One cache
# per engine, so two databases served from one process never share an entry.
_CACHE_SIZE = 20_000
_caches: weakref.WeakKeyDictionary[Engine, OrderedDict[tuple[object, ...], _EpisodeAnalysis]] = (
    weakref.WeakKeyDictionary()
)
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every kept analysis (after a database was restored in place, say)."""
    with _cache_lock:
        _caches.clear()


def _reach(conn: Connection, table: Table, ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per episode, how many rows `table` holds for it and the highest id among them."""
    rows = conn.execute(
        select(table.c.episode_id, func.count(), func.max(table.c.id))
        .where(table.c.episode_id.in_(ids))
        .group_by(table.c.episode_id)
    ).all()
    return {r[0]: (int(r[1]), r[2]) for r in rows}


def _analysis_keys(conn: Connection, episodes: Sequence[Any]) -> dict[int, tuple[object, ...]]:
    """Per episode, what its analysis depends on: how far its scores and acknowledgements reach.

    Administrations and acknowledgements are only ever added (a correction is a new row), so
    the count and the highest id of each change whenever the analysis would; sessions change
    only their attendance, which the analysis does not read. The signals of one episode never
    depend on another's, so each episode's analysis is kept and recomputed on its own.
    """
    ids = [r.id for r in episodes]
    scores = _reach(conn, t.administrations, ids)
    acks = _reach(conn, t.signal_acknowledgements, ids)
    return {
        r.id: (
            r.id,
            r.client_id,
            r.therapist_id,
            scores.get(r.id, (0, None)),
            acks.get(r.id, (0, None)),
        )
        for r in episodes
    }


def _analyse(conn: Connection, ids: list[int]) -> dict[int, _EpisodeAnalysis]:
    """The score frame of these episodes read once, columnar, and every figure shown from it."""
    frame = score_frame(conn, ids)
    risky: set[int] = set()
    if frame.height:
        latest = frame.group_by(["episode_id", "instrument"]).last()
        risky = set(latest.filter(pl.col("risk"))["episode_id"].to_list())
    lasts = last_scores(frame)
    alerts = alerts_for(conn, frame, episode_ids=ids)
    return {i: _EpisodeAnalysis(lasts.get(i, {}), alerts.get(i, []), i in risky) for i in ids}


def _analysis(conn: Connection, episodes: Sequence[Any]) -> _Analysis:
    """The analysis of these episodes, each reused while none of its inputs was added to."""
    if not episodes:
        return _Analysis({}, {}, frozenset())
    keys = _analysis_keys(conn, episodes)
    found: dict[int, _EpisodeAnalysis] = {}
    with _cache_lock:
        cache = _caches.setdefault(conn.engine, OrderedDict())
        for episode_id, key in keys.items():
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                found[episode_id] = hit
    missing = [episode_id for episode_id in keys if episode_id not in found]
    if missing:
        made = _analyse(conn, missing)
        found.update(made)
        with _cache_lock:
            for episode_id, analysis in made.items():
                cache[keys[episode_id]] = analysis
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
    return _Analysis(
        {i: a.lasts for i, a in found.items() if a.lasts},
        {i: a.alerts for i, a in found.items() if a.alerts},
        frozenset(i for i, a in found.items() if a.risky),
    )


def read_caseload(
    conn: Connection, viewer: Viewer, therapist_id: int | None = None
) -> list[CaseloadRow]:
    """The rows of `caseload`, without the audit event (the caller records it)."""
    e, c, u, s = t.episodes, t.clients, t.users, t.sessions
    query = (
        Access(conn, viewer)
        .listing(e.c.id, e.c.stage, e.c.client_id, e.c.therapist_id, c.c.code, u.c.display_name)
        .where(e.c.closed_on.is_(None))
        .order_by(e.c.id)
    )
    if therapist_id is not None:
        query = query.where(e.c.therapist_id == therapist_id)
    episodes = list(conn.execute(query).all())
    ids = [r.id for r in episodes]
    counts: dict[int, tuple[int, date | None]] = {}
    if ids:
        for r in conn.execute(
            select(s.c.episode_id, func.count(), func.max(s.c.held_on))
            .where(s.c.episode_id.in_(ids), s.c.attendance == "attended")
            .group_by(s.c.episode_id)
        ).all():
            counts[r[0]] = (int(r[1]), r[2])
    analysis = _analysis(conn, episodes)
    none: dict[str, LastScore] = {}
    rows = []
    for r in episodes:
        alerts = analysis.alerts.get(r.id, [])
        lasts = analysis.lasts.get(r.id, none)
        sessions, last_on = counts.get(r.id, (0, None))
        rows.append(
            CaseloadRow(
                episode_id=r.id,
                client_code=r.code,
                therapist=r.display_name,
                stage=r.stage,
                sessions=sessions,
                last_session_on=last_on,
                last_alliance=lasts.get("alliance"),
                last_outcome=lasts.get("outcome"),
                risk=r.id in analysis.risky or any(a.is_risk for a in alerts),
                alerts=list(alerts),
            )
        )
    rows.sort(key=lambda row: row.need)
    return rows


def caseload(
    conn: Connection, viewer: Viewer, therapist_id: int | None = None
) -> list[CaseloadRow]:
    """Open episodes visible to `viewer` (optionally one therapist's), most in need first."""
    rows = read_caseload(conn, viewer, therapist_id)
    audit.record(conn, viewer.actor, "read", "caseload", therapist_id)
    return rows


def caseload_audited(
    engine: Engine, writer: GroupCommitWriter, viewer: Viewer, therapist_id: int | None = None
) -> list[CaseloadRow]:
    """As `caseload`, read without the write lock; the audit event goes through the writer.

    The page is built from one read snapshot (SQLite readers in WAL mode never wait for the
    writer, nor hold it up), and is returned only once its audit event has been committed.
    """
    with engine.connect().execution_options(**{READ_ONLY: True}) as conn, conn.begin():
        rows = read_caseload(conn, viewer, therapist_id)
    actor = viewer.actor
    writer.run(partial(_record_read, actor=actor, therapist_id=therapist_id))
    return rows


def _record_read(conn: Connection, *, actor: Actor, therapist_id: int | None) -> None:
    audit.record(conn, actor, "read", "caseload", therapist_id)
