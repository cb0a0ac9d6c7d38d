"""Signals: alerts on the alliance and the outcome, each with its evidence and next steps.

Every signal has a stable key (`kind:rule:episode:instrument:session`) so an acknowledgement
recorded against it still matches when the analysis is run again.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from alliance.analytics.etr import MIN_EPISODES, EtrModel, default_models
from alliance.analytics.frame import BoolArray, FloatArray, Series, cut_series, measure_facts
from alliance.analytics.outcome import FALLBACK_AFTER, OutcomeRows, outcome_rows
from alliance.analytics.ruptures import PRESETS, RuptureConfig, detect_ruptures

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")

# DOMAIN §4: alerts carry what to do next; the evidence favours support tools over bare alarms.
_TALK = "Talk about the alliance with the client: ask what fits and what does not"
_GOALS = "Revisit goals and tasks together"
_LIFE = "Check motivation, social support and life events"
_CHANGE = "Consider a change of approach, a referral or a medication review"
_SUPERVISION = "Bring it to supervision"
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "risk_item": (
        "Review risk with the client now, following the clinic's safety protocol",
        _SUPERVISION,
    ),
    "reliable_deterioration": (_TALK, _GOALS, _LIFE, _CHANGE, _SUPERVISION),
    "not_on_track": (_TALK, _GOALS, _LIFE, _CHANGE, _SUPERVISION),
    "rupture": (_TALK, _GOALS, _SUPERVISION),
    "alliance_low": (_TALK, _GOALS, _SUPERVISION),
    "alliance_drop": (_TALK, _GOALS),
    "repair": (_TALK,),
}
KINDS = tuple(NEXT_STEPS)

SIGNAL_SCHEMA: dict[str, Any] = {
    "episode_id": pl.String,
    "client_id": pl.String,
    "therapist_id": pl.String,
    "kind": pl.String,
    "rule": pl.String,
    "severity": pl.String,
    "instrument": pl.String,
    "session": pl.Int64,
    "value": pl.Float64,
    "reference": pl.Float64,
    "detail": pl.String,
    "source": pl.String,
    "_ep": pl.Int64,
}


@dataclass(frozen=True)
class Signal:
    """One alert: what, how serious, the evidence, what to do next, and whether it was seen."""

    key: str
    episode_id: str
    kind: str
    severity: str
    instrument: str
    session: int
    evidence: dict[str, Any]
    next_steps: tuple[str, ...]
    acknowledged: bool = False
    client_id: str | None = None
    therapist_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "episode_id": self.episode_id,
            "client_id": self.client_id,
            "therapist_id": self.therapist_id,
            "kind": self.kind,
            "severity": self.severity,
            "instrument": self.instrument,
            "session": self.session,
            "evidence": self.evidence,
            "next_steps": list(self.next_steps),
            "acknowledged": self.acknowledged,
        }


def signals_frame(
    frame: pl.DataFrame | Series,
    *,
    models: Mapping[str, EtrModel] | None = None,
    rupture_config: RuptureConfig | None = None,
    acknowledged: Collection[str] = (),
    latest_only: bool = False,
    outcomes: OutcomeRows | None = None,
    ruptures: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All signals as one columnar frame (most severe first), with `key` and `acknowledged`."""
    series = frame if isinstance(frame, Series) else cut_series(frame)
    models = default_models() if models is None else models
    config = rupture_config or PRESETS["stiles-like"]
    outcomes = outcomes if outcomes is not None else outcome_rows(series, models)
    ruptures = ruptures if ruptures is not None else detect_ruptures(series, config)
    parts = [
        _risk(series),
        _deterioration(series, outcomes),
        _not_on_track(series, outcomes),
        *_alliance(series),
        *_ruptures(ruptures, config, series),
    ]
    out = (
        pl.concat([p for p in parts if p.height], how="vertical")
        if any(p.height for p in parts)
        else _empty()
    )
    if latest_only:
        last = series.frame.group_by("episode_id").agg(pl.col("session").max().alias("_last"))
        out = (
            out.join(last.with_columns(pl.col("episode_id").cast(pl.String)), on="episode_id")
            .filter(pl.col("session") == pl.col("_last"))
            .drop("_last")
        )
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    out = out.with_columns(
        pl.concat_str(
            ["kind", "rule", "episode_id", "instrument", pl.col("session").cast(pl.String)],
            separator=":",
        ).alias("key"),
        pl.col("severity").replace_strict(rank, return_dtype=pl.Int8).alias("_rank"),
    )
    out = out.with_columns([pl.col(c).cast(pl.Categorical) for c in _LOW_CARDINALITY])
    keys = pl.Series(list(acknowledged), dtype=pl.String)
    out = out.with_columns(pl.col("key").is_in(keys.implode()).alias("acknowledged"))
    # Numeric sort keys (episode ordinal, not the id string) keep this fast on large frames.
    return out.sort(["_rank", "_ep", "session"], maintain_order=True).drop("_rank", "_ep")


