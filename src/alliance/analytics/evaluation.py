"""How well not-on-track flags find non-responders, on synthetic data with known truth."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from alliance.analytics.etr import DEFAULT_COVERAGE, EtrModel, fit_etr
from alliance.analytics.frame import cut_series
from alliance.analytics.outcome import outcome_rows
from alliance.analytics.synthetic import synthetic_caseload


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
