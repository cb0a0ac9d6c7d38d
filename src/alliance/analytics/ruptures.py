"""Ruptures and repairs detected from session alliance scores, for every series at once.

The published session-score rules are ad hoc, so the detector is configurable:

* **sd** — a session whose score falls below a reference by at least k·SD. Reference: the mean of
  the client's other sessions, or the previous session. SD: the client's other sessions, the
  sample's ratings of that measure, or the stricter (larger) of the two, which a 2012 comparison
  of rupture-detection methods recommends (BMC Med Res Methodol 12:10).
* **drop** — a fall of at least `drop_points` from the previous session (OpenFIT's SRS red flag:
  a drop of 1 point or more).
* **cutoff** — a total below the measure's cutoff (OpenFIT: SRS below 36).

Consecutive flagged sessions make one rupture (declines can last several sessions). A **repair** is
a return to at least the pre-rupture level (the score before the rupture began; the reference when
the rupture begins at the first rating) within `repair_window` sessions after its last flagged one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import polars as pl

from alliance.analytics.frame import (
    BoolArray,
    FloatArray,
    IntArray,
    Series,
    cut_series,
    measure_facts,
)

Rule = Literal["sd", "drop", "cutoff"]
SdSource = Literal["client", "sample", "stricter"]
Reference = Literal["others_mean", "previous"]

RUPTURE_COLUMNS = (
    "episode_id",
    "client_id",
    "therapist_id",
    "instrument",
    "rule",
    "start_session",
    "end_session",
    "reference",
    "pre_level",
    "lowest",
    "depth",
    "repaired",
    "repair_session",
)


@dataclass(frozen=True)
class RuptureConfig:
    """How a rupture is recognised; see the module docstring and `PRESETS`."""

    name: str = "custom"
    rule: Rule = "sd"
    k: float = 2.0
    sd_source: SdSource = "stricter"
    reference: Reference = "others_mean"
    repair_window: int = 3
    drop_points: float = 1.0
    # The smallest fall counted by the sd rule. With a very steady client (or a small sample) k·SD
    # can be a fraction of a point; OpenFIT treats 1 SRS point as the smallest meaningful drop.
    min_drop: float = 1.0
    # Alliance measures the rule applies to; None means every alliance measure in the frame.
    instruments: tuple[str, ...] | None = None
    # A published SD per measure to use as "the sample" instead of the frame's own ratings.
    sample_sd: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in ("sd", "drop", "cutoff"):
            raise ValueError(f"rule: {self.rule!r} is not one of sd, drop, cutoff")
        if self.sd_source not in ("client", "sample", "stricter"):
            raise ValueError(
                f"sd_source: {self.sd_source!r} is not one of client, sample, stricter"
            )
        if self.reference not in ("others_mean", "previous"):
            raise ValueError(f"reference: {self.reference!r} is not one of others_mean, previous")
        if not self.k > 0:
            raise ValueError(f"k: {self.k} must be above 0")
        if self.repair_window < 1:
            raise ValueError(f"repair_window: {self.repair_window} must be 1 or more")
        if not self.drop_points > 0:
            raise ValueError(f"drop_points: {self.drop_points} must be above 0")
        if self.min_drop < 0:
            raise ValueError(f"min_drop: {self.min_drop} must be 0 or more")

    @classmethod
    def preset(cls, name: str, **changes: object) -> RuptureConfig:
        """A named preset, optionally with some fields changed."""
        try:
            base = PRESETS[name]
        except KeyError:
            raise ValueError(
                f"rupture preset {name!r} is unknown; choose one of {', '.join(PRESETS)}"
            ) from None
        return replace(base, **changes) if changes else base  # type: ignore[arg-type]


PRESETS: dict[str, RuptureConfig] = {
    # Approximates Stiles et al. (2004): a session ≥ 2 SD below the mean of the client's other
    # sessions. Stiles used the client's own SD; the stricter SD is the default here because the
    # 2012 comparison (BMC Med Res Methodol 12:10) found client-only SDs flag noise in stable
    # clients. Pass sd_source="client" for the original.
    "stiles-like": RuptureConfig(
        name="stiles-like", rule="sd", k=2.0, sd_source="stricter", reference="others_mean"
    ),
    # Approximates Strauss et al. (2006): a fall of ≥ 1 SD from the previous session, repaired by a
    # return to the pre-rupture level.
    "strauss-like": RuptureConfig(
        name="strauss-like", rule="sd", k=1.0, sd_source="stricter", reference="previous"
    ),
    # OpenFIT's SRS rules: a total below the cutoff (36), and a drop of 1 point or more.
    "openfit-low": RuptureConfig(name="openfit-low", rule="cutoff", instruments=("srs",)),
    "openfit-drop": RuptureConfig(
        name="openfit-drop", rule="drop", drop_points=1.0, instruments=("srs",)
    ),
}


def detect_ruptures(
    frame: pl.DataFrame | Series, config: RuptureConfig | None = None
) -> pl.DataFrame:
    """Every rupture in the alliance series of `frame`: start, depth, repaired, repair session."""
    config = config or PRESETS["stiles-like"]
    series = frame if isinstance(frame, Series) else cut_series(frame)
    chosen = _alliance_instruments(series, config)
    rows = series.rows_of(chosen)
    scores = series.total
    reference, margin = _reference_and_margin(series, config, rows)
    drop = reference - scores
    with np.errstate(invalid="ignore"):
        if config.rule == "cutoff":
            flagged = rows & (drop > 0)
        else:
            flagged = rows & (drop > 0) & (drop >= margin - 1e-9)
    flagged &= ~np.isnan(drop)
    return _runs_to_frame(series, config, flagged, reference, drop)


def _alliance_instruments(series: Series, config: RuptureConfig) -> set[str]:
    present = [i for i in series.instruments if measure_facts(i).kind == "alliance"]
    if config.instruments is not None:
        present = [i for i in present if i in config.instruments]
    if config.rule == "cutoff":
        present = [i for i in present if measure_facts(i).cutoff is not None]
    return set(present)


def _reference_and_margin(
    series: Series, config: RuptureConfig, rows: BoolArray
) -> tuple[FloatArray, FloatArray]:
    n_rows = series.total.size
    if config.rule == "cutoff":
        cutoffs = np.array(
            [measure_facts(i).cutoff or np.nan for i in series.instruments], dtype=np.float64
        )
        reference = cutoffs[series.instrument_codes] if n_rows else np.zeros(0)
        return reference, np.zeros(n_rows)
    previous = _previous(series)
    if config.rule == "drop":
        return previous, np.full(n_rows, config.drop_points)
    others_mean, others_sd = _leave_one_out(series)
    reference = others_mean if config.reference == "others_mean" else previous
    sample = _sample_sd(series, config, rows)
    if config.sd_source == "client":
        sd = others_sd
    elif config.sd_source == "sample":
        sd = sample
    else:
        sd = np.fmax(others_sd, sample)
    # np.maximum keeps NaN: with no SD there is no rule to apply, whatever the floor.
    return reference, np.maximum(config.k * sd, config.min_drop)


def _previous(series: Series) -> FloatArray:
    previous = np.empty_like(series.total)
    if previous.size:
        previous[1:] = series.total[:-1]
        previous[series.starts] = np.nan
    return previous


def _leave_one_out(series: Series) -> tuple[FloatArray, FloatArray]:
    """Mean and SD (n − 1 denominator) of each series' other sessions, for every row."""
    x = series.total
    if x.size == 0:
        return np.zeros(0), np.zeros(0)
    n = series.per_row(series.lengths).astype(np.float64)
    # Centre on the series mean first so the sums of squares do not cancel catastrophically.
    mean = np.add.reduceat(x, series.starts) / series.lengths
    y = x - series.per_row(mean)
    total = series.per_row(np.add.reduceat(y, series.starts))
    squares = series.per_row(np.add.reduceat(y * y, series.starts))
    with np.errstate(invalid="ignore", divide="ignore"):
        others = n - 1.0
        others_mean_y = np.where(others >= 1, (total - y) / others, np.nan)
        ss = squares - y * y - others * others_mean_y * others_mean_y
        var = np.where(others >= 2, np.maximum(ss, 0.0) / (others - 1.0), np.nan)
    return others_mean_y + series.per_row(mean), np.sqrt(var)