def signals(
    frame: pl.DataFrame | Series,
    *,
    models: Mapping[str, EtrModel] | None = None,
    rupture_config: RuptureConfig | None = None,
    acknowledged: Collection[str] = (),
    latest_only: bool = False,
) -> list[Signal]:
    """All signals as objects, most severe first."""
    table = signals_frame(
        frame,
        models=models,
        rupture_config=rupture_config,
        acknowledged=acknowledged,
        latest_only=latest_only,
    )
    return to_signals(table)


def to_signals(table: pl.DataFrame) -> list[Signal]:
    """Turn rows of `signals_frame` into `Signal` objects."""
    result: list[Signal] = []
    for row in table.iter_rows(named=True):
        evidence = {
            "rule": row["rule"],
            "detail": row["detail"],
            "source": row["source"],
            "score": _number(row["value"]),
            "reference": _number(row["reference"]),
            "instrument": row["instrument"],
            "session": row["session"],
        }
        result.append(
            Signal(
                key=row["key"],
                episode_id=row["episode_id"],
                kind=row["kind"],
                severity=row["severity"],
                instrument=row["instrument"],
                session=row["session"],
                evidence=evidence,
                next_steps=NEXT_STEPS[row["kind"]],
                acknowledged=row["acknowledged"],
                client_id=row["client_id"],
                therapist_id=row["therapist_id"],
            )
        )
    return result


def _number(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=SIGNAL_SCHEMA)


def _rows(
    series: Series,
    mask: BoolArray,
    *,
    kind: str,
    rule: str,
    severity: str | pl.Expr,
    value: FloatArray,
    reference: FloatArray,
    detail: str | pl.Expr,
    source: str,
) -> pl.DataFrame:
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return _empty()
    base = series.frame.select("episode_id", "client_id", "therapist_id", "instrument", "session")[
        idx
    ]
    out = base.with_columns(
        pl.col("episode_id").cast(pl.String),
        pl.col("client_id").cast(pl.String),
        pl.col("therapist_id").cast(pl.String),
        pl.lit(kind).alias("kind"),
        pl.lit(rule).alias("rule"),
        pl.Series("value", value[idx], dtype=pl.Float64),
        pl.Series("reference", reference[idx], dtype=pl.Float64),
        pl.lit(source).alias("source"),
        pl.Series("_ep", series.episode[idx], dtype=pl.Int64),
    )
    out = out.with_columns(
        (severity if isinstance(severity, pl.Expr) else pl.lit(severity)).alias("severity"),
        (detail if isinstance(detail, pl.Expr) else pl.lit(detail)).alias("detail"),
    )
    return out.select(list(SIGNAL_SCHEMA))


# Few distinct values, many rows: categorical columns keep a large signal table small.
_LOW_CARDINALITY = ("kind", "rule", "severity", "instrument", "detail", "source")


def _risk(series: Series) -> pl.DataFrame:
    risk = series.frame["risk"].to_numpy().astype(np.bool_)
    return _rows(
        series,
        risk,
        kind="risk_item",
        rule="risk_item",
        severity="critical",
        value=series.total,
        reference=np.full(series.total.size, np.nan),
        detail="A risk item was endorsed; it is shown whatever the total",
        source="Instrument definition (risk item, e.g. PHQ-9 item 9, CORE-10 item 6)",
    )


def _deterioration(series: Series, outcomes: OutcomeRows) -> pl.DataFrame:
    return _rows(
        series,
        outcomes.deteriorated,
        kind="reliable_deterioration",
        rule="reliable_change",
        severity="high",
        value=series.total,
        reference=outcomes.intake,
        detail=pl.format(
            "Worse than intake by at least the reliable change for {}", pl.col("instrument")
        ),
        source="Jacobson & Truax 1991 (minimum reliable difference from the instrument)",
    )


def _not_on_track(series: Series, outcomes: OutcomeRows) -> pl.DataFrame:
    by_model = outcomes.not_on_track & outcomes.by_model
    fallback = outcomes.not_on_track & ~outcomes.by_model
    modelled = _rows(
        series,
        by_model,
        kind="not_on_track",
        rule="etr",
        severity="high",
        value=series.total,
        reference=outcomes.expected,
        detail=pl.format(
            "Outside the expected-response band (model learned from {} episodes)",
            pl.Series(outcomes.model_episodes[by_model]),
        ),
        source="Finch, Lambert & Schaalje 2001 (expected treatment response)",
    )
    fell_back = _rows(
        series,
        fallback,
        kind="not_on_track",
        rule="fallback",
        severity="medium",
        value=series.total,
        reference=outcomes.intake,
        detail=pl.format(
            "No reliable improvement after {} ratings; fallback to reliable change because the "
            "expected-response model learned from {} episodes (fewer than {})",
            pl.lit(FALLBACK_AFTER),
            pl.Series(outcomes.model_episodes[fallback]),
            pl.lit(MIN_EPISODES),
        ),
        source="Jacobson & Truax 1991 (fallback when no usable expected-response model)",
    )
    return pl.concat([modelled, fell_back])


