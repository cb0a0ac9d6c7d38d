"""Caseload and clinic figures per therapist (or any grouping) and overall, with intervals.

* Pre–post effect size: mean improvement ÷ SD at intake (standardised mean change), with the
  large-sample variance 2(1 − r)/n + d²/(2n) (Becker 1988), r = the pre–post correlation.
* Proportions (reliable improvement, recovery, reliable deterioration, dropout): Wilson score
  intervals (Wilson 1927; recommended by Newcombe 1998).
* Mean alliance: t interval over ratings; fewer than 50 ratings is flagged as unstable (Mercer
  et al. 2005 found about 50 ratings are needed for a stable practitioner mean on the CARE measure).
* Alliance–outcome correlation (episode mean alliance vs improvement): Pearson r with a Fisher z
  interval (Fisher 1921).
* Recovery, reliable improvement, reliable recovery and reliable deterioration follow NHS Talking
  Therapies. Wherever PHQ-9 and GAD-7 were both collected, the **paired rule**
  (`alliance.instruments.nhs_outcome`; DOMAIN §3): caseness PHQ-9 >= 10 and/or GAD-7 >= 8;
  recovery = at caseness at the first rating, below both thresholds at the last; reliable
  improvement = PHQ-9 down 6 and/or GAD-7 down 4 with neither up by its reliable change;
  reliable deterioration = either up by it; reliable recovery = both. Otherwise the most used
  outcome measure alone (its cutoff and reliable change). `rates_measure` names which.
  Only episodes with at least two ratings count (two or more treatment sessions); recovery
  counts those in the clinical range (at caseness) at intake.
* Every figure names its measure (`effect_size_measure`, `rates_measure`, `alliance_measure`),
  and `MINIMUMS` gives the fewest episodes (or ratings) a figure is shown from; below it the
  pages say "too few (n = 3)" instead of a number (`too_few`).
"""

from __future__ import annotations

from collections import Counter
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from alliance.analytics.frame import (
    BoolArray,
    FloatArray,
    IntArray,
    Series,
    cut_series,
    measure_facts,
)
from alliance.analytics.outcome import OutcomeRows, outcome_rows
from alliance.domain.stages import Stage
from alliance.instruments import load_instrument
from alliance.instruments.change import (
    GAD7_CASENESS,
    GAD7_RELIABLE,
    PHQ9_CASENESS,
    PHQ9_RELIABLE,
)

Z95 = 1.959963984540054
MIN_ALLIANCE_RATINGS = 50
MIN_EPISODES_EFFECT = 20
MIN_EPISODES_CORRELATION = 30
MIN_EPISODES_RATE = 10
ALL = "(all)"
PAIRED = ("phq9", "gad7")
PAIRED_RULE = "PHQ-9 and GAD-7, NHS Talking Therapies paired rule"
# The fewest episodes (ratings, for the mean alliance) each figure is shown from, and the count
# it is judged by. 50 alliance ratings: Mercer et al. 2005; the others are house rules (an
# interval from fewer is too wide to act on).
MINIMUMS: dict[str, tuple[str, int]] = {
    "effect_size": ("n_pre_post", MIN_EPISODES_EFFECT),
    "reliable_improvement": ("n_outcome_episodes", MIN_EPISODES_RATE),
    "reliable_deterioration": ("n_outcome_episodes", MIN_EPISODES_RATE),
    "recovery": ("n_clinical_at_intake", MIN_EPISODES_RATE),
    "reliable_recovery": ("n_clinical_at_intake", MIN_EPISODES_RATE),
    "dropout": ("n_closed", MIN_EPISODES_RATE),
    "mean_alliance": ("n_alliance_ratings", MIN_ALLIANCE_RATINGS),
    "r_alliance_outcome": ("n_alliance_outcome", MIN_EPISODES_CORRELATION),
}

_T = TypeVar("_T", bound=np.generic)


