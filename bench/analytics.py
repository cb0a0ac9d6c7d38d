"""Benchmark: the full analysis (ruptures, ETR flags, signals, clinic figures) on 100,000 episodes.

Synthetic data: 100,000 episodes, about 1,000,000 sessions, a PHQ-9 and an SRS each session.
The data are generated here, written to Parquet, and the columnar analysis runs in a fresh child
process that only reads them, so the child's peak memory is the analysis's own over the input
frame (plus Python and the libraries); generation is not included. The child reports the first
run, the best of several, each stage's best time, the resident memory once the input is loaded
and the peak. A straightforward per-episode pandas implementation then runs on a
100,000-session subset, and the columnar analysis runs on the same subset in this process, for
the ratio. Timings on a shared machine vary with its load: the load average is printed with
the figures.

Run: python bench/analytics.py [--repeats N]
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
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
REPEATS = 5
TARGET_SECONDS = 1.0
TARGET_MIB = 1024.0


def _status_mib(field: str) -> float | None:
    """A memory figure from Linux /proc/self/status, in MiB (None elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mib() -> float:
    """Resident memory now."""
    return _status_mib("VmRSS") or _peak_mib()


def _peak_mib() -> float:
    """Peak resident memory of this process since it started its own program.

    VmHWM, not getrusage's ru_maxrss: on Linux a child started by exec inherits the parent's
    ru_maxrss, which would charge the data generation in the parent to the analysis.
    """
    hwm = _status_mib("VmHWM")
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(path: str, repeats: int) -> None:
    """Read the frame and models, run the analysis `repeats` times, print JSON figures."""
    frame = pl.read_parquet(path)
    models = {
        k: EtrModel.from_dict(v)
        for k, v in json.loads(Path(path + ".models.json").read_text()).items()
    }
    gc.collect()
    loaded_mib = _rss_mib()
    loaded_peak_mib = _peak_mib()
    times: list[float] = []
    stages: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = analyze(frame, models=models)
        times.append(time.perf_counter() - start)
        for name, seconds in result.timings.items():
            stages.setdefault(name, []).append(seconds)
        counts = {
            "rows": result.n_rows,
            "signals": result.signals.height,
            "ruptures": result.ruptures.height,
            "figure_rows": result.figures.height,
        }
        # Drop this run's result before the next, so the peak is one analysis, not two.
        del result
        gc.collect()
    print(
        json.dumps(
            {
                "times": times,
                "stages": {k: min(v) for k, v in stages.items()},
                "loaded_mib": loaded_mib,
                "loaded_peak_mib": loaded_peak_mib,
                "peak_mib": _peak_mib(),
                **counts,
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


def _machine() -> str:
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return (
        f"{platform.machine()}, {os.cpu_count()} CPUs{memory}, {platform.system()}; "
        f"Python {platform.python_version()}, polars {pl.__version__} "
        f"({pl.thread_pool_size()} threads), numpy {np.__version__}"
    )


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def main(repeats: int) -> None:
    console = Console()
    console.print(f"machine: {_machine()}")
    console.print(f"load average at start (1, 5, 15 min): {_load()}")
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
        with console.status(f"Full analysis in a child process, {repeats} runs"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", path, str(repeats)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    times = figures["times"]
    best = min(times)
    console.print(
        f"full analysis, {figures['rows']} rows: first {times[0]:.3f} s, best of {repeats} "
        f"{best:.3f} s, median {float(np.median(times)):.3f} s "
        f"(target < {TARGET_SECONDS:.0f} s: {'met' if best < TARGET_SECONDS else 'NOT met'})"
    )
    console.print(
        "  stages, best of each: "
        + ", ".join(f"{k} {v:.3f} s" for k, v in figures["stages"].items())
    )
    peak = figures["peak_mib"]
    console.print(
        f"child memory: {figures['loaded_mib']:.0f} MiB resident with the input frame loaded "
        f"(peak {figures['loaded_peak_mib']:.0f} MiB while reading it); peak RSS over the "
        f"whole run {peak:.0f} MiB (target < {TARGET_MIB:.0f} MiB: "
        f"{'met' if peak < TARGET_MIB else 'NOT met'}); data generation not included"
    )
    console.print(
        f"  found {figures['signals']} signals, {figures['ruptures']} ruptures, "
        f"{figures['figure_rows']} figure rows"
    )
    subset = frame.filter(pl.col("episode_id") < SUBSET_EPISODES)
    subset_sessions = subset.filter(pl.col("instrument") == "phq9").height
    analyze(subset, models=models)  # warm-up
    fast = math.inf
    for _ in range(3):
        start = time.perf_counter()
        analyze(subset, models=models)
        fast = min(fast, time.perf_counter() - start)
    with console.status(f"pandas per-episode baseline on {subset_sessions} sessions"):
        pdf = pd.DataFrame({c: subset[c].to_numpy() for c in subset.columns})
        start = time.perf_counter()
        pandas_baseline(pdf, models)
        slow = time.perf_counter() - start
    console.print(
        f"subset {SUBSET_EPISODES} episodes / {subset_sessions} sessions: columnar {fast:.3f} s "
        f"(best of 3), pandas per-episode {slow:.1f} s, ratio {slow / fast:.0f}x "
        f"(target >= 50x: {'met' if slow / fast >= 50 else 'NOT met'})"
    )
    console.print(f"load average at end (1, 5, 15 min): {_load()}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--repeats":
        main(int(sys.argv[2]))
    else:
        main(REPEATS)
