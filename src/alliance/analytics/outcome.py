"""Change from intake on outcome measures, row by row: reliable change and expected response.

Reliable change follows Jacobson & Truax (1991) with each instrument's minimum reliable difference
(read from its definition); direction is the instrument's, so `gain` is positive for improvement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from alliance.analytics.etr import MIN_EPISODES, EtrModel
from alliance.analytics.frame import (
    BoolArray,
    FloatArray,
    IntArray,
    MeasureFacts,
    Series,
    measure_facts,
)

# With no usable model: not on track when there is no reliable improvement by this many ratings
# after intake (a house rule, stated in every fallback alert).
FALLBACK_AFTER = 6


@dataclass(frozen=True)
class OutcomeRows:
    """Per-row outcome arrays (NaN / False on rows of other measures)."""

    outcome: BoolArray  # the row is an outcome measure
    intake: FloatArray
    gain: FloatArray  # improvement from intake in points (direction-adjusted)
    reliable_change: FloatArray  # the measure's minimum reliable difference
    improved: BoolArray
    deteriorated: BoolArray
    expected: FloatArray
    low: FloatArray
    high: FloatArray
    not_on_track: BoolArray
    by_model: BoolArray  # the not-on-track decision used a usable ETR model
    model_episodes: IntArray  # episodes the measure's model learned from (0: none)


def outcome_rows(
    series: Series,
    models: Mapping[str, EtrModel],
    *,
    fallback_after: int = FALLBACK_AFTER,
) -> OutcomeRows:
    """Classify every outcome row against intake and against the expected-response band."""
    n = series.total.size
    facts = [measure_facts(i) for i in series.instruments]
    is_outcome = np.array([f.kind == "outcome" for f in facts] + [False], dtype=np.bool_)
    sign = np.array([f.sign for f in facts] + [0.0])
    rc = np.array([f.reliable_change or np.nan for f in facts] + [np.nan])
    codes = series.instrument_codes if n else np.zeros(0, dtype=np.int64)
    outcome = is_outcome[codes]
    x = series.total
    intake = series.per_row(x[series.starts]) if n else np.zeros(0)
    gain = np.where(outcome, sign[codes] * (x - intake), np.nan)
    row_rc = rc[codes]
    after = series.position > 0
    with np.errstate(invalid="ignore"):
        # Jacobson & Truax 1991: a change at least the minimum reliable difference is reliable
        # (equal counts, as in NHS Talking Therapies' "6 or more"; same tolerance as
        # alliance.instruments.classify).
        improved = outcome & after & (gain >= row_rc - 1e-9)
        deteriorated = outcome & after & (-gain >= row_rc - 1e-9)
    tracking = _Tracking.empty(n)
    for code, fact in enumerate(facts):
        if fact.kind != "outcome":
            continue
        rows = codes == code
        model = models.get(series.instruments[code])
        if model is not None:
            tracking.model_episodes[rows] = model.n_episodes
        if model is not None and model.n_episodes >= MIN_EPISODES:
            tracking.judge_by_model(model, fact, np.flatnonzero(rows & after), intake, series)
        else:
            late = rows & (series.position >= fallback_after)
            tracking.not_on_track[late] = ~improved[late]
    return OutcomeRows(
        outcome=outcome,
        intake=intake,
        gain=gain,
        reliable_change=row_rc,
        improved=improved,
        deteriorated=deteriorated,
        expected=tracking.expected,
        low=tracking.low,
        high=tracking.high,
        not_on_track=tracking.not_on_track,
        by_model=tracking.by_model,
        model_episodes=tracking.model_episodes,
    )


@dataclass(frozen=True)
class _Tracking:
    """The expected-response columns of OutcomeRows, filled in one measure at a time."""

    expected: FloatArray
    low: FloatArray
    high: FloatArray
    not_on_track: BoolArray
    by_model: BoolArray
    model_episodes: IntArray

    @classmethod
    def empty(cls, n: int) -> _Tracking:
        return cls(
            expected=np.full(n, np.nan),
            low=np.full(n, np.nan),
            high=np.full(n, np.nan),
            not_on_track=np.zeros(n, dtype=np.bool_),
            by_model=np.zeros(n, dtype=np.bool_),
            model_episodes=np.zeros(n, dtype=np.int64),
        )

    def judge_by_model(
        self, model: EtrModel, fact: MeasureFacts, idx: IntArray, intake: FloatArray, series: Series
    ) -> None:
        """Rows `idx` (one measure, after intake) against the model's tolerance band."""
        mean, lo, hi = model.expected(intake[idx], series.session[idx].astype(np.float64))
        self.expected[idx], self.low[idx], self.high[idx] = mean, lo, hi
        # Finch, Lambert & Schaalje 2001: a score outside the tolerance band on the worse side.
        x = series.total[idx]
        self.not_on_track[idx] = x < lo if fact.higher_is_better else x > hi
        self.by_model[idx] = True
