"""How well the outcome alerts find clients who do not improve.

* `alert_accuracy`: on a clinic's own closed episodes, sensitivity, specificity and positive
  predictive value of the not-on-track and no-change alerts, with Wilson intervals.
* `evaluate_etr`: a check of the expected-response machinery on synthetic data with known truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from alliance.analytics.clinic import (
    ALL,
    MIN_EPISODES_RATE,
    PAIRED,
    PAIRED_RULE,
    paired_outcomes,
    wilson,
)
from alliance.analytics.etr import DEFAULT_COVERAGE, EtrModel, fit_etr
from alliance.analytics.frame import FloatArray, Series, cut_series, measure_facts
from alliance.analytics.outcome import outcome_rows
from alliance.analytics.signals import signals_frame
from alliance.analytics.synthetic import synthetic_caseload
from alliance.instruments import load_instrument


@dataclass(frozen=True)
class EtrEvaluation:
    """Sensitivity and specificity of episode-level not-on-track flags on held-out episodes."""

    model: EtrModel
    horizon: int
    n_non_responders: int
    n_responders: int
    true_positives: int
    true_negatives: int

    @property
    def sensitivity(self) -> float:
        return self.true_positives / self.n_non_responders

    @property
    def specificity(self) -> float:
        return self.true_negatives / self.n_responders


def evaluate_etr(
    *,
    n_train: int = 2000,
    n_test: int = 2000,
    horizon: int = 8,
    coverage: float = DEFAULT_COVERAGE,
    outcome: str = "phq9",
    seed: int = 7,
) -> EtrEvaluation:
    """Fit on one synthetic caseload, flag a held-out one, compare with who was a non-responder.

    An episode counts as flagged when any rating from the second to the `horizon`-th is not on
    track.
    """
    train = synthetic_caseload(n_train, seed=seed, outcome=outcome, alliance=None, closed_share=1.0)
    model = fit_etr(train.frame, outcome, coverage=coverage, source=f"synthetic seed {seed}")
    test = synthetic_caseload(n_test, seed=seed + 1, outcome=outcome, alliance=None)
    series = cut_series(test.frame)
    rows = outcome_rows(series, {outcome: model})
    window = (series.position >= 1) & (series.position < horizon)
    flagged_rows = rows.not_on_track & window
    flagged = np.zeros(series.n_series, dtype=np.bool_)
    np.logical_or.at(flagged, series.series[flagged_rows], True)
    episodes = series.frame["episode_id"].gather(series.starts)
    truth = pl.DataFrame({"episode_id": episodes, "flagged": flagged}).join(
        test.non_responder, on="episode_id"
    )
    nr = truth["non_responder"].to_numpy()
    fl = truth["flagged"].to_numpy()
    return EtrEvaluation(
        model=model,
        horizon=horizon,
        n_non_responders=int(nr.sum()),
        n_responders=int((~nr).sum()),
        true_positives=int((nr & fl).sum()),
        true_negatives=int((~nr & ~fl).sum()),
    )


# How often the "not on track" and "no change" alerts came before an episode that ended without
# reliable improvement, on the clinic's own closed episodes (DOMAIN §4). Published anchors:
# Hannan et al. 2005 — formal monitoring flagged 100% of deteriorators by the end of treatment
# and 85% by session 3; therapists predicted 1 of 40.
ACCURACY_KINDS = ("not_on_track", "no_change")
HANNAN_2005 = (
    "Hannan et al. 2005: formal monitoring flagged 100% of clients who deteriorated by the end "
    "of treatment and 85% by session 3; therapists predicted 1 of 40"
)


# Long by design: one pipeline (truth, first alert, the 2x2 counts, Wilson intervals, warnings)
# read top to bottom against its docstring; each step is a few lines of one frame.
def alert_accuracy(
    frame: pl.DataFrame | Series,
    *,
    models: Mapping[str, EtrModel] | None = None,
    by: str = "therapist_id",
    signals: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Sensitivity, specificity and PPV of the outcome alerts on closed episodes, per group.

    An episode counts when it is closed and its outcome measure was rated at least twice. It
    **ended without reliable improvement** by the clinic figures' rule (the NHS paired rule
    where PHQ-9 and GAD-7 are both rated, else the most used outcome measure's reliable
    change); it was **flagged** when a not-on-track or no-change alert began before its last
    rating. Wilson 95% intervals; `warnings` notes a denominator under MIN_EPISODES_RATE.
    """
    series = frame if isinstance(frame, Series) else cut_series(frame)
    if signals is None:
        signals = signals_frame(series, models=models if models is not None else {})
    truth = _episode_truth(series, by)
    first_alert = (
        signals.filter(pl.col("kind").cast(pl.String).is_in(ACCURACY_KINDS))
        .group_by("episode_id")
        .agg(pl.col("session").min().alias("_alert"))
    )
    table = (
        truth.join(first_alert, on="episode_id", how="left")
        .with_columns((pl.col("_alert") < pl.col("_last")).fill_null(False).alias("flagged"))
        .filter(pl.col("_counts"))
    )
    groups = table.with_columns(pl.col(by).cast(pl.String).alias("_group"))
    outcomes = {
        "true_positives": pl.col("flagged") & pl.col("unimproved"),
        "false_negatives": ~pl.col("flagged") & pl.col("unimproved"),
        "false_positives": pl.col("flagged") & ~pl.col("unimproved"),
        "true_negatives": ~pl.col("flagged") & ~pl.col("unimproved"),
    }

    def tally(part: pl.DataFrame) -> pl.DataFrame:
        return part.group_by("_group").agg(
            pl.len().cast(pl.Int64).alias("n_episodes"),
            *[e.sum().cast(pl.Int64).alias(name) for name, e in outcomes.items()],
        )

    overall = tally(groups.with_columns(pl.lit(ALL).alias("_group")))
    if overall.height == 0:
        overall = pl.DataFrame(
            {"_group": [ALL], "n_episodes": [0], **{name: [0] for name in outcomes}},
            schema_overrides=dict.fromkeys(["n_episodes", *outcomes], pl.Int64),
        )
    counts = pl.concat([tally(groups).sort("_group"), overall])

    def col(name: str) -> FloatArray:
        return counts[name].cast(pl.Float64).to_numpy()

    tp, fn, fp, tn = (
        col(c) for c in ("true_positives", "false_negatives", "false_positives", "true_negatives")
    )
    out: dict[str, FloatArray] = {}
    for name, k, n in (
        ("sensitivity", tp, tp + fn),
        ("specificity", tn, tn + fp),
        ("ppv", tp, tp + fp),
    ):
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = k / n
        low, high = wilson(k, n)
        out[f"{name}_low"], out[f"{name}_high"] = low, high
        out[f"n_{name}"] = n
    measure = _truth_measure(series)
    result = counts.with_columns(
        [pl.Series(k, v, dtype=pl.Float64).fill_nan(None) for k, v in out.items()]
    ).with_columns(pl.lit(measure).alias("measure"))
    warn = [
        pl.when(pl.col(f"n_{name}") < MIN_EPISODES_RATE).then(
            pl.format(
                f"{label} from {{}} episodes: fewer than {MIN_EPISODES_RATE}",
                pl.col(f"n_{name}").cast(pl.Int64),
            )
        )
        for name, label in (
            ("sensitivity", "sensitivity"),
            ("specificity", "specificity"),
            ("ppv", "positive predictive value"),
        )
    ]
    return result.with_columns(pl.concat_list(warn).list.drop_nulls().alias("warnings")).rename(
        {"_group": by}
    )


