"""Signals: alerts on the alliance and the outcome, each with its evidence and next steps.

Every signal has a stable key (`kind:rule:episode:instrument:session`) so an acknowledgement
recorded against it still matches when the analysis is run again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from alliance.analytics.etr import MIN_EPISODES, EtrModel, default_models
from alliance.analytics.frame import (
    BoolArray,
    FloatArray,
    IntArray,
    Series,
    cut_series,
    measure_facts,
)
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
        *_not_on_track(series, outcomes, models),
        *_alliance(series),
    ]
    if latest_only and series.total.size:
        last = np.maximum.reduceat(series.session, series.episode_starts)
        parts = [p.keep(series.session[p.rows] == last[series.episode[p.rows]]) for p in parts]
    from_ruptures = _ruptures(ruptures, config, series)
    if latest_only:
        from_ruptures = [_latest(b, series) for b in from_ruptures]
    # Most severe first, then episode (its ordinal, not the id string) and session; ties keep
    # the order of the parts above. The row-based block is built already in that order, the
    # few rupture rows are sorted on their own, and the two sorted blocks are merged.
    rupture_rows = pl.concat(from_ruptures, how="vertical")
    rupture_rows = rupture_rows.with_columns(_key(rupture_rows))[
        pl.Series(_stable_order(*_sort_keys(rupture_rows)), dtype=pl.Int64)
    ]
    row_block = _block(series, parts)
    out = pl.concat([row_block, rupture_rows], how="vertical")
    if rupture_rows.height and row_block.height:
        out = out[pl.Series(_merge_order(_sort_keys(row_block), _sort_keys(rupture_rows)))]
    keys = pl.Series(list(acknowledged), dtype=pl.String)
    return out.with_columns(pl.col("key").is_in(keys.implode()).alias("acknowledged")).drop(
        "_rank", "_ep"
    )


def _key(block: pl.DataFrame) -> pl.Expr:
    """The stable key `kind:rule:episode:instrument:session`."""
    return pl.concat_str(
        ["kind", "rule", "episode_id", "instrument", pl.col("session").cast(pl.String)],
        separator=":",
    ).alias("key")


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


# Few distinct values, many rows: categorical columns keep a large signal table small.
_LOW_CARDINALITY = ("kind", "rule", "severity", "instrument", "detail", "source")
_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
_BLOCK_SCHEMA: dict[str, Any] = {
    **SIGNAL_SCHEMA,
    **dict.fromkeys(_LOW_CARDINALITY, pl.Categorical),
    "_rank": pl.Int64,
}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_BLOCK_SCHEMA)


@dataclass(frozen=True)
class _Part:
    """Signals of one kind and rule raised on rows of the frame (before any frame is built).

    `labels[i]` is the detail of rows whose `label_codes` is i.
    """

    kind: str
    rule: str
    severity: str
    source: str
    rows: IntArray
    reference: FloatArray
    label_codes: IntArray
    labels: tuple[str, ...]

    def keep(self, mask: BoolArray) -> _Part:
        return replace(
            self,
            rows=self.rows[mask],
            reference=self.reference[mask],
            label_codes=self.label_codes[mask],
        )


def _part(
    series: Series,
    rows: IntArray,
    *,
    kind: str,
    rule: str,
    severity: str,
    reference: FloatArray,
    detail: str | Callable[[int], str],
    source: str,
    label_by: IntArray | None = None,
) -> _Part:
    """Signals on frame `rows` (`reference` is given at those rows).

    `detail` is one text, or a text per value of `label_by` (default: the instrument) at the row.
    """
    if isinstance(detail, str) or rows.size == 0:
        labels = (detail,) if isinstance(detail, str) else ()
        return _Part(
            kind, rule, severity, source, rows, reference, np.zeros(rows.size, np.int64), labels
        )
    by = series.instrument_codes[rows] if label_by is None else label_by[rows]
    if bool((by == by[0]).all()):
        values, codes = by[:1], np.zeros(rows.size, dtype=np.int64)
    else:
        values, inverse = np.unique(by, return_inverse=True)
        codes = inverse.reshape(-1).astype(np.int64)
    return _Part(
        kind, rule, severity, source, rows, reference, codes, tuple(detail(int(v)) for v in values)
    )


def _block(series: Series, parts: list[_Part]) -> pl.DataFrame:
    """Every row-based signal in one frame, sorted by (rank, episode, session), ties in part order.

    Everything but the identifiers is assembled from numpy arrays already in that order; the
    identifiers take one gather from the score frame.
    """
    sizes = [p.rows.size for p in parts]
    if not sum(sizes):
        return _empty().with_columns(pl.lit(None, dtype=pl.String).alias("key"))
    part_of = np.repeat(np.arange(len(parts)), sizes)
    rows = np.concatenate([p.rows for p in parts])
    rank = np.array([_RANK[p.severity] for p in parts])[part_of]
    order = _stable_order(rank, series.episode[rows], series.session[rows])
    rows, part_of, rank = rows[order], part_of[order], rank[order]
    label_base = np.cumsum([0] + [len(p.labels) for p in parts[:-1]])
    label_codes = np.concatenate(
        [p.label_codes + b for p, b in zip(parts, label_base, strict=True)]
    )[order]
    reference = np.concatenate([p.reference for p in parts])[order]
    codes = series.instrument_codes[rows]
    session = series.session[rows]

    def constant(values: list[str], at: IntArray, dtype: Any = pl.Categorical) -> pl.Series:
        return pl.Series(values, dtype=dtype).gather(at)

    out = pl.DataFrame(_identifiers(series, rows)).select(
        "episode_id",
        "client_id",
        "therapist_id",
        constant([p.kind for p in parts], part_of).alias("kind"),
        constant([p.rule for p in parts], part_of).alias("rule"),
        constant([p.severity for p in parts], part_of).alias("severity"),
        constant(list(series.instruments), codes).alias("instrument"),
        pl.Series("session", session, dtype=pl.Int64),
        pl.Series("value", series.total[rows], dtype=pl.Float64),
        pl.Series("reference", reference, dtype=pl.Float64),
        constant([label for p in parts for label in p.labels], label_codes).alias("detail"),
        constant([p.source for p in parts], part_of).alias("source"),
        pl.Series("_ep", series.episode[rows], dtype=pl.Int64),
        pl.Series("_rank", rank, dtype=pl.Int64),
        # The key from plain-text pieces: "kind:rule:", the episode, ":instrument:", session.
        constant([f"{p.kind}:{p.rule}:" for p in parts], part_of, pl.String).alias("_head"),
        constant([f":{i}:" for i in series.instruments], codes, pl.String).alias("_mid"),
    )
    key = pl.concat_str(["_head", "episode_id", "_mid", pl.col("session").cast(pl.String)])
    return out.with_columns(key.alias("key")).drop("_head", "_mid")


def _identifiers(series: Series, rows: IntArray) -> list[pl.Series]:
    """Episode, client and therapist ids of `rows`, as text.

    An id that never changes within an episode is cast once per episode and looked up by the
    episode's ordinal, which is much cheaper than casting it on every signal row.
    """
    frame = series.frame
    episode = series.episode[rows]
    columns = ("episode_id", "client_id", "therapist_id")
    others = columns[1:]
    changes = frame.select(
        [(pl.col(c) != pl.col(c).shift(1)).fill_null(True).alias(c) for c in others]
    )
    inside = np.ones(frame.height, dtype=np.bool_)
    inside[series.episode_starts] = False
    out: list[pl.Series] = []
    for column in columns:
        # Episode ids are constant within an episode by construction.
        constant = column == "episode_id" or not bool((changes[column].to_numpy() & inside).any())
        if constant:
            per_episode = frame[column].gather(series.episode_starts).cast(pl.String)
            out.append(per_episode.gather(episode).alias(column))
        else:
            out.append(frame[column].gather(rows).cast(pl.String).alias(column))
    return out


_Keys = tuple[IntArray, IntArray, IntArray]


def _sort_keys(block: pl.DataFrame) -> _Keys:
    """(rank, episode ordinal, session) of each row; an unknown episode sorts first."""
    return (
        block["_rank"].to_numpy(),
        block["_ep"].fill_null(-1).to_numpy(),
        block["session"].to_numpy(),
    )


def _composite(keys: _Keys, low: int, high: int, n_ep: int) -> IntArray | None:
    """One integer per row ordered as (rank, episode, session); None if it would overflow."""
    rank, episode, session = keys
    span = high - low + 1
    if len(SEVERITY_ORDER) * (n_ep + 1) * span >= 2**62:
        return None
    return (rank * (n_ep + 1) + (episode + 1)) * span + (session - low)


def _bounds(*all_keys: _Keys) -> tuple[int, int, int]:
    sessions = [k[2] for k in all_keys if k[2].size]
    episodes = [k[1] for k in all_keys if k[1].size]
    return (
        min(int(s.min()) for s in sessions),
        max(int(s.max()) for s in sessions),
        max(int(e.max()) for e in episodes) + 1,
    )


def _stable_order(rank: IntArray, episode: IntArray, session: IntArray) -> IntArray:
    """Row order by (rank, episode, session), ties in their current order."""
    keys = (rank, episode, session)
    if rank.size == 0:
        return np.zeros(0, dtype=np.int64)
    composite = _composite(keys, *_bounds(keys))
    if composite is not None:
        # One integer key: a single stable sort instead of three.
        return np.argsort(composite, kind="stable")
    return np.lexsort((session, episode, rank))


def _merge_order(first: _Keys, second: _Keys) -> IntArray:
    """Order of the rows of two blocks, each already sorted, placed one after the other.

    On equal keys rows of the first block come first, as a stable sort of the two would give.
    """
    n, m = first[0].size, second[0].size
    bounds = _bounds(first, second)
    a, b = _composite(first, *bounds), _composite(second, *bounds)
    if a is None or b is None:
        return np.lexsort(
            tuple(np.concatenate([x, y]) for x, y in zip(first, second, strict=True))[::-1]
        )
    # Each row of the second block goes after every row of the first with a key not above its.
    at = np.searchsorted(a, b, side="right") + np.arange(m)
    order = np.empty(n + m, dtype=np.int64)
    taken = np.zeros(n + m, dtype=np.bool_)
    taken[at] = True
    order[at] = np.arange(n, n + m)
    order[~taken] = np.arange(n)
    return order


def _latest(block: pl.DataFrame, series: Series) -> pl.DataFrame:
    """Only the rows of an episode's last session."""
    if block.height == 0:
        return block
    last = pl.DataFrame(
        {
            "_ep": np.arange(series.n_episodes, dtype=np.int64),
            "_last": np.maximum.reduceat(series.session, series.episode_starts)
            if series.total.size
            else np.zeros(0, dtype=np.int64),
        }
    )
    return (
        block.join(last, on="_ep", how="inner", maintain_order="left")
        .filter(pl.col("session") == pl.col("_last"))
        .drop("_last")
    )


