"""Alerts shown to clinicians: the analytics' signals, with acknowledgements from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, insert, select

from alliance.analytics.etr import EtrModel, default_models
from alliance.analytics.signals import SEVERITY_ORDER
from alliance.analytics.signals import signals as find_signals
from alliance.errors import FormError
from alliance.instruments import load_instrument
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import utc_now

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
TITLES = {
    "risk_item": "Risk item endorsed",
    "reliable_deterioration": "Reliable deterioration",
    "not_on_track": "Not on track",
    "rupture": "Alliance rupture",
    "alliance_low": "Alliance low",
    "alliance_drop": "Alliance drop",
    "repair": "Rupture repaired",
}
# Repairs are good news: shown on the chart, not counted as alerts that need acting on.
NOT_ALERTS = frozenset({"repair"})


@dataclass(frozen=True)
class AlertView:
    key: str
    episode_id: int
    kind: str
    severity: str
    title: str
    instrument: str
    session: int
    detail: str
    score: float | None
    reference: float | None
    next_steps: list[str] = field(default_factory=list)
    acknowledged: bool = False

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, len(SEVERITY_RANK))

    @property
    def is_risk(self) -> bool:
        return self.kind == "risk_item"


def etr_models(conn: Connection, organisation_id: int | None) -> dict[str, EtrModel]:
    """The clinic's latest fitted models per instrument, else the models that ship."""
    models = default_models()
    rows = conn.execute(
        select(t.etr_models.c.instrument_id, t.etr_models.c.params)
        .where(
            (t.etr_models.c.organisation_id == organisation_id)
            | t.etr_models.c.organisation_id.is_(None)
        )
        .order_by(t.etr_models.c.fitted_at)
    ).all()
    for row in rows:
        params = row.params
        if isinstance(params, dict) and "coefficients" in params:
            models.update(read_models_dict(params))
    return models


def read_models_dict(params: dict[str, object]) -> dict[str, EtrModel]:
    model = EtrModel.from_dict(dict(params))
    return {model.instrument: model}


def acknowledged_keys(conn: Connection, episode_ids: Sequence[int]) -> set[str]:
    if not episode_ids:
        return set()
    rows = conn.execute(
        select(t.signal_acknowledgements.c.signal_key).where(
            t.signal_acknowledgements.c.episode_id.in_(list(episode_ids))
        )
    ).scalars()
    return set(rows)


def alerts_for(
    conn: Connection, frame: pl.DataFrame, models: dict[str, EtrModel] | None = None
) -> dict[int, list[AlertView]]:
    """Every alert per episode, unacknowledged and most urgent first."""
    if frame.height == 0:
        return {}
    episode_ids = frame["episode_id"].unique().to_list()
    found = find_signals(
        frame.drop("flags"),
        models=models if models is not None else default_models(),
        acknowledged=acknowledged_keys(conn, episode_ids),
    )
    out: dict[int, list[AlertView]] = {}
    for s in found:
        if s.kind in NOT_ALERTS:
            continue
        view = AlertView(
            key=s.key,
            episode_id=int(s.episode_id),
            kind=s.kind,
            severity=s.severity,
            title=f"{TITLES.get(s.kind, s.kind)} · {load_instrument(s.instrument).short_name}",
            instrument=s.instrument,
            session=int(s.session),
            detail=str(s.evidence.get("detail") or ""),
            score=s.evidence.get("score"),
            reference=s.evidence.get("reference"),
            next_steps=list(s.next_steps),
            acknowledged=s.acknowledged,
        )
        out.setdefault(view.episode_id, []).append(view)
    for episode_id, views in out.items():
        out[episode_id] = _latest_per_kind(views)
    return out


def _latest_per_kind(views: list[AlertView]) -> list[AlertView]:
    """One open alert per kind and measure (its latest session); earlier ones are its history.

    A risk item endorsed at ten sessions is one thing to act on, not ten; acknowledging the
    latest also acknowledges the earlier ones of the same kind (see `acknowledge`).
    """
    latest: dict[tuple[str, str], AlertView] = {}
    for view in views:
        if view.acknowledged:
            continue
        slot = (view.kind, view.instrument)
        if slot not in latest or latest[slot].session < view.session:
            latest[slot] = view
    return sorted(latest.values(), key=lambda v: (v.rank, -v.session))


def _open_signals(conn: Connection, episode_id: int) -> list[AlertView]:
    """Every unacknowledged signal of one episode, not collapsed."""
    from alliance.services.scores import score_frame

    frame = score_frame(conn, [episode_id])
    if frame.height == 0:
        return []
    found = find_signals(
        frame.drop("flags"),
        models=default_models(),
        acknowledged=acknowledged_keys(conn, [episode_id]),
    )
    return [
        AlertView(
            key=s.key,
            episode_id=episode_id,
            kind=s.kind,
            severity=s.severity,
            title=s.kind,
            instrument=s.instrument,
            session=int(s.session),
            detail="",
            score=None,
            reference=None,
        )
        for s in found
        if not s.acknowledged and s.kind not in NOT_ALERTS
    ]


def acknowledge(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    signal_key: str,
    note: str | None,
    now: datetime | None = None,
) -> None:
    """Record that the treating therapist has seen an alert (and what they will do)."""
    Access(conn, viewer).episode(episode_id, write=True)
    open_now = {a.key: a for a in _open_signals(conn, episode_id)}
    if signal_key not in open_now:
        raise FormError(
            {"signal_key": "this alert is not open on this episode (already acknowledged?)"}
        )
    chosen = open_now[signal_key]
    covered = [
        a.key
        for a in open_now.values()
        if a.kind == chosen.kind
        and a.instrument == chosen.instrument
        and a.session <= chosen.session
    ]
    clean_note = (note or "").strip() or None
    if clean_note is not None and len(clean_note) > 1000:
        raise FormError({"note": f"the note has {len(clean_note)} characters; at most 1000"})
    at = now or utc_now()
    conn.execute(
        insert(t.signal_acknowledgements),
        [
            {
                "episode_id": episode_id,
                "signal_key": key,
                "user_id": viewer.user_id,
                "at": at,
                "note": clean_note,
            }
            for key in covered
        ],
    )
    audit.record(conn, viewer.actor, "acknowledge", "signal", episode_id)
