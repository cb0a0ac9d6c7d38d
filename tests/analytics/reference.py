"""A plain per-episode rupture detector, written for clarity, to check the vectorised one."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from alliance.analytics import RuptureConfig


@dataclass(frozen=True)
class PlainRupture:
    episode_id: str
    start_session: int
    end_session: int
    depth: float
    pre_level: float
    repaired: bool
    repair_session: int | None
    open: bool


def plain_ruptures(
    episodes: dict[str, list[tuple[int, float]]],
    config: RuptureConfig,
    cutoff: float | None = None,
    tolerance: float | None = None,
) -> list[PlainRupture]:
    """`episodes` maps an episode to its (session, score) pairs in session order.

    Each episode is read on its own: nothing about one episode depends on another.
    """
    reach = config.min_drop if tolerance is None else tolerance
    found: list[PlainRupture] = []
    for episode_id in sorted(episodes):
        pairs = episodes[episode_id]
        scores = [s for _, s in pairs]
        i = 0
        while i < len(scores):
            earlier = scores[:i]
            if len(earlier) < config.min_prior or not _flagged(scores, i, config, cutoff):
                i += 1
                continue
            pre = statistics.fmean(earlier)
            back = next(
                (j for j in range(i + 1, len(scores)) if scores[j] >= pre - reach - 1e-9), None
            )
            end = back - 1 if back is not None else len(scores) - 1
            repaired = back is not None and back - i <= config.repair_window
            found.append(
                PlainRupture(
                    episode_id=episode_id,
                    start_session=pairs[i][0],
                    end_session=pairs[end][0],
                    depth=pre - min(scores[i : end + 1]),
                    pre_level=pre,
                    repaired=repaired,
                    repair_session=pairs[back][0] if repaired and back is not None else None,
                    open=back is None,
                )
            )
            i = end + 1
    return found


def _flagged(scores: list[float], i: int, config: RuptureConfig, cutoff: float | None) -> bool:
    earlier = scores[:i]
    x = scores[i]
    mean = statistics.fmean(earlier)
    if config.rule == "cutoff":
        return cutoff is not None and cutoff - x > 1e-9 and mean >= cutoff - 1e-9
    if config.rule == "drop":
        fall = earlier[-1] - x
        return fall > 1e-9 and fall >= config.drop_points - 1e-9
    sd = statistics.stdev(earlier) if len(earlier) >= 2 else math.nan
    margin = config.min_drop if math.isnan(sd) else max(config.k * sd, config.min_drop)
    reference = mean if config.reference == "prior_mean" else earlier[-1]
    fall = reference - x
    return fall > 1e-9 and fall >= margin - 1e-9