def _risk(series: Series) -> _Part:
    rows = np.flatnonzero(series.frame["risk"].to_numpy())
    return _part(
        series,
        rows,
        kind="risk_item",
        rule="risk_item",
        severity="critical",
        reference=np.full(rows.size, np.nan),
        detail="A risk item was endorsed; it is shown whatever the total",
        source="Instrument definition (risk item, e.g. PHQ-9 item 9, CORE-10 item 6)",
    )


def _deterioration(series: Series, outcomes: OutcomeRows) -> _Part:
    rows = np.flatnonzero(outcomes.deteriorated)
    return _part(
        series,
        rows,
        kind="reliable_deterioration",
        rule="reliable_change",
        severity="high",
        reference=outcomes.intake[rows],
        detail=lambda code: (
            f"Worse than intake by at least the reliable change for {series.instruments[code]}"
        ),
        source="Jacobson & Truax 1991 (minimum reliable difference from the instrument)",
    )


def _not_on_track(
    series: Series, outcomes: OutcomeRows, models: Mapping[str, EtrModel]
) -> list[_Part]:
    by_model = np.flatnonzero(outcomes.not_on_track & outcomes.by_model)
    fallback = np.flatnonzero(outcomes.not_on_track & ~outcomes.by_model)
    modelled = _part(
        series,
        by_model,
        kind="not_on_track",
        rule="etr",
        severity="high",
        reference=outcomes.expected[by_model],
        detail=lambda n: f"Outside the expected-response band (model learned from {n} episodes)",
        label_by=outcomes.model_episodes,
        source="Finch, Lambert & Schaalje 2001 (expected treatment response)",
    )
    fell_back = _part(
        series,
        fallback,
        kind="not_on_track",
        rule="fallback",
        severity="medium",
        reference=outcomes.intake[fallback],
        detail=lambda n: (
            f"No reliable improvement after {FALLBACK_AFTER} ratings; fallback to reliable change "
            f"because the expected-response model learned from {n} episodes "
            f"(fewer than {MIN_EPISODES})"
        ),
        label_by=outcomes.model_episodes,
        source="Jacobson & Truax 1991 (fallback when no usable expected-response model)",
    )
    return [modelled, fell_back]