def _alliance(series: Series) -> list[pl.DataFrame]:
    x = series.total
    n = x.size
    facts = [measure_facts(i) for i in series.instruments]
    alliance_codes = np.array([f.kind == "alliance" for f in facts] + [False], dtype=np.bool_)
    codes = series.instrument_codes if n else np.zeros(0, dtype=np.int64)
    alliance = alliance_codes[codes]
    cutoff = np.array(
        [(f.cutoff if f.cutoff is not None and f.clinical_below else np.nan) for f in facts]
        + [np.nan]
    )[codes]
    srs_like = ~np.isnan(cutoff)
    previous = np.full(n, np.nan)
    if n:
        previous[1:] = x[:-1]
        previous[series.starts] = np.nan
    # The lowest rating so far: a running minimum that restarts at each series (offsetting each
    # series by a large constant lets one accumulate pass serve them all).
    prior_min = np.full(n, np.nan)
    if n:
        offset = series.series.astype(np.float64) * 1e6
        running = -np.maximum.accumulate(offset - x) + offset
        prior_min[1:] = running[:-1]
        prior_min[series.starts] = np.nan
    with np.errstate(invalid="ignore"):
        low = alliance & srs_like & (x < cutoff)
        lowest = alliance & ~low & (series.position >= 2) & (x < prior_min)
        # OpenFIT red flag: SRS down 1 point or more from the previous session.
        drop = alliance & srs_like & (previous - x >= 1.0)
    return [
        _rows(
            series,
            low,
            kind="alliance_low",
            rule="below_cutoff",
            severity="medium",
            value=x,
            reference=cutoff,
            detail=pl.format("{} total below its cutoff", pl.col("instrument")),
            source="OpenFIT; Duncan et al. 2003 (SRS below 36: discuss now)",
        ),
        _rows(
            series,
            lowest,
            kind="alliance_low",
            rule="lowest_so_far",
            severity="low",
            value=x,
            reference=prior_min,
            detail=pl.format("The client's lowest {} rating so far", pl.col("instrument")),
            source="Alert rule: an alliance measure at the client's lowest so far",
        ),
        _rows(
            series,
            drop,
            kind="alliance_drop",
            rule="drop_1_point",
            severity="medium",
            value=x,
            reference=previous,
            detail=pl.format("{} fell 1 point or more from the previous session", "instrument"),
            source="OpenFIT red flag (SRS drop of 1 point or more)",
        ),
    ]


def _ruptures(ruptures: pl.DataFrame, config: RuptureConfig, series: Series) -> list[pl.DataFrame]:
    if ruptures.height == 0:
        return [_empty()]
    ordinals = pl.DataFrame(
        {
            "episode_id": series.frame["episode_id"].gather(series.starts),
            "_ep": series.episode[series.starts],
        }
    ).unique("episode_id")
    base = ruptures.join(ordinals, on="episode_id", how="left").with_columns(
        pl.col("episode_id").cast(pl.String),
        pl.col("client_id").cast(pl.String),
        pl.col("therapist_id").cast(pl.String),
        pl.lit(config.name).alias("rule"),
        pl.lit(_rupture_source(config)).alias("source"),
    )
    rupture = base.select(
        "episode_id",
        "client_id",
        "therapist_id",
        pl.lit("rupture").alias("kind"),
        "rule",
        pl.when(pl.col("repaired"))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("high"))
        .alias("severity"),
        "instrument",
        pl.col("start_session").alias("session"),
        pl.col("lowest").alias("value"),
        pl.col("pre_level").alias("reference"),
        pl.format(
            "Rupture from session {} to {}, {} points below the reference; {}",
            "start_session",
            "end_session",
            pl.col("depth").round(1),
            pl.when(pl.col("repaired"))
            .then(pl.format("repaired at session {}", "repair_session"))
            .otherwise(pl.lit("not repaired")),
        ).alias("detail"),
        "source",
        "_ep",
    )
    repair = base.filter(pl.col("repaired")).select(
        "episode_id",
        "client_id",
        "therapist_id",
        pl.lit("repair").alias("kind"),
        "rule",
        pl.lit("info").alias("severity"),
        "instrument",
        pl.col("repair_session").alias("session"),
        pl.col("pre_level").alias("value"),
        pl.col("pre_level").alias("reference"),
        pl.format(
            "Back to the pre-rupture level after the rupture at session {}", "start_session"
        ).alias("detail"),
        "source",
        "_ep",
    )
    return [rupture.cast(SIGNAL_SCHEMA), repair.cast(SIGNAL_SCHEMA)]  # type: ignore[arg-type]


def _rupture_source(config: RuptureConfig) -> str:
    if config.rule == "sd":
        return (
            f"{config.name}: {config.k:g} SD ({config.sd_source}) below the {config.reference} "
            "reference; an approximation of Stiles et al. 2004 / Strauss et al. 2006"
        )
    if config.rule == "drop":
        return f"{config.name}: a drop of {config.drop_points:g} points (OpenFIT)"
    return f"{config.name}: below the measure's cutoff (OpenFIT)"
