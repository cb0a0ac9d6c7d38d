"""The supervisor's view: supervisees' caseloads and the clinic figures from the analytics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from alliance.analytics.clinic import ALL, clinic_figures
from alliance.domain import ClosingReason
from alliance.services.scores import score_frame
from alliance.store import tables as t
from alliance.store.access import Access, Viewer


@dataclass(frozen=True)
class FigureRow:
    group: str
    n_episodes: int
    effect_size: str
    reliable_improvement: str
    recovery: str
    reliable_deterioration: str
    mean_alliance: str
    dropout: str
    warnings: list[str]


def _pct(row: dict[str, Any], key: str) -> str:
    """A proportion from clinic_figures' `pct_<key>` columns (already in percent) with its CI."""
    value, low, high = (row.get(f"pct_{key}{end}") for end in ("", "_low", "_high"))
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.0f}%"
    if low is not None and high is not None and not math.isnan(low):
        text += f" ({low:.0f}–{high:.0f})"
    return text


def _num(row: dict[str, Any], key: str) -> str:
    value, low, high = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.2f}"
    if low is not None and high is not None and not math.isnan(low):
        text += f" ({low:.2f} to {high:.2f})"
    return text


def clinic_table(conn: Connection, viewer: Viewer) -> list[FigureRow]:
    """Per supervisee and overall: effect size, improvement, recovery, alliance, dropout."""
    e = t.episodes
    rows = conn.execute(
        select(e.c.id, e.c.closed_on, e.c.closing_reason).where(Access(conn, viewer).episodes())
    ).all()
    frame = score_frame(conn, [r.id for r in rows])
    if frame.height == 0:
        return []
    closed = {r.id: r.closed_on is not None for r in rows}
    # Drop-out is the recorded closing reason, never guessed from attendance.
    dropout = {r.id: r.closing_reason == ClosingReason.DROPOUT.value for r in rows}
    frame = frame.with_columns(
        pl.col("episode_id").replace_strict(closed, return_dtype=pl.Boolean).alias("closed"),
        pl.col("episode_id").replace_strict(dropout, return_dtype=pl.Boolean).alias("dropout"),
    )
    names = dict(
        conn.execute(
            select(t.users.c.id, t.users.c.display_name).where(
                t.users.c.id.in_(Access(conn, viewer).therapists())
            )
        ).all()
    )
    table = clinic_figures(frame.drop("flags", "risk"), by="therapist_id")
    out = []
    for row in table.iter_rows(named=True):
        group = row["therapist_id"]
        label = "All supervisees" if group == ALL else names.get(int(group), f"therapist {group}")
        out.append(
            FigureRow(
                group=label,
                n_episodes=int(row.get("n_episodes") or 0),
                effect_size=_num(row, "effect_size"),
                reliable_improvement=_pct(row, "reliable_improvement"),
                recovery=_pct(row, "recovery"),
                reliable_deterioration=_pct(row, "reliable_deterioration"),
                mean_alliance=_num(row, "mean_alliance"),
                dropout=_pct(row, "dropout"),
                warnings=[str(w) for w in (row.get("warnings") or [])],
            )
        )
    return out


def supervisees(conn: Connection, viewer: Viewer) -> list[dict[str, Any]]:
    ids = Access(conn, viewer).therapists()
    if not ids:
        return []
    rows = conn.execute(
        select(t.users.c.id, t.users.c.display_name, t.users.c.username)
        .where(t.users.c.id.in_(ids))
        .order_by(t.users.c.display_name)
    ).mappings()
    return [dict(r) for r in rows]
