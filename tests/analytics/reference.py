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


def plain_ruptures(
    episodes: dict[str, list[tuple[int, float]]],
    config: RuptureConfig,
    cutoff: float | None = None,
) -> list[PlainRupture]:
    """`episodes` maps an episode to its (session, score) pairs in session order."""
    everything = [score for pairs in episodes.values() for _, score in pairs]
    sample_sd = statistics.stdev(everything) if len(everything) >= 2 else math.nan
    found: list[PlainRupture] = []
    for episode_id in sorted(episodes):
        pairs = episodes[episode_id]
        scores = [s for _, s in pairs]
        flagged: list[bool] = []
        refs: list[float] = []
        drops: list[float] = []
        for i, x in enumerate(scores):
            others = scores[:i] + scores[i + 1 :]
            previous = scores[i - 1] if i > 0 else math.nan
            if config.rule == "cutoff":
                ref, margin = (cutoff if cutoff is not None else math.nan), 0.0
            elif config.rule == "drop":
                ref, margin = previous, config.drop_points
            else:
                mean_others = statistics.fmean(others) if others else math.nan
                ref = mean_others if config.reference == "others_mean" else previous
                client_sd = statistics.stdev(others) if len(others) >= 2 else math.nan
                if config.sd_source == "client":
                    sd = client_sd
                elif config.sd_source == "sample":
                    sd = sample_sd
                else:
                    candidates = [v for v in (client_sd, sample_sd) if not math.isnan(v)]
                    sd = max(candidates) if candidates else math.nan
                margin = config.k * sd
                if config.min_drop and not math.isnan(margin):
                    margin = max(margin, config.min_drop)
            drop = ref - x
            if math.isnan(drop) or math.isnan(margin):
                hit = False
            elif config.rule == "cutoff":
                hit = drop > 0
            else:
                hit = drop > 0 and drop >= margin - 1e-9
            flagged.append(hit)
            refs.append(ref)
            drops.append(drop)
        i = 0
        while i < len(scores):
            if not flagged[i]:
                i += 1
                continue
            start = i
            while i + 1 < len(scores) and flagged[i + 1]:
                i += 1
            end = i
            pre = scores[start - 1] if start > 0 else refs[start]
            repair = None
            for j in range(end + 1, min(end + config.repair_window, len(scores) - 1) + 1):
                if scores[j] >= pre:
                    repair = j
                    break
            found.append(
                PlainRupture(
                    episode_id=episode_id,
                    start_session=pairs[start][0],
                    end_session=pairs[end][0],
                    depth=max(drops[start : end + 1]),
                    pre_level=pre,
                    repaired=repair is not None,
                    repair_session=pairs[repair][0] if repair is not None else None,
                )
            )
            i += 1
    return found
