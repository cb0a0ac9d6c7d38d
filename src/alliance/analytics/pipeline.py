"""The whole analysis in one pass over a score frame: ruptures, ETR flags, signals, figures."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from alliance.analytics.clinic import clinic_figures
from alliance.analytics.etr import EtrModel, default_models, usable_models
from alliance.analytics.frame import Series, cut_series
from alliance.analytics.outcome import outcome_rows
from alliance.analytics.ruptures import PRESETS, RuptureConfig, detect_ruptures
from alliance.analytics.signals import signals_frame, to_signals


@dataclass(frozen=True)
class Analysis:
    """Results of `analyze`, all columnar."""

    ruptures: pl.DataFrame
    signals: pl.DataFrame
    figures: pl.DataFrame
    models: Mapping[str, EtrModel]
    rupture_config: RuptureConfig
    n_rows: int
    n_episodes: int
    # Seconds spent in each stage (split, outcomes, ruptures, signals, figures), for benchmarks.
    timings: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (signals with their evidence and next steps)."""
        return {
            "rows": self.n_rows,
            "episodes": self.n_episodes,
            "rupture_rule": self.rupture_config.name,
            "models": {
                name: {
                    "n_episodes": m.n_episodes,
                    "used": m.usable,
                    "synthetic": m.synthetic,
                    "source": m.source,
                    "fitted_at": m.fitted_at,
                    "description": m.description,
                }
                for name, m in sorted(self.models.items())
            },
            "signals": [s.to_dict() for s in to_signals(self.signals)],
            "ruptures": _records(self.ruptures),
            "figures": _records(self.figures),
        }


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.with_columns(pl.col(pl.Date).cast(pl.String)).to_dicts()


def analyze(
    frame: pl.DataFrame | Series,
    *,
    models: Mapping[str, EtrModel] | None = None,
    rupture_config: RuptureConfig | None = None,
    acknowledged: Collection[str] = (),
    by: str = "therapist_id",
    unscored_risk: pl.DataFrame | None = None,
) -> Analysis:
    """Run every analysis on `frame`, cutting it into series once."""
    clock = _Clock()
    series = frame if isinstance(frame, Series) else cut_series(frame)
    clock.lap("split")
    models = default_models() if models is None else models
    config = rupture_config or PRESETS["stiles-like"]
    # Only a model fitted on the clinic's own closed episodes decides an alert.
    outcomes = outcome_rows(series, usable_models(models))
    clock.lap("outcomes")
    ruptures = detect_ruptures(series, config)
    clock.lap("ruptures")
    table = signals_frame(
        series,
        models=models,
        rupture_config=config,
        acknowledged=acknowledged,
        outcomes=outcomes,
        ruptures=ruptures,
        unscored_risk=unscored_risk,
    )
    clock.lap("signals")
    figures = clinic_figures(series, by, outcomes=outcomes)
    clock.lap("figures")
    return Analysis(
        ruptures=ruptures,
        signals=table,
        figures=figures,
        models=models,
        rupture_config=config,
        n_rows=series.total.size,
        # Episode ids are never empty and rows are sorted, so each episode is one run of rows.
        n_episodes=series.n_episodes,
        timings=clock.laps,
    )


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now
