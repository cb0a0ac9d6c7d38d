"""Trajectories: per episode, every measure's score per session on one axis, with stage bands."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from alliance.analytics.etr import EtrModel, usable_models
from alliance.analytics.frame import Series, cut_series, measure_facts
from alliance.analytics.outcome import outcome_rows


def trajectories(
    frame: pl.DataFrame | Series, models: Mapping[str, EtrModel] | None = None
) -> pl.DataFrame:
    """Long rows `episode_id, session, date, stage, instrument, kind, total` plus the expected band.

    `expected`, `expected_low`, `expected_high` are filled for outcome measures with a usable
    expected-response model; `cutoff` is the measure's cutoff line.
    """
    series = frame if isinstance(frame, Series) else cut_series(frame)
    # The band only from a model that may decide alerts; never below the measure's floor.
    outcomes = outcome_rows(series, usable_models(models or {}))
    kinds = {i: measure_facts(i).kind for i in series.instruments}
    cutoffs = {i: measure_facts(i).cutoff for i in series.instruments}
    return (
        series.frame.select("episode_id", "session", "date", "stage", "instrument", "total")
        .with_columns(
            pl.col("instrument").replace_strict(kinds, return_dtype=pl.String).alias("kind"),
            pl.col("instrument")
            .replace_strict(cutoffs, return_dtype=pl.Float64, default=None)
            .alias("cutoff"),
            pl.Series("expected", outcomes.expected).fill_nan(None),
            pl.Series("expected_low", outcomes.low).fill_nan(None),
            pl.Series("expected_high", outcomes.high).fill_nan(None),
        )
        .sort(["episode_id", "session", "instrument"])
    )


def stage_bands(frame: pl.DataFrame | Series) -> pl.DataFrame:
    """One row per run of sessions in one stage: `episode_id, stage, first_session, last_session`.

    A stage entered twice (a move back after a relapse) gives two bands.
    """
    series = frame if isinstance(frame, Series) else cut_series(frame)
    sessions = (
        series.frame.filter(pl.col("stage").is_not_null())
        .group_by("episode_id", "session")
        .agg(pl.col("stage").first())
        .sort("episode_id", "session")
    )
    if sessions.height == 0:
        return pl.DataFrame(
            schema={
                "episode_id": series.frame.schema["episode_id"],
                "stage": pl.String,
                "first_session": pl.Int64,
                "last_session": pl.Int64,
            }
        )
    new_band = (
        (pl.col("episode_id") != pl.col("episode_id").shift(1))
        | (pl.col("stage") != pl.col("stage").shift(1))
    ).fill_null(True)
    return (
        sessions.with_columns(new_band.cum_sum().alias("_band"))
        .group_by("_band")
        .agg(
            pl.col("episode_id").first(),
            pl.col("stage").first(),
            pl.col("session").min().alias("first_session"),
            pl.col("session").max().alias("last_session"),
        )
        .sort("_band")
        .drop("_band")
    )