def _alliance(series: Series) -> list[_Part]:
    facts = [measure_facts(i) for i in series.instruments]
    alliance = np.array([f.kind == "alliance" for f in facts], dtype=np.bool_)
    # Only alliance series are read, as compact arrays.
    sub = series.subset(alliance[series.series_codes] if series.n_series else alliance[:0])
    x = sub.total
    n = x.size
    cutoff = np.array(
        [(f.cutoff if f.cutoff is not None and f.clinical_below else np.nan) for f in facts]
        + [np.nan]
    )[sub.codes]
    srs_like = ~np.isnan(cutoff)
    previous = sub.previous()
    position = sub.position()
    # The lowest rating before each session: the running minimum, shifted by one row.
    prior_min = np.full(n, np.nan)
    if n:
        prior_min[1:] = _running_min(x, position)[:-1]
        prior_min[sub.starts] = np.nan
    with np.errstate(invalid="ignore"):
        low = srs_like & (x < cutoff)
        lowest = ~low & (position >= 2) & (x < prior_min)
        # OpenFIT red flag: SRS down 1 point or more from the previous session.
        drop = srs_like & (previous - x >= 1.0)
    low_at, lowest_at, drop_at = np.flatnonzero(low), np.flatnonzero(lowest), np.flatnonzero(drop)
    return [
        _part(
            series,
            sub.rows[low_at],
            kind="alliance_low",
            rule="below_cutoff",
            severity="medium",
            reference=cutoff[low_at],
            detail=lambda code: f"{series.instruments[code]} total below its cutoff",
            source="OpenFIT; Duncan et al. 2003 (SRS below 36: discuss now)",
        ),
        _part(
            series,
            sub.rows[lowest_at],
            kind="alliance_low",
            rule="lowest_so_far",
            severity="low",
            reference=prior_min[lowest_at],
            detail=lambda code: f"The client's lowest {series.instruments[code]} rating so far",
            source="Alert rule: an alliance measure at the client's lowest so far",
        ),
        _part(
            series,
            sub.rows[drop_at],
            kind="alliance_drop",
            rule="drop_1_point",
            severity="medium",
            reference=previous[drop_at],
            detail=lambda code: (
                f"{series.instruments[code]} fell 1 point or more from the previous session"
            ),
            source="OpenFIT red flag (SRS drop of 1 point or more)",
        ),
    ]


