"""Caseload and clinic figures per therapist (or any grouping) and overall, with intervals.

* Pre–post effect size: mean improvement ÷ SD at intake (standardised mean change), with the
  large-sample variance 2(1 − r)/n + d²/(2n) (Becker 1988), r = the pre–post correlation.
* Proportions (reliable improvement, recovery, reliable deterioration, dropout): Wilson score
  intervals (Wilson 1927; recommended by Newcombe 1998).
* Mean alliance: t interval over ratings; fewer than 50 ratings is flagged as unstable (Mercer
  et al. 2005 found about 50 ratings are needed for a stable practitioner mean on the CARE measure).
* Alliance–outcome correlation (episode mean alliance vs improvement): Pearson r with a Fisher z
  interval (Fisher 1921).
* Recovery and reliable improvement follow NHS Talking Therapies: only episodes with at least two
  ratings count; recovery counts those in the clinical range at intake.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
from scipy import stats

from alliance.analytics.frame import FloatArray, Series, cut_series, measure_facts
from alliance.analytics.outcome import OutcomeRows, outcome_rows
from alliance.domain.stages import Stage

Z95 = 1.959963984540054
MIN_ALLIANCE_RATINGS = 50
MIN_EPISODES_EFFECT = 20
MIN_EPISODES_CORRELATION = 30
ALL = "(all)"


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
    grouped = _aggregate(episodes.with_columns(pl.col("_group").cast(pl.String)))
    overall = _aggregate(episodes.with_columns(pl.lit(ALL).alias("_group")))
    table = pl.concat([grouped.sort("_group"), overall], how="vertical_relaxed")
    return (
        _with_intervals(table)
        .rename({"_group": by})
        .with_columns(
            pl.lit(outcome).alias("outcome_instrument"),
            pl.lit(alliance).alias("alliance_instrument"),
        )
    )


def _most_common(series: Series, kind: str) -> str | None:
    counts = Counter(
        dict(zip(series.instruments, np.bincount(series.instrument_codes), strict=False))
        if series.total.size
        else {}
    )
    for instrument, _count in counts.most_common():
        if measure_facts(instrument).kind == kind:
            return instrument
    return None


def _episode_table(
    series: Series, by: str, outcome: str | None, alliance: str | None, outcomes: OutcomeRows
) -> pl.DataFrame:
    """One row per episode: group, closed/dropout, outcome change, alliance mean, stage counts."""
    frame = series.frame
    base = frame.group_by("episode_id").agg(
        pl.col(by).first().alias("_group"),
        pl.col("closed").any(),
        pl.col("dropout").any(),
        *[
            pl.col("session")
            .filter(pl.col("stage") == stage.value)
            .n_unique()
            .alias(f"sessions_{stage.value}")
            for stage in Stage
        ],
        pl.col("stage").is_not_null().any().alias("_has_stage"),
    )
    if outcome is not None:
        facts = measure_facts(outcome)
        code = series.instruments.index(outcome)
        first = series.starts[series.instrument_codes[series.starts] == code]
        last_rows = series.starts + series.lengths - 1
        last = last_rows[series.instrument_codes[last_rows] == code]
        pre = series.total[first]
        post = series.total[last]
        change = pl.DataFrame(
            {
                "episode_id": frame["episode_id"].gather(first),
                "pre": pre,
                "post": post,
                "gain": outcomes.gain[last],
                "n_ratings": series.lengths[series.series[first]],
                "improved": outcomes.improved[last],
                "deteriorated": outcomes.deteriorated[last],
                "clinical_pre": facts.in_clinical_range(pre),
                "clinical_post": facts.in_clinical_range(post),
            }
        )
        base = base.join(change, on="episode_id", how="left")
    if alliance is not None:
        ratings = (
            frame.filter(pl.col("instrument") == alliance)
            .group_by("episode_id")
            .agg(
                pl.col("total").mean().alias("alliance_mean"),
                pl.col("total").sum().alias("alliance_sum"),
                (pl.col("total") ** 2).sum().alias("alliance_sumsq"),
                pl.len().alias("alliance_n"),
            )
        )
        base = base.join(ratings, on="episode_id", how="left")
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
    # Only closed episodes count once the frame records closure; otherwise every episode does.
    any_closed = bool(base["closed"].any())
    finished = (pl.col("n_ratings") >= 2) & (pl.col("closed") if any_closed else pl.lit(True))
    return base.with_columns(finished.fill_null(False).alias("finished"))


def _aggregate(episodes: pl.DataFrame) -> pl.DataFrame:
    f = pl.col("finished")
    stage_cols = [f"sessions_{s.value}" for s in Stage]
    return episodes.group_by("_group").agg(
        pl.len().alias("n_episodes"),
        pl.col("closed").sum().alias("n_closed"),
        pl.col("dropout").filter(pl.col("closed")).sum().alias("n_dropout"),
        f.sum().alias("n_pre_post"),
        pl.col("gain").filter(f).mean().alias("_mean_gain"),
        pl.col("pre").filter(f).std().alias("_sd_pre"),
        pl.corr(pl.col("pre").filter(f), pl.col("post").filter(f)).alias("_r_pre_post"),
        pl.col("improved").filter(f).sum().alias("n_reliable_improvement"),
        pl.col("deteriorated").filter(f).sum().alias("n_reliable_deterioration"),
        (f & pl.col("clinical_pre")).sum().alias("n_clinical_at_intake"),
        pl.col("clinical_post")
        .filter(f & pl.col("clinical_pre"))
        .not_()
        .sum()
        .alias("n_recovered"),
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
        ("reliable_improvement", "n_reliable_improvement", "n_pre_post"),
        ("reliable_deterioration", "n_reliable_deterioration", "n_pre_post"),
        ("recovery", "n_recovered", "n_clinical_at_intake"),
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
    warnings = [
        _warnings(int(a), int(b), int(c))
        for a, b, c in zip(
            table["n_alliance_ratings"].fill_null(0),
            table["n_pre_post"].fill_null(0),
            table["n_alliance_outcome"].fill_null(0),
            strict=True,
        )
    ]
    out = table.with_columns(
        [pl.Series(k, v, dtype=pl.Float64).fill_nan(None) for k, v in columns.items()]
    ).with_columns(
        pl.col("r_alliance_outcome").fill_nan(None),
        pl.Series("warnings", warnings, dtype=pl.List(pl.String)),
    )
    return out.drop([c for c in out.columns if c.startswith("_") and c != "_group"])


def _warnings(n_alliance: int, n_pre_post: int, n_pairs: int) -> list[str]:
    notes: list[str] = []
    if n_alliance < MIN_ALLIANCE_RATINGS:
        notes.append(
            f"mean alliance from {n_alliance} ratings: fewer than {MIN_ALLIANCE_RATINGS}, "
            "not yet stable"
        )
    if n_pre_post < MIN_EPISODES_EFFECT:
        notes.append(
            f"pre-post figures from {n_pre_post} episodes: fewer than {MIN_EPISODES_EFFECT}, "
            "intervals are wide"
        )
    if n_pairs < MIN_EPISODES_CORRELATION:
        notes.append(
            f"alliance-outcome correlation from {n_pairs} episodes: fewer than "
            f"{MIN_EPISODES_CORRELATION}"
        )
    return notes