def _truth_measure(series: Series) -> str:
    if all(i in series.instruments for i in PAIRED):
        return PAIRED_RULE
    outcome = _most_used_outcome(series)
    return load_instrument(outcome).short_name if outcome else "(no outcome measure)"


def _most_used_outcome(series: Series) -> str | None:
    best: tuple[int, str] | None = None
    for code, instrument in enumerate(series.instruments):
        if measure_facts(instrument).kind != "outcome":
            continue
        rows = int(series.lengths[series.series_codes == code].sum())
        if best is None or rows > best[0]:
            best = (rows, instrument)
    return best[1] if best else None


def _episode_truth(series: Series, by: str) -> pl.DataFrame:
    """Per episode: whether it counts (closed, rated twice), ended unimproved, its last rating."""
    frame = series.frame
    n = series.n_episodes
    closed = (
        np.logical_or.reduceat(frame["closed"].to_numpy(), series.episode_starts)
        if n
        else np.zeros(0, dtype=np.bool_)
    )
    counts = np.zeros(n, dtype=np.bool_)
    unimproved = np.zeros(n, dtype=np.bool_)
    last = np.zeros(n, dtype=np.int64)
    if n and all(i in series.instruments for i in PAIRED):
        paired = paired_outcomes(series)
        counts = paired["nhs_paired"].to_numpy().copy()
        unimproved = ~paired["nhs_reliable_improvement"].to_numpy()
        for instrument in PAIRED:
            chosen = series.series_codes == series.instruments.index(instrument)
            at = series.episode[series.starts[chosen]]
            np.maximum.at(last, at, series.session[series.ends[chosen]])
    else:
        outcome = _most_used_outcome(series)
        if n and outcome is not None:
            rows = outcome_rows(series, {})
            chosen = series.series_codes == series.instruments.index(outcome)
            at = series.episode[series.starts[chosen]]
            ends = series.ends[chosen]
            counts[at] = series.lengths[chosen] >= 2
            unimproved[at] = ~rows.improved[ends]
            last[at] = series.session[ends]
    return pl.DataFrame(
        {
            "episode_id": frame["episode_id"].gather(series.episode_starts).cast(pl.String),
            by: frame[by].gather(series.episode_starts),
            "_counts": counts & closed,
            "unimproved": unimproved,
            "_last": last,
        }
    )