def _running_min(x: FloatArray, position: IntArray) -> FloatArray:
    """Minimum of each series up to and including each row, exactly.

    A doubling scan: after the pass with step d every row holds the minimum of the last 2·d rows
    of its series, so log2(longest series) passes suffice.
    """
    out = x.copy()
    step = 1
    longest = int(position.max()) + 1 if position.size else 0
    while step < longest:
        shifted = out.copy()
        np.minimum(out[step:], out[:-step], out=shifted[step:], where=position[step:] >= step)
        out = shifted
        step *= 2
    return out


def _ruptures(ruptures: pl.DataFrame, config: RuptureConfig, series: Series) -> list[pl.DataFrame]:
    if ruptures.height == 0:
        return [_empty()]
    # Episodes are contiguous and distinct once the frame is sorted: one row per episode.
    ordinals = pl.DataFrame(
        {
            "episode_id": series.frame["episode_id"].gather(series.episode_starts),
            "_ep": np.arange(series.n_episodes, dtype=np.int64),
        }
    )
    base = ruptures.join(ordinals, on="episode_id", how="left", maintain_order="left")
    base = base.with_columns(
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
        pl.when(pl.col("repaired"))
        .then(pl.lit(_RANK["medium"]))
        .otherwise(pl.lit(_RANK["high"]))
        .alias("_rank"),
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
        pl.lit(_RANK["info"]).alias("_rank"),
    )
    return [rupture.cast(_BLOCK_SCHEMA), repair.cast(_BLOCK_SCHEMA)]  # type: ignore[arg-type]


def _rupture_source(config: RuptureConfig) -> str:
    if config.rule == "sd":
        return (
            f"{config.name}: {config.k:g} SD ({config.sd_source}) below the {config.reference} "
            "reference; an approximation of Stiles et al. 2004 / Strauss et al. 2006"
        )
    if config.rule == "drop":
        return f"{config.name}: a drop of {config.drop_points:g} points (OpenFIT)"
    return f"{config.name}: below the measure's cutoff (OpenFIT)"