def wilson(successes: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Wilson 1927 score interval (95%) for k of n; NaN where n is 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        z2 = Z95 * Z95
        denom = 1.0 + z2 / n
        centre = (p + z2 / (2.0 * n)) / denom
        half = Z95 * np.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denom
    return centre - half, centre + half


def fisher_interval(r: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Fisher 1921 z transform interval (95%) for a correlation from n pairs; NaN below 4 pairs."""
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.arctanh(np.clip(r, -0.999999, 0.999999))
        se = np.where(n > 3, 1.0 / np.sqrt(n - 3.0), np.nan)
    return np.tanh(z - Z95 * se), np.tanh(z + Z95 * se)


def clinic_figures(
    frame: pl.DataFrame | Series,
    by: str = "therapist_id",
    *,
    outcome: str | None = None,
    alliance: str | None = None,
    outcomes: OutcomeRows | None = None,
) -> pl.DataFrame:
    """One row per value of `by` plus an overall row `(all)`; see the module docstring."""
    series = frame if isinstance(frame, Series) else cut_series(frame)
    if by not in series.frame.columns:
        raise ValueError(f"by: {by!r} is not a column of the score frame")
    outcome = outcome or _most_common(series, "outcome")
    alliance = alliance or _most_common(series, "alliance")
    outcomes = outcomes if outcomes is not None else outcome_rows(series, {})
    episodes = _episode_table(series, by, outcome, alliance, outcomes)
    paired = paired_outcomes(series)
    use_paired = bool(paired["nhs_paired"].any())
    episodes = episodes.hstack(paired)
    grouped = _aggregate(episodes.with_columns(pl.col("_group").cast(pl.String)), use_paired)
    overall = _aggregate(episodes.with_columns(pl.lit(ALL).alias("_group")), use_paired)
    table = pl.concat([grouped.sort("_group"), overall], how="vertical_relaxed")
    return (
        _with_intervals(table)
        .rename({"_group": by})
        .with_columns(
            pl.lit(outcome).alias("outcome_instrument"),
            pl.lit(alliance).alias("alliance_instrument"),
            pl.lit(_name(outcome)).alias("effect_size_measure"),
            pl.lit(PAIRED_RULE if use_paired else _name(outcome)).alias("rates_measure"),
            pl.lit(_name(alliance)).alias("alliance_measure"),
        )
    )


def _name(instrument: str | None) -> str | None:
    return load_instrument(instrument).short_name if instrument is not None else None


def too_few(row: dict[str, object], figure: str) -> int | None:
    """The count behind `figure` in a row of `clinic_figures` when it is below its minimum."""
    column, minimum = MINIMUMS[figure]
    value = row.get(column)
    n = int(value) if isinstance(value, int | float) and value == value else 0
    return n if n < minimum else None


def paired_outcomes(series: Series) -> pl.DataFrame:
    """Per episode, the NHS Talking Therapies outcome from its first and last PHQ-9 and GAD-7.

    The same arithmetic as `alliance.instruments.nhs_outcome`, on every episode at once (a
    property test holds the two equal). `nhs_paired`: both measures rated at least twice.
    """
    n = series.n_episodes
    first: dict[str, FloatArray] = {}
    last: dict[str, FloatArray] = {}
    rated: dict[str, BoolArray] = {}
    for instrument in PAIRED:
        first[instrument] = np.full(n, np.nan)
        last[instrument] = np.full(n, np.nan)
        rated[instrument] = np.zeros(n, dtype=np.bool_)
        if instrument not in series.instruments:
            continue
        chosen = series.series_codes == series.instruments.index(instrument)
        at = series.episode[series.starts[chosen]]
        first[instrument][at] = series.total[series.starts[chosen]]
        last[instrument][at] = series.total[series.ends[chosen]]
        rated[instrument][at] = series.lengths[chosen] >= 2
    paired = rated["phq9"] & rated["gad7"]
    with np.errstate(invalid="ignore"):
        case_first = (first["phq9"] >= PHQ9_CASENESS) | (first["gad7"] >= GAD7_CASENESS)
        case_last = (last["phq9"] >= PHQ9_CASENESS) | (last["gad7"] >= GAD7_CASENESS)
        phq_drop = first["phq9"] - last["phq9"]
        gad_drop = first["gad7"] - last["gad7"]
        improved = (phq_drop >= PHQ9_RELIABLE) | (gad_drop >= GAD7_RELIABLE)
        worse = (-phq_drop >= PHQ9_RELIABLE) | (-gad_drop >= GAD7_RELIABLE)
    recovered = case_first & ~case_last
    reliable_improvement = improved & ~worse
    return pl.DataFrame(
        {
            "nhs_paired": paired,
            "nhs_case_first": paired & case_first,
            "nhs_recovered": paired & recovered,
            "nhs_reliable_improvement": paired & reliable_improvement,
            "nhs_reliable_deterioration": paired & worse,
            "nhs_reliable_recovery": paired & recovered & reliable_improvement,
        }
    )


def _most_common(series: Series, kind: str) -> str | None:
    rows = np.bincount(series.series_codes, weights=series.lengths).astype(np.int64)
    counts = Counter(
        dict(zip(series.instruments, rows.tolist(), strict=False)) if series.total.size else {}
    )
    for instrument, _count in counts.most_common():
        if measure_facts(instrument).kind == kind:
            return instrument
    return None


def _episode_table(
    series: Series, by: str, outcome: str | None, alliance: str | None, outcomes: OutcomeRows
) -> pl.DataFrame:
    """One row per episode: group, closed/dropout, outcome change, alliance mean, stage counts.

    Rows are sorted by episode, so every per-episode figure is a segment reduction over the
    episode's contiguous rows (or a scatter from its series), with no group-by or join.
    """
    frame = series.frame
    first_rows = series.episode_starts
    stage_counts, has_stage = _sessions_per_stage(series)
    columns: dict[str, pl.Series] = {
        "_group": frame[by].gather(first_rows).alias("_group"),
        "closed": pl.Series("closed", _any(series, frame["closed"])),
        "dropout": pl.Series("dropout", _any(series, frame["dropout"])),
        **{
            f"sessions_{stage.value}": pl.Series(stage_counts[:, k])
            for k, stage in enumerate(Stage)
        },
        "_has_stage": pl.Series("_has_stage", has_stage),
    }
    null_unless: dict[str, BoolArray] = {}
    for part, present in (
        _outcome_columns(series, outcome, outcomes) if outcome is not None else ({}, None),
        _alliance_columns(series, alliance) if alliance is not None else ({}, None),
    ):
        columns.update(part)
        if present is not None:
            null_unless.update(dict.fromkeys(part, present))
    base = pl.DataFrame([s.alias(name) for name, s in columns.items()])
    # Episodes without the measure have no figure (null), as a left join would give.
    masks = {name: mask for name, mask in null_unless.items() if not mask.all()}
    if masks:
        base = base.with_columns(
            pl.when(pl.Series(mask)).then(pl.col(name)).alias(name) for name, mask in masks.items()
        )
    base = _with_every_column(base)
    # Only closed episodes count once the frame records closure; otherwise every episode does.
    any_closed = bool(base["closed"].any())
    finished = (pl.col("n_ratings") >= 2) & (pl.col("closed") if any_closed else pl.lit(True))
    return base.with_columns(finished.fill_null(False).alias("finished"))


def _outcome_columns(
    series: Series, outcome: str, outcomes: OutcomeRows
) -> tuple[dict[str, pl.Series], BoolArray]:
    """Each episode's first and last rating of the outcome measure and what they mean."""
    n_episodes = series.episode_starts.size
    facts = measure_facts(outcome)
    chosen = series.series_codes == series.instruments.index(outcome)
    first = series.starts[chosen]
    last = series.ends[chosen]
    at = series.episode[first]
    present = np.zeros(n_episodes, dtype=np.bool_)
    present[at] = True
    pre = _scatter(n_episodes, at, series.total[first])
    post = _scatter(n_episodes, at, series.total[last])
    columns = {
        "pre": pl.Series(pre),
        "post": pl.Series(post),
        "gain": pl.Series(_scatter(n_episodes, at, outcomes.gain[last])),
        "n_ratings": pl.Series(_scatter(n_episodes, at, series.lengths[chosen], fill=0)),
        "improved": pl.Series(_scatter(n_episodes, at, outcomes.improved[last], fill=False)),
        "deteriorated": pl.Series(
            _scatter(n_episodes, at, outcomes.deteriorated[last], fill=False)
        ),
        "clinical_pre": pl.Series(facts.in_clinical_range(pre)),
        "clinical_post": pl.Series(facts.in_clinical_range(post)),
    }
    return columns, present


def _alliance_columns(series: Series, alliance: str) -> tuple[dict[str, pl.Series], BoolArray]:
    """Each episode's alliance mean, sum, sum of squares and count (for pooled SDs)."""
    n_episodes = series.episode_starts.size
    chosen = series.series_codes == series.instruments.index(alliance)
    at = series.episode[series.starts[chosen]]
    present = np.zeros(n_episodes, dtype=np.bool_)
    present[at] = True
    x = series.total
    sums = np.add.reduceat(x, series.starts)[chosen] if x.size else np.zeros(0)
    squares = np.add.reduceat(x * x, series.starts)[chosen] if x.size else np.zeros(0)
    counts = series.lengths[chosen]
    columns = {
        "alliance_mean": pl.Series(_scatter(n_episodes, at, sums / counts)),
        "alliance_sum": pl.Series(_scatter(n_episodes, at, sums)),
        "alliance_sumsq": pl.Series(_scatter(n_episodes, at, squares)),
        "alliance_n": pl.Series(_scatter(n_episodes, at, counts, fill=0), dtype=pl.UInt32),
    }
    return columns, present


def _with_every_column(base: pl.DataFrame) -> pl.DataFrame:
    """The columns of a measure the data lacks, as nulls of their type."""
    for column in (
        "pre",
        "post",
        "gain",
        "alliance_mean",
        "alliance_sum",
        "alliance_sumsq",
    ):
        if column not in base.columns:
            base = base.with_columns(pl.lit(None, dtype=pl.Float64).alias(column))
    for column in ("n_ratings", "alliance_n"):
        if column not in base.columns:
            base = base.with_columns(pl.lit(None, dtype=pl.Int64).alias(column))
    for column in ("improved", "deteriorated", "clinical_pre", "clinical_post"):
        if column not in base.columns:
            base = base.with_columns(pl.lit(None, dtype=pl.Boolean).alias(column))
    return base


def _scatter(
    n: int, at: IntArray, values: npt.NDArray[_T], fill: float | bool = np.nan
) -> npt.NDArray[_T]:
    """An array of `n` values: `values` at `at`, `fill` elsewhere."""
    out = np.full(n, fill, dtype=values.dtype)
    out[at] = values
    return out


def _any(series: Series, flag: pl.Series) -> BoolArray:
    """Per episode: whether `flag` is true on any of its rows."""
    if series.total.size == 0:
        return np.zeros(0, dtype=np.bool_)
    return np.asarray(np.logical_or.reduceat(flag.to_numpy(), series.episode_starts))


def _sessions_per_stage(series: Series) -> tuple[IntArray, BoolArray]:
    """Per episode: the number of distinct sessions in each stage, and whether any row has one."""
    frame = series.frame
    n_episodes = series.n_episodes
    n_stages = len(Stage)
    stage = frame["stage"]
    if n_episodes == 0 or stage.null_count() == stage.len():
        return np.zeros((n_episodes, n_stages), dtype=np.int64), np.zeros(n_episodes, np.bool_)
    has_stage = np.logical_or.reduceat(stage.is_not_null().to_numpy(), series.episode_starts)
    # Column 0 of the grid below collects rows with no (or an unknown) stage; stages are 1...
    which: pl.Expr = pl.lit(0, dtype=pl.Int64)
    for k, s in reversed(list(enumerate(Stage, start=1))):
        which = pl.when(pl.col("stage") == s.value).then(pl.lit(k, dtype=pl.Int64)).otherwise(which)
    column = frame.select(which.alias("_stage"))["_stage"].to_numpy()
    episode_rows = np.diff(np.append(series.episode_starts, frame.height))
    low = np.minimum.reduceat(series.session, series.episode_starts)
    high = np.maximum.reduceat(series.session, series.episode_starts)
    span = high - low + 1
    cells = int(span.sum())
    if cells <= 4 * frame.height + 1024:
        # Session numbers are dense: mark each (session, stage) cell of a per-episode grid once.
        offset = np.cumsum(span) - span
        cell = np.repeat((offset - low) * (n_stages + 1), episode_rows)
        cell += series.session * (n_stages + 1)
        cell += column
        seen = np.zeros(cells * (n_stages + 1), dtype=np.bool_)
        seen[cell] = True
        grid = seen.reshape(cells, n_stages + 1)[:, 1:]
        return np.add.reduceat(grid, offset, axis=0, dtype=np.int64), np.asarray(has_stage)
    # Sparse session numbers: sort the (episode, stage, session) triples and count new ones.
    rows = np.flatnonzero(column > 0)
    episode, session, code = series.episode[rows], series.session[rows], column[rows] - 1
    order = np.lexsort((session, code, episode))
    episode, code, session = episode[order], code[order], session[order]
    new = np.ones(order.size, dtype=np.bool_)
    new[1:] = (
        (episode[1:] != episode[:-1]) | (code[1:] != code[:-1]) | (session[1:] != session[:-1])
    )
    counts = np.zeros((n_episodes, n_stages), dtype=np.int64)
    np.add.at(counts, (episode[new], code[new]), 1)
    return counts, np.asarray(has_stage)


def _aggregate(episodes: pl.DataFrame, use_paired: bool) -> pl.DataFrame:
    f = pl.col("finished")
    stage_cols = [f"sessions_{s.value}" for s in Stage]
    if use_paired:
        # Finished the same way: closed once the frame records closure, rated twice or more.
        p = pl.col("nhs_paired") & (
            pl.col("closed") if bool(episodes["closed"].any()) else pl.lit(True)
        )
        rates = [
            p.sum().alias("n_outcome_episodes"),
            (p & pl.col("nhs_reliable_improvement")).sum().alias("n_reliable_improvement"),
            (p & pl.col("nhs_reliable_deterioration")).sum().alias("n_reliable_deterioration"),
            (p & pl.col("nhs_case_first")).sum().alias("n_clinical_at_intake"),
            (p & pl.col("nhs_recovered")).sum().alias("n_recovered"),
            (p & pl.col("nhs_reliable_recovery")).sum().alias("n_reliable_recovery"),
        ]
    else:
        recovered = f & pl.col("clinical_pre") & pl.col("clinical_post").not_()
        rates = [
            f.sum().alias("n_outcome_episodes"),
            pl.col("improved").filter(f).sum().alias("n_reliable_improvement"),
            pl.col("deteriorated").filter(f).sum().alias("n_reliable_deterioration"),
            (f & pl.col("clinical_pre")).sum().alias("n_clinical_at_intake"),
            recovered.sum().alias("n_recovered"),
            (recovered & pl.col("improved")).sum().alias("n_reliable_recovery"),
        ]
    return episodes.group_by("_group").agg(
        pl.len().alias("n_episodes"),
        pl.col("closed").sum().alias("n_closed"),
        pl.col("dropout").filter(pl.col("closed")).sum().alias("n_dropout"),
        f.sum().alias("n_pre_post"),
        pl.col("gain").filter(f).mean().alias("_mean_gain"),
        pl.col("pre").filter(f).std().alias("_sd_pre"),
        pl.corr(pl.col("pre").filter(f), pl.col("post").filter(f)).alias("_r_pre_post"),
        *rates,
        pl.col("alliance_n").sum().alias("n_alliance_ratings"),
        pl.col("alliance_sum").sum().alias("_alliance_sum"),
        pl.col("alliance_sumsq").sum().alias("_alliance_sumsq"),
        pl.corr(
            pl.col("alliance_mean").filter(f & pl.col("alliance_mean").is_not_null()),
            pl.col("gain").filter(f & pl.col("alliance_mean").is_not_null()),
        ).alias("r_alliance_outcome"),
        (f & pl.col("alliance_mean").is_not_null()).sum().alias("n_alliance_outcome"),
        *[pl.col(c).filter(pl.col("_has_stage")).mean().alias(f"mean_{c}") for c in stage_cols],
    )


def _with_intervals(table: pl.DataFrame) -> pl.DataFrame:
    # scipy.stats takes about a second to import; only this one quantile needs it.
    from scipy import stats

    def col(name: str) -> FloatArray:
        return table[name].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)

    n_pp = col("n_pre_post")
    with np.errstate(invalid="ignore", divide="ignore"):
        d = col("_mean_gain") / col("_sd_pre")
        r = col("_r_pre_post")
        # Becker 1988: var(d) ≈ 2(1 − r)/n + d²/(2n) for the standardised mean change.
        se_d = np.sqrt(2.0 * (1.0 - r) / n_pp + d * d / (2.0 * n_pp))
        n_all = col("n_alliance_ratings")
        mean_all = col("_alliance_sum") / n_all
        var_all = (col("_alliance_sumsq") - n_all * mean_all * mean_all) / (n_all - 1.0)
        t = stats.t.ppf(0.975, np.maximum(n_all - 1.0, 1.0))
        half_all = np.where(n_all > 1, t * np.sqrt(np.maximum(var_all, 0.0) / n_all), np.nan)
    columns: dict[str, FloatArray] = {
        "effect_size": d,
        "effect_size_low": d - Z95 * se_d,
        "effect_size_high": d + Z95 * se_d,
        "mean_alliance": mean_all,
        "mean_alliance_low": mean_all - half_all,
        "mean_alliance_high": mean_all + half_all,
    }
    for name, k, n in (
        ("reliable_improvement", "n_reliable_improvement", "n_outcome_episodes"),
        ("reliable_deterioration", "n_reliable_deterioration", "n_outcome_episodes"),
        ("recovery", "n_recovered", "n_clinical_at_intake"),
        ("reliable_recovery", "n_reliable_recovery", "n_clinical_at_intake"),
        ("dropout", "n_dropout", "n_closed"),
    ):
        kk, nn = col(k), col(n)
        with np.errstate(invalid="ignore", divide="ignore"):
            columns[f"pct_{name}"] = 100.0 * kk / nn
        low, high = wilson(kk, nn)
        columns[f"pct_{name}_low"] = 100.0 * low
        columns[f"pct_{name}_high"] = 100.0 * high
    r_ao = col("r_alliance_outcome")
    low, high = fisher_interval(r_ao, col("n_alliance_outcome"))
    columns["r_alliance_outcome_low"] = low
    columns["r_alliance_outcome_high"] = high
    out = table.with_columns(
        [pl.Series(k, v, dtype=pl.Float64).fill_nan(None) for k, v in columns.items()]
    ).with_columns(
        pl.col("r_alliance_outcome").fill_nan(None),
        _warnings().alias("warnings"),
    )
    return out.drop([c for c in out.columns if c.startswith("_") and c != "_group"])


def _warnings() -> pl.Expr:
    """Notes on figures from too few ratings or episodes, one list per row."""
    n_alliance = pl.col("n_alliance_ratings").fill_null(0)
    n_pre_post = pl.col("n_pre_post").fill_null(0)
    n_pairs = pl.col("n_alliance_outcome").fill_null(0)
    return pl.concat_list(
        pl.when(n_alliance < MIN_ALLIANCE_RATINGS).then(
            pl.format(
                f"mean alliance from {{}} ratings: fewer than {MIN_ALLIANCE_RATINGS}, "
                "not yet stable",
                n_alliance,
            )
        ),
        pl.when(n_pre_post < MIN_EPISODES_EFFECT).then(
            pl.format(
                f"pre-post figures from {{}} episodes: fewer than {MIN_EPISODES_EFFECT}, "
                "intervals are wide",
                n_pre_post,
            )
        ),
        pl.when(n_pairs < MIN_EPISODES_CORRELATION).then(
            pl.format(
                "alliance-outcome correlation from {} episodes: fewer than "
                f"{MIN_EPISODES_CORRELATION}",
                n_pairs,
            )
        ),
    ).list.drop_nulls()
