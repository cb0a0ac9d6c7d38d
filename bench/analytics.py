"""Benchmark: the full analysis (ruptures, ETR flags, signals, clinic figures) on 100,000 episodes.

Synthetic data: 100,000 episodes, about 1,000,000 sessions, a PHQ-9 and an SRS each session.
The columnar analysis runs in a fresh child process (so its peak memory is its own); a
straightforward per-episode pandas implementation runs on a 100,000-session subset, and the
columnar analysis runs on the same subset in the same process for the ratio.

Run: python bench/analytics.py
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from rich.console import Console

from alliance.analytics import PRESETS, analyze, fit_all, synthetic_caseload
from alliance.analytics.etr import EtrModel
from alliance.analytics.frame import measure_facts

EPISODES = 100_000
SUBSET_EPISODES = 10_000
REPEATS = 3


def child(path: str) -> None:
    """Read the frame and models, run the analysis REPEATS times, print JSON figures."""
    frame = pl.read_parquet(path)
    models = {
        k: EtrModel.from_dict(v)
        for k, v in json.loads(Path(path + ".models.json").read_text()).items()
    }
    times = []
    result = None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = analyze(frame, models=models)
        times.append(time.perf_counter() - start)
    assert result is not None
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "times": times,
                "peak_mib": peak_mib,
                "rows": result.n_rows,
                "signals": result.signals.height,
                "ruptures": result.ruptures.height,
            }
        )
    )


def pandas_baseline(df: pd.DataFrame, models: dict[str, EtrModel]) -> int:
    """Per episode, in pandas: the same rules written the obvious way. Returns the signal count."""
    phq, srs = measure_facts("phq9"), measure_facts("srs")
    model = models["phq9"]
    config = PRESETS["stiles-like"]
    srs_all = df.loc[df["instrument"] == "srs", "total"]
    sample_sd = float(srs_all.std())
    n_signals = 0
    per_episode: list[dict[str, Any]] = []
    for episode_id, episode in df.groupby("episode_id", sort=False):
        outcome = episode[episode["instrument"] == "phq9"].sort_values("session")
        alliance = episode[episode["instrument"] == "srs"].sort_values("session")
        x = alliance["total"]
        n = len(x)
        others_mean = (x.sum() - x) / (n - 1) if n > 1 else x * math.nan
        others_sd = pd.Series(
            [x.drop(i).std() if n > 2 else math.nan for i in x.index], index=x.index
        )
        margin = np.maximum(config.k * np.fmax(others_sd, sample_sd), config.min_drop)
        flagged = (others_mean - x > 0) & (others_mean - x >= margin)
        starts = flagged & ~flagged.shift(1, fill_value=False)
        n_signals += int(starts.sum())
        low = x < (srs.cutoff or 0)
        drop = x.shift(1) - x >= 1
        n_signals += int(low.sum() + drop.sum())
        y = outcome["total"]
        intake = y.iloc[0]
        gain = -(y - intake)
        deteriorated = (-gain >= (phq.reliable_change or 0)) & (outcome["session"] > 1)
        _mean, _low, hi = model.expected(np.full(len(y), intake), outcome["session"].to_numpy())
        not_on_track = (y > hi) & (outcome["session"] > 1)
        n_signals += int(deteriorated.sum() + not_on_track.sum() + outcome["risk"].sum())
        per_episode.append(
            {
                "episode_id": episode_id,
                "therapist_id": episode["therapist_id"].iloc[0],
                "gain": float(gain.iloc[-1]),
                "pre": float(intake),
                "improved": bool(gain.iloc[-1] >= (phq.reliable_change or 0)),
                "alliance": float(x.mean()),
            }
        )
    table = pd.DataFrame(per_episode)
    figures = table.groupby("therapist_id").agg(
        gain=("gain", "mean"), sd=("pre", "std"), improved=("improved", "mean")
    )
    figures["d"] = figures["gain"] / figures["sd"]
    return n_signals + len(figures)


def main() -> None:
    console = Console()
    with console.status("Building 100,000 synthetic episodes"):
        caseload = synthetic_caseload(EPISODES, seed=2024)
        frame = caseload.frame
        models = fit_all(frame, source="bench")
    sessions = frame.filter(pl.col("instrument") == "phq9").height
    console.print(f"{EPISODES} episodes, {sessions} sessions, {frame.height} administrations")
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "scores.parquet")
        frame.write_parquet(path)
        Path(path + ".models.json").write_text(
            json.dumps({k: m.to_dict() for k, m in models.items()})
        )
        with console.status("Full analysis in a child process"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", path],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    times = figures["times"]
    console.print(
        f"full analysis, {figures['rows']} rows: first {times[0]:.3f} s, best of {REPEATS} "
        f"{min(times):.3f} s; peak RSS {figures['peak_mib']:.0f} MiB; "
        f"{figures['signals']} signals, {figures['ruptures']} ruptures"
    )
    subset = frame.filter(pl.col("episode_id") < SUBSET_EPISODES)
    subset_sessions = subset.filter(pl.col("instrument") == "phq9").height
    analyze(subset, models=models)  # warm-up
    start = time.perf_counter()
    analyze(subset, models=models)
    fast = time.perf_counter() - start
    with console.status(f"pandas per-episode baseline on {subset_sessions} sessions"):
        pdf = pd.DataFrame({c: subset[c].to_numpy() for c in subset.columns})
        start = time.perf_counter()
        pandas_baseline(pdf, models)
        slow = time.perf_counter() - start
    console.print(
        f"subset {SUBSET_EPISODES} episodes / {subset_sessions} sessions: columnar {fast:.3f} s, "
        f"pandas per-episode {slow:.1f} s, ratio {slow / fast:.0f}x"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
