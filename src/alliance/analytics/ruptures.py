"""Ruptures and repairs detected from session alliance scores, for every series at once.

A rupture is a breakdown of an *established* alliance (Safran & Muran 2000; the 3RS manual,
Eubanks, Muran & Safran 2015), so every rule here reads only the client's own earlier ratings:

* no rupture before `min_prior` (2) earlier ratings: a low first score is the starting alliance
  (the signals flag it low), not a rupture;
* the client's **established level** before a session is the mean of their earlier ratings;
* each rule's threshold comes from the client's own earlier ratings, or from a fixed SD per
  measure given in the config — never from who else is in the data, so a client's ruptures are
  the same alone and inside any file.

Rules (the published session-score rules are ad hoc, so the detector is configurable; every
preset is an approximation, see docs/analytics.md):

* **sd** — a rating at least k·SD below the reference, where the reference is the established
  level (`prior_mean`) or the previous rating (`previous`) and the SD is that of the client's
  earlier ratings (`client`) or a fixed published SD (`fixed`); never less than `min_drop`.
* **drop** — a fall of at least `drop_points` from the previous rating (OpenFIT's SRS red flag).
* **cutoff** — a rating below the measure's cutoff when the established level was at or above it.

A rupture lasts until the client is back within reach of the established level: within the
measure's reliable change of it, or within `min_drop` where no reliable change is published.
Back within `repair_window` ratings of the start is a **repair** (the V of Safran & Muran's
resolution model); not back by then is an **unrepaired** rupture (a sustained fall), which stays
open until the client is back, if ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
SdSource = Literal["client", "fixed"]
Reference = Literal["prior_mean", "previous"]

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
    "tolerance",
    "returned_session",
    "open",
    "ratings",
)
# How many earlier ratings the evidence quotes before a rupture.
_QUOTED_BEFORE = 3


@dataclass(frozen=True)
class RuptureConfig:
    """How a rupture is recognised; see the module docstring and `PRESETS`."""

    name: str = "custom"
    rule: Rule = "sd"
    k: float = 2.0
    sd_source: SdSource = "client"
    reference: Reference = "prior_mean"
    repair_window: int = 3
    drop_points: float = 1.0
    # The smallest fall counted, and the reach of a repair where the measure publishes no
    # reliable change. A house rule: no published reliable change for the SRS was found, and
    # OpenFIT's 1-point drop fires on session-to-session noise (DOMAIN §4); 2 points is 5% of
    # the SRS range.
    min_drop: float = 2.0
    # Earlier ratings needed before a rupture can be called: an established alliance.
    min_prior: int = 2
    # Alliance measures the rule applies to; None means every alliance measure in the frame.
    instruments: tuple[str, ...] | None = None
    # A published SD per measure, for sd_source="fixed".
    fixed_sd: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in ("sd", "drop", "cutoff"):
            raise ValueError(f"rule: {self.rule!r} is not one of sd, drop, cutoff")
        if self.sd_source not in ("client", "fixed"):
            raise ValueError(
                f"sd_source: {self.sd_source!r} is not one of client, fixed (an SD pooled over "
                "other clients would make one client's ruptures depend on who else is in the data)"
            )
        if self.reference not in ("prior_mean", "previous"):
            raise ValueError(f"reference: {self.reference!r} is not one of prior_mean, previous")
        if not self.k > 0:
            raise ValueError(f"k: {self.k} must be above 0")
        if self.repair_window < 1:
            raise ValueError(f"repair_window: {self.repair_window} must be 1 or more")
        if not self.drop_points > 0:
            raise ValueError(f"drop_points: {self.drop_points} must be above 0")
        if self.min_drop < 0:
            raise ValueError(f"min_drop: {self.min_drop} must be 0 or more")
        if self.min_prior < 1:
            raise ValueError(f"min_prior: {self.min_prior} must be 1 or more")
        for instrument, sd in self.fixed_sd.items():
            if not sd > 0:
                raise ValueError(f"fixed_sd: {instrument} {sd} must be above 0")

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

    def describe(self) -> str:
        """The rule in words, for the evidence of every rupture signal."""
        floor = f"at least {self.min_drop:g} points"
        if self.rule == "sd":
            sd = "their earlier ratings" if self.sd_source == "client" else "a fixed published SD"
            ref = (
                "the mean of the client's earlier ratings"
                if self.reference == "prior_mean"
                else "the previous rating"
            )
            text = f"{self.k:g} SD (of {sd}) below {ref}, {floor}"
        elif self.rule == "drop":
            text = f"a fall of {self.drop_points:g} points or more from the previous rating"
        else:
            text = "below the measure's cutoff after an established level at or above it"
        return f"{self.name}: {text}, after {self.min_prior} or more earlier ratings"


PRESETS: dict[str, RuptureConfig] = {
    # Approximates Stiles et al. (2004): a session at least 2 SD below the client's mean, the SD
    # being the client's own. Here the mean and SD are of the earlier ratings only, so a rupture
    # found today does not change when later sessions come in.
    "stiles-like": RuptureConfig(name="stiles-like", rule="sd", k=2.0, reference="prior_mean"),
    # Approximates Strauss et al. (2006): a fall of at least 1 SD from the previous session.
    "strauss-like": RuptureConfig(name="strauss-like", rule="sd", k=1.0, reference="previous"),
    # OpenFIT's SRS rules: a total below the cutoff (36), and a drop of 1 point or more.
    "openfit-low": RuptureConfig(name="openfit-low", rule="cutoff", instruments=("srs",)),
    "openfit-drop": RuptureConfig(
        name="openfit-drop", rule="drop", drop_points=1.0, instruments=("srs",)
    ),
}


@dataclass(frozen=True)
class PriorStats:
    """Per compact alliance row: how many earlier ratings, their mean and SD (n − 1)."""

    count: IntArray
    mean: FloatArray
    sd: FloatArray


def prior_stats(
    sub: Subset, sd_where: Callable[[FloatArray], BoolArray] | None = None
) -> PriorStats:
    """Mean and SD of each row's earlier ratings in its series, from running sums.

    `sd_where(mean)` picks the rows whose SD is needed (NaN elsewhere); all rows when None.
    """
    x = sub.total
    count = sub.position()
    if x.size == 0:
        return PriorStats(count, np.zeros(0), np.zeros(0))
    # Centre each series on its first rating so the running sums of squares do not cancel;
    # the centred first rating is 0, so the sum before a series is the running sum at its start.
    centre = sub.per_row(x[sub.starts])
    y = x - centre
    s1 = np.cumsum(y)
    e1 = s1 - y
    e1 -= sub.per_row(s1[sub.starts])
    n = count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = e1 / n
    mean[count < 1] = np.nan
    wanted = count >= 2
    if sd_where is not None:
        wanted &= sd_where(mean + centre)
    at = np.flatnonzero(wanted)
    squares = y * y
    s2 = np.cumsum(squares)
    first = sub.starts[np.searchsorted(sub.starts, at, side="right") - 1]
    e2 = s2[at] - squares[at] - (s2[first] - squares[first])
    var = np.maximum((e2 - n[at] * mean[at] ** 2) / (n[at] - 1.0), 0.0)
    sd = np.full(x.size, np.nan)
    sd[at] = np.sqrt(var)
    return PriorStats(count, mean + centre, sd)


def repair_tolerance(instrument: str, config: RuptureConfig) -> float:
    """How far below the established level still counts as back: reliable change, or min_drop."""
    rc = measure_facts(instrument).reliable_change
    return float(rc) if rc is not None else config.min_drop


def alliance_instruments(series: Series, config: RuptureConfig) -> set[str]:
    """The alliance measures in the frame the rule applies to."""
    present = [i for i in series.instruments if measure_facts(i).kind == "alliance"]
    if config.instruments is not None:
        present = [i for i in present if i in config.instruments]
    if config.rule == "cutoff":
        present = [i for i in present if measure_facts(i).cutoff is not None]
    return set(present)


def detect_ruptures(
    frame: pl.DataFrame | Series, config: RuptureConfig | None = None
) -> pl.DataFrame:
    """Every rupture in the alliance series of `frame`: start, depth, repaired, repair session."""
    config = config or PRESETS["stiles-like"]
    series = frame if isinstance(frame, Series) else cut_series(frame)
    sub = series.subset(series.series_of(alliance_instruments(series, config)))
    stats = prior_stats(sub, _may_pass_the_floor(sub, config))
    reference, margin = _reference_and_margin(series, sub, config, stats)
    x = sub.total
    with np.errstate(invalid="ignore"):
        fall = reference - x
        # A fall must be one: running sums leave ~1e-15 where the ratings are equal.
        if config.rule == "cutoff":
            flagged = (fall > 1e-9) & (stats.mean >= reference - 1e-9)
        else:
            flagged = (fall > 1e-9) & (fall >= margin - 1e-9)
    flagged &= (stats.count >= config.min_prior) & ~np.isnan(fall)
    return _spans(series, sub, config, stats, np.flatnonzero(flagged), reference)


def _may_pass_the_floor(
    sub: Subset, config: RuptureConfig
) -> Callable[[FloatArray], BoolArray] | None:
    """The rows whose SD the sd rule needs: those at least `min_drop` below the reference (no
    other row can pass the threshold, which is never below it)."""
    if config.rule != "sd" or config.sd_source != "client":
        return None
    x = sub.total

    def falls(mean: FloatArray) -> BoolArray:
        reference = mean if config.reference == "prior_mean" else sub.previous()
        with np.errstate(invalid="ignore"):
            return np.asarray(reference - x >= config.min_drop - 1e-6)

    return falls


def _reference_and_margin(
    series: Series, sub: Subset, config: RuptureConfig, stats: PriorStats
) -> tuple[FloatArray, FloatArray]:
    n = sub.total.size
    if config.rule == "cutoff":
        cutoffs = np.array(
            [measure_facts(i).cutoff or np.nan for i in series.instruments], dtype=np.float64
        )
        return (cutoffs[sub.codes] if n else np.zeros(0)), np.zeros(n)
    if config.rule == "drop":
        return sub.previous(), np.full(n, config.drop_points)
    if config.sd_source == "fixed":
        missing = [
            series.instruments[c]
            for c in np.unique(sub.codes)
            if series.instruments[c] not in config.fixed_sd
        ]
        if missing:
            raise ValueError(f"fixed_sd: no SD given for {', '.join(missing)}")
        per_code = np.array([config.fixed_sd.get(i, np.nan) for i in series.instruments])
        sd = per_code[sub.codes] if n else np.zeros(0)
    else:
        sd = stats.sd.copy()
    reference = stats.mean if config.reference == "prior_mean" else sub.previous()
    # fmax: with no SD (a single earlier rating) the floor alone applies.
    return reference, np.fmax(config.k * sd, config.min_drop)


# Long by design: the rupture rule (onset, lowest point, return, repair window) is one pass
# over the candidate sessions; its steps share the same index arrays.
def _spans(
    series: Series,
    sub: Subset,
    config: RuptureConfig,
    stats: PriorStats,
    candidates: IntArray,
    reference: FloatArray,
) -> pl.DataFrame:
    """Turn flagged rows into ruptures: each lasts until the client is back within reach.

    Every candidate's span is worked out as if it began a rupture; a candidate inside the span
    of the rupture before it in the same series belongs to that rupture.
    """
    x = sub.total
    series_of = np.searchsorted(sub.starts, candidates, side="right") - 1
    last = sub.ends[series_of] if candidates.size else np.zeros(0, dtype=np.int64)
    tolerance_by_code = np.array(
        [repair_tolerance(i, config) for i in series.instruments] or [0.0], dtype=np.float64
    )
    pre = stats.mean[candidates]
    tolerance = tolerance_by_code[sub.codes[candidates]] if candidates.size else np.zeros(0)
    back_at = pre - tolerance - 1e-9
    # The first later rating back within reach: inside the repair window, or after it.
    back = np.full(candidates.size, -1, dtype=np.int64)
    longest = int(sub.lengths.max()) if sub.lengths.size else 0
    for step in range(1, longest):
        at = candidates + step
        inside = (at <= last) & (back < 0)
        if not inside.any():
            break
        safe = np.where(inside, at, 0)
        back = np.where(inside & (x[safe] >= back_at), safe, back)
    repaired = (back >= 0) & (back - candidates <= config.repair_window)
    end = np.where(back >= 0, back - 1, last)
    keep = _first_of_each_span(series_of.tolist(), candidates.tolist(), end.tolist())
    candidates, series_of, end, back = candidates[keep], series_of[keep], end[keep], back[keep]
    repaired, pre, tolerance = repaired[keep], pre[keep], tolerance[keep]
    # The lowest rating of each span [start, end]: spans do not overlap, so one reduceat over
    # (start, end + 1) pairs, with a sentinel past the last row.
    if candidates.size:
        bounds = np.column_stack([candidates, end + 1]).reshape(-1)
        lowest = np.minimum.reduceat(np.append(x, np.inf), bounds)[::2]
    else:
        lowest = np.zeros(0)
    rows = sub.rows
    session = series.session
    start_rows = rows[candidates]
    picked = series.frame.select("episode_id", "client_id", "therapist_id", "instrument")[
        pl.Series(start_rows, dtype=pl.Int64)
    ]
    back_session = session[rows[np.maximum(back, 0)]] if back.size else np.zeros(0, np.int64)
    out: pl.DataFrame = picked.with_columns(
        pl.lit(config.name).alias("rule"),
        pl.Series("start_session", session[start_rows], dtype=pl.Int64),
        pl.Series("end_session", session[rows[end]] if end.size else [], dtype=pl.Int64),
        pl.Series("reference", reference[candidates], dtype=pl.Float64),
        pl.Series("pre_level", pre, dtype=pl.Float64),
        pl.Series("lowest", lowest, dtype=pl.Float64),
        pl.Series("depth", pre - lowest, dtype=pl.Float64),
        pl.Series("repaired", repaired, dtype=pl.Boolean),
        pl.Series("repair_session", np.where(repaired, back_session, 0), dtype=pl.Int64),
        pl.Series("tolerance", tolerance, dtype=pl.Float64),
        pl.Series("returned_session", np.where(back >= 0, back_session, 0), dtype=pl.Int64),
        pl.Series("open", back < 0, dtype=pl.Boolean),
        pl.Series("ratings", _quoted(sub, candidates, end, back), dtype=pl.String),
    ).with_columns(
        pl.when(pl.col("repaired")).then(pl.col("repair_session")).otherwise(None),
        pl.when(pl.col("returned_session") > 0).then(pl.col("returned_session")).otherwise(None),
    )
    return out


def _first_of_each_span(series_of: list[int], starts: list[int], ends: list[int]) -> BoolArray:
    """Which candidates begin a rupture (the others fall inside the one before them)."""
    keep = np.zeros(len(starts), dtype=np.bool_)
    current_series, current_end = -1, -1
    for i, (s, start, end) in enumerate(zip(series_of, starts, ends, strict=True)):
        if s == current_series and start <= current_end:
            continue
        keep[i] = True
        current_series, current_end = s, end
    return keep


def _quoted(sub: Subset, starts: IntArray, ends: IntArray, back: IntArray) -> list[str]:
    """The client's own ratings around each rupture, e.g. "38, 38.5 | 27 | 38".

    Before the rupture (up to three ratings) | during it | the rating that came back, if any;
    built for all ruptures at once.
    """
    if starts.size == 0:
        return []
    x = sub.total
    first = sub.starts[np.searchsorted(sub.starts, starts, side="right") - 1]
    before_from = np.maximum(first, starts - _QUOTED_BEFORE)
    pieces = [
        (0, before_from, starts - before_from),
        (1, starts, ends - starts + 1),
        (2, np.maximum(back, 0), (back >= 0).astype(np.int64)),
    ]
    owner, part, at = [], [], []
    for code, begin, count in pieces:
        owner.append(np.repeat(np.arange(starts.size), count))
        part.append(np.full(int(count.sum()), code))
        at.append(np.repeat(begin - np.cumsum(count) + count, count) + np.arange(int(count.sum())))
    values = pl.DataFrame(
        {
            "owner": np.concatenate(owner),
            "part": np.concatenate(part),
            "value": x[np.concatenate(at)],
        }
    )
    text = pl.col("value").round(1).cast(pl.String).str.replace(r"\.0$", "")
    joined = (
        values.with_columns(text.alias("text"))
        .group_by("owner", "part", maintain_order=True)
        .agg(pl.col("text").str.join(", "))
        .pivot(on="part", index="owner", values="text")
    )
    full = pl.DataFrame({"owner": np.arange(starts.size)}).join(joined, on="owner", how="left")
    cols = {
        c: full[c] if c in full.columns else pl.Series([None] * starts.size, dtype=pl.String)
        for c in ("0", "1", "2")
    }
    before = cols["0"].fill_null("")
    during = cols["1"].fill_null("")
    came_back = cols["2"]
    out = (before + " | " + during).to_list()
    return [t if b is None else f"{t} | {b}" for t, b in zip(out, came_back.to_list(), strict=True)]


def _num(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
