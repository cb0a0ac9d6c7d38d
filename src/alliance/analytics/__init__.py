"""Columnar analytics: trajectories, ruptures, expected response, signals, clinic figures.

Imports nothing from the store, the web or the CLI, so it runs in a notebook with no database.
"""

from alliance.analytics.clinic import clinic_figures, fisher_interval, wilson
from alliance.analytics.csv_scores import CsvScores, RejectedRow, ScoreRow, read_scores_csv
from alliance.analytics.etr import (
    MIN_EPISODES,
    EtrError,
    EtrModel,
    default_models,
    fit_all,
    fit_etr,
    read_models,
    save_models,
)
from alliance.analytics.evaluation import EtrEvaluation, evaluate_etr
from alliance.analytics.frame import FrameError, MeasureFacts, cut_series, measure_facts
from alliance.analytics.pipeline import Analysis, analyze
from alliance.analytics.ruptures import PRESETS, RuptureConfig, detect_ruptures
from alliance.analytics.signals import NEXT_STEPS, Signal, signals, signals_frame
from alliance.analytics.synthetic import synthetic_caseload
from alliance.analytics.trajectories import stage_bands, trajectories

__all__ = [
    "MIN_EPISODES",
    "NEXT_STEPS",
    "PRESETS",
    "Analysis",
    "CsvScores",
    "EtrError",
    "EtrEvaluation",
    "EtrModel",
    "FrameError",
    "MeasureFacts",
    "RejectedRow",
    "RuptureConfig",
    "ScoreRow",
    "Signal",
    "analyze",
    "clinic_figures",
    "cut_series",
    "default_models",
    "detect_ruptures",
    "evaluate_etr",
    "fisher_interval",
    "fit_all",
    "fit_etr",
    "measure_facts",
    "read_models",
    "read_scores_csv",
    "save_models",
    "signals",
    "signals_frame",
    "stage_bands",
    "synthetic_caseload",
    "trajectories",
    "wilson",
]
