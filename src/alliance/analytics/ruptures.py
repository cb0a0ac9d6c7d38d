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
    Subset,
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
    # Only the chosen series are read: compact arrays halve the work on a two-measure frame.
    sub = series.subset(series.series_of(chosen))
    scores = sub.total
    reference, margin = _reference_and_margin(series, sub, config)
    drop = reference - scores
    with np.errstate(invalid="ignore"):
        if config.rule == "cutoff":
            flagged = drop > 0
        else:
            margin -= 1e-9
            flagged = (drop > 0) & (drop >= margin)
    flagged &= ~np.isnan(drop)
    return _runs_to_frame(series, sub, config, flagged, reference, drop)


def _alliance_instruments(series: Series, config: RuptureConfig) -> set[str]:
    present = [i for i in series.instruments if measure_facts(i).kind == "alliance"]
    if config.instruments is not None:
        present = [i for i in present if i in config.instruments]
    if config.rule == "cutoff":
        present = [i for i in present if measure_facts(i).cutoff is not None]
    return set(present)


def _reference_and_margin(
    series: Series, sub: Subset, config: RuptureConfig
) -> tuple[FloatArray, FloatArray]:
    n_rows = sub.total.size
    if config.rule == "cutoff":
        cutoffs = np.array(
            [measure_facts(i).cutoff or np.nan for i in series.instruments], dtype=np.float64
        )
        reference = cutoffs[sub.codes] if n_rows else np.zeros(0)
        return reference, np.zeros(n_rows)
    if config.rule == "drop":
        return sub.previous(), np.full(n_rows, config.drop_points)
    others_mean, sd = _leave_one_out(sub)
    reference = others_mean if config.reference == "others_mean" else sub.previous()
    if config.sd_source != "client":
        sample = _sample_sd(series, sub, config)
        if config.sd_source == "sample":
            sd = sample
        else:
            np.fmax(sd, sample, out=sd)
    # np.maximum keeps NaN: with no SD there is no rule to apply, whatever the floor.
    sd *= config.k
    np.maximum(sd, config.min_drop, out=sd)
    return reference, sd


def _leave_one_out(sub: Subset) -> tuple[FloatArray, FloatArray]:
    """Mean and SD (n − 1 denominator) of each series' other sessions, for every row.

    Written with in-place steps to keep few row-length temporaries alive at once.
    """
    x = sub.total
    if x.size == 0:
        return np.zeros(0), np.zeros(0)
    # Centre on the series mean first so the sums of squares do not cancel catastrophically.
    mean = sub.per_row(np.add.reduceat(x, sub.starts) / sub.lengths)
    y = x - mean
    y_squared = y * y
    others = sub.per_row(sub.lengths.astype(np.float64) - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # Mean of the others (centred): (Σy − y) / (n − 1).
        others_mean = sub.per_row(np.add.reduceat(y, sub.starts))
        others_mean -= y
        others_mean /= others
        others_mean[others < 1] = np.nan
        # Their sum of squares about their own mean: Σy² − y² − (n − 1)·mean².
        ss = sub.per_row(np.add.reduceat(y_squared, sub.starts))
        ss -= y_squared
        y_squared = others * others_mean  # reuse the name: (n − 1)·mean, then ·mean
        y_squared *= others_mean
        ss -= y_squared
        np.maximum(ss, 0.0, out=ss)
        others -= 1.0
        ss /= others
        ss[others < 1] = np.nan
    np.sqrt(ss, out=ss)
    others_mean += mean
    return others_mean, ss


def _sample_sd(series: Series, sub: Subset, config: RuptureConfig) -> FloatArray:
    """The SD of all ratings of each measure in the frame (or the configured published SD)."""
    per_code = np.full(len(series.instruments), np.nan)
    single = sub.lengths.size > 0 and bool((sub.codes == sub.codes[0]).all())
    for code, instrument in enumerate(series.instruments):
        if instrument in config.sample_sd:
            per_code[code] = config.sample_sd[instrument]
            continue
        if single:
            values = sub.total if code == sub.codes[0] else sub.total[:0]
        else:
            values = sub.total[sub.codes == code]
        if values.size >= 2:
            per_code[code] = float(np.std(values, ddof=1))
    return per_code[sub.codes] if sub.total.size else np.zeros(0)


def _runs_to_frame(
    series: Series,
    sub: Subset,
    config: RuptureConfig,
    flagged: BoolArray,
    reference: FloatArray,
    drop: FloatArray,
) -> pl.DataFrame:
    n = flagged.size
    ends = sub.ends
    # A run starts at a flagged row whose predecessor in the same series is not flagged, and
    # ends at one whose successor in the same series is not flagged.
    before = np.zeros(n, dtype=np.bool_)
    after = np.zeros(n, dtype=np.bool_)
    if n:
        before[1:] = flagged[:-1]
        before[sub.starts] = False
        after[:-1] = flagged[1:]
        after[ends] = False
    start_idx: IntArray = np.flatnonzero(flagged & ~before)
    end_idx: IntArray = np.flatnonzero(flagged & ~after)
    x = sub.total
    # Depth and lowest score per run, reduced over the flagged rows in order.
    flagged_idx = np.flatnonzero(flagged)
    run_offsets = np.searchsorted(flagged_idx, start_idx)
    if flagged_idx.size:
        depth = np.maximum.reduceat(drop[flagged_idx], run_offsets)
        lowest = np.minimum.reduceat(x[flagged_idx], run_offsets)
    else:
        depth = lowest = np.zeros(0)
    series_of_run = np.searchsorted(sub.starts, start_idx, side="right") - 1
    has_before = start_idx > sub.starts[series_of_run] if n else np.zeros(0, dtype=np.bool_)
    pre_level = np.where(has_before, x[np.maximum(start_idx - 1, 0)], reference[start_idx])
    last_of_series = ends[series_of_run] if n else np.zeros(0, dtype=np.int64)
    repair_idx = np.full(start_idx.size, -1, dtype=np.int64)
    for step in range(1, config.repair_window + 1):
        candidate = end_idx + step
        same_series = candidate <= last_of_series
        safe = np.where(same_series, candidate, 0)
        back = same_series & (x[safe] >= pre_level) & (repair_idx < 0)
        repair_idx = np.where(back, safe, repair_idx)
    repaired = repair_idx >= 0
    start_rows = sub.rows[start_idx]
    picked = series.frame.select("episode_id", "client_id", "therapist_id", "instrument")[
        pl.Series(start_rows)
    ]
    out: pl.DataFrame = picked.with_columns(
        pl.lit(config.name).alias("rule"),
        pl.Series("start_session", series.session[start_rows], dtype=pl.Int64),
        pl.Series("end_session", series.session[sub.rows[end_idx]], dtype=pl.Int64),
        pl.Series("reference", reference[start_idx], dtype=pl.Float64),
        pl.Series("pre_level", pre_level, dtype=pl.Float64),
        pl.Series("lowest", lowest, dtype=pl.Float64),
        pl.Series("depth", depth, dtype=pl.Float64),
        pl.Series("repaired", repaired, dtype=pl.Boolean),
        pl.Series(
            "repair_session",
            np.where(repaired, series.session[sub.rows[np.maximum(repair_idx, 0)]], 0),
            dtype=pl.Int64,
        ),
    ).with_columns(pl.when(pl.col("repaired")).then(pl.col("repair_session")).otherwise(None))
    return out
