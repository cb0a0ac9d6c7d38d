"""The supervisor's view: supervisees' caseloads, the clinic figures and the alerts' accuracy.

Every figure names its measure; one from fewer episodes than its minimum
(`alliance.analytics.clinic.MINIMUMS`) reads "too few (n = 3)" instead of a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy import Connection, select

from alliance.analytics.clinic import ALL, MIN_EPISODES_RATE, clinic_figures, too_few
from alliance.analytics.evaluation import alert_accuracy
from alliance.domain import ClosingReason
from alliance.services.alerts import etr_models
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
    reliable_recovery: str = "—"
    # The measure behind each figure, in words for people.
    effect_size_measure: str = ""
    rates_measure: str = ""
    alliance_measure: str = ""
    # How well the not-on-track and no-change alerts foretold no reliable improvement.
    alert_episodes: int = 0
    alert_sensitivity: str = "—"
    alert_specificity: str = "—"
    alert_ppv: str = "—"
    alert_measure: str = ""


def _too_few(n: int, unit: str = "") -> str:
    return f"too few (n = {n}{unit})"


def _pct(row: dict[str, Any], key: str) -> str:
    """A proportion from clinic_figures' `pct_<key>` columns (already in percent) with its CI."""
    n = too_few(row, key)
    if n is not None:
        return _too_few(n)
    value, low, high = (row.get(f"pct_{key}{end}") for end in ("", "_low", "_high"))
    return _with_interval(value, low, high, "{:.0f}%", " ({:.0f}–{:.0f})")


def _num(row: dict[str, Any], key: str) -> str:
    n = too_few(row, key)
    if n is not None:
        return _too_few(n, " ratings" if key == "mean_alliance" else "")
    value, low, high = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    return _with_interval(value, low, high, "{:.2f}", " ({:.2f} to {:.2f})")


def _with_interval(value: Any, low: Any, high: Any, shown: str, interval: str) -> str:
    """A figure in its format, then its interval where both ends are known; a dash for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = shown.format(value)
    if low is not None and high is not None and not math.isnan(low):
        text += interval.format(low, high)
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
    accuracy = {
        str(r["therapist_id"]): r
        for r in alert_accuracy(
            frame.drop("flags"), models=etr_models(conn, viewer.organisation_id)
        ).iter_rows(named=True)
    }
    out = []
    for row in table.iter_rows(named=True):
        group = row["therapist_id"]
        label = "All supervisees" if group == ALL else names.get(int(group), f"therapist {group}")
        hits = accuracy.get(str(group), {})
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
                warnings=[str(w) for w in (row.get("warnings") or [])]
                + [str(w) for w in (hits.get("warnings") or [])],
                reliable_recovery=_pct(row, "reliable_recovery"),
                effect_size_measure=str(row.get("effect_size_measure") or "—"),
                rates_measure=str(row.get("rates_measure") or "—"),
                alliance_measure=str(row.get("alliance_measure") or "—"),
                alert_episodes=int(hits.get("n_episodes") or 0),
                alert_sensitivity=_rate(hits, "sensitivity"),
                alert_specificity=_rate(hits, "specificity"),
                alert_ppv=_rate(hits, "ppv"),
                alert_measure=str(hits.get("measure") or "—"),
            )
        )
    return out


def _rate(row: dict[str, Any], key: str) -> str:
    """An accuracy figure (a fraction) in percent with its Wilson interval, or too few."""
    n = int(row.get(f"n_{key}") or 0)
    if n < MIN_EPISODES_RATE:
        return _too_few(n)
    value, low, high = (row.get(f"{key}{end}") for end in ("", "_low", "_high"))
    if value is None:
        return "—"
    text = f"{100 * value:.0f}%"
    if low is not None and high is not None:
        text += f" ({100 * low:.0f}–{100 * high:.0f})"
    return text


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