def _sample_sd(series: Series, config: RuptureConfig, rows: BoolArray) -> FloatArray:
    """The SD of all ratings of each measure in the frame (or the configured published SD)."""
    per_code = np.full(len(series.instruments), np.nan)
    for code, instrument in enumerate(series.instruments):
        if instrument in config.sample_sd:
            per_code[code] = config.sample_sd[instrument]
            continue
        values = series.total[rows & (series.instrument_codes == code)]
        if values.size >= 2:
            per_code[code] = float(np.std(values, ddof=1))
    return per_code[series.instrument_codes] if series.total.size else np.zeros(0)


def _runs_to_frame(
    series: Series,
    config: RuptureConfig,
    flagged: BoolArray,
    reference: FloatArray,
    drop: FloatArray,
) -> pl.DataFrame:
    n = flagged.size
    prev_flagged = np.zeros(n, dtype=np.bool_)
    next_flagged = np.zeros(n, dtype=np.bool_)
    if n:
        prev_flagged[1:] = flagged[:-1]
        next_flagged[:-1] = flagged[1:]
    first_row = series.position == 0
    last_row = np.zeros(n, dtype=np.bool_)
    if n:
        last_row[series.starts + series.lengths - 1] = True
    start = flagged & (first_row | ~prev_flagged)
    end = flagged & (last_row | ~next_flagged)
    start_idx: IntArray = np.flatnonzero(start)
    end_idx: IntArray = np.flatnonzero(end)
    x = series.total
    # Depth and lowest score per run, reduced over the flagged rows in order.
    flagged_idx = np.flatnonzero(flagged)
    run_offsets = np.searchsorted(flagged_idx, start_idx)
    if flagged_idx.size:
        depth = np.maximum.reduceat(drop[flagged_idx], run_offsets)
        lowest = np.minimum.reduceat(x[flagged_idx], run_offsets)
    else:
        depth = lowest = np.zeros(0)
    has_before = ~first_row[start_idx]
    pre_level = np.where(has_before, x[np.maximum(start_idx - 1, 0)], reference[start_idx])
    repair_idx = np.full(start_idx.size, -1, dtype=np.int64)
    for step in range(1, config.repair_window + 1):
        candidate = end_idx + step
        inside = candidate < n
        safe = np.where(inside, candidate, 0)
        same_series = inside & (series.series[safe] == series.series[end_idx])
        back = same_series & (x[safe] >= pre_level) & (repair_idx < 0)
        repair_idx = np.where(back, safe, repair_idx)
    repaired = repair_idx >= 0
    picked = series.frame.select("episode_id", "client_id", "therapist_id", "instrument")[
        pl.Series(start_idx)
    ]
    out: pl.DataFrame = picked.with_columns(
        pl.lit(config.name).alias("rule"),
        pl.Series("start_session", series.session[start_idx], dtype=pl.Int64),
        pl.Series("end_session", series.session[end_idx], dtype=pl.Int64),
        pl.Series("reference", reference[start_idx], dtype=pl.Float64),
        pl.Series("pre_level", pre_level, dtype=pl.Float64),
        pl.Series("lowest", lowest, dtype=pl.Float64),
        pl.Series("depth", depth, dtype=pl.Float64),
        pl.Series("repaired", repaired, dtype=pl.Boolean),
        pl.Series(
            "repair_session",
            np.where(repaired, series.session[np.maximum(repair_idx, 0)], 0),
            dtype=pl.Int64,
        ),
    ).with_columns(pl.when(pl.col("repaired")).then(pl.col("repair_session")).otherwise(None))
    return out
