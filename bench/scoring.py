"""Benchmark: one million PHQ-9 administrations scored by the numpy batch path.

Baseline in the same process: the plain per-administration path (`score`) over a 100,000-row
subset, scaled by 10 to one million (said in the output). Run: python bench/scoring.py
"""

from __future__ import annotations

import time

import numpy as np
from rich.console import Console
from rich.progress import track

from alliance.instruments import score, score_batch

N = 1_000_000
LOOP_N = 100_000
REPEATS = 3


def main() -> None:
    console = Console()
    rng = np.random.default_rng(20240601)
    answers = rng.integers(0, 4, size=(N, 9)).astype(np.float64)
    # About 1% of cells unanswered, so the validity path is exercised.
    answers[rng.random((N, 9)) < 0.01] = np.nan
    score_batch("phq9", answers[:1000])  # warm caches and imports

    batch_times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = score_batch("phq9", answers)
        batch_times.append(time.perf_counter() - start)
    batch_s = min(batch_times)

    rows = [
        {str(j + 1): None if np.isnan(v) else int(v) for j, v in enumerate(row)}
        for row in answers[:LOOP_N].tolist()
    ]
    start = time.perf_counter()
    loop_totals = [score("phq9", r).total for r in track(rows, description="per-row loop")]
    loop_s = (time.perf_counter() - start) * (N / LOOP_N)

    batch_totals = [None if np.isnan(t) else float(t) for t in result.total[:LOOP_N].tolist()]
    assert batch_totals == loop_totals, "batch and loop disagree"
    console.print(f"administrations: {N:,} PHQ-9 (9 items, ~1% cells missing)")
    console.print(f"batch path (numpy), best of {REPEATS}: {batch_s:.3f} s")
    console.print(
        f"per-administration loop: {loop_s:.1f} s for {N:,} "
        f"(timed on {LOOP_N:,} and scaled x{N // LOOP_N})"
    )
    console.print(f"ratio: {loop_s / batch_s:.0f}x")


if __name__ == "__main__":
    main()
