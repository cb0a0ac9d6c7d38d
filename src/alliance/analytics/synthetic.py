"""Synthetic caseloads with known truth, for benchmarks, model checks and the demo model.

Outcome (PHQ-9 by default) follows the expected-response form with known coefficients for
responders; non-responders stay near intake. Alliance (SRS) sits near a client baseline with
occasional V-shaped ruptures. Nothing here is real client data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from alliance.analytics.frame import BoolArray, FloatArray, IntArray, MeasureFacts, measure_facts
from alliance.domain.stages import Stage

TRUE_COEFFICIENTS = (0.5, 0.95, -1.0, -0.15)  # b0, intake, ln(session), intake·ln(session)
TRUE_VARIANCE = (3.0, 2.0)  # residual variance v0 + v1·ln(session)


@dataclass(frozen=True)
class Caseload:
    """A synthetic score frame and, per episode, whether it was built as a non-responder."""

    frame: pl.DataFrame
    non_responder: pl.DataFrame  # episode_id, non_responder


def synthetic_caseload(
    n_episodes: int,
    *,
    mean_sessions: float = 10.0,
    seed: int = 0,
    outcome: str = "phq9",
    alliance: str | None = "srs",
    non_responder_share: float = 0.2,
    closed_share: float = 0.8,
    exact: bool = False,
    episodes_per_therapist: int = 50,
) -> Caseload:
    """Build `n_episodes` episodes (about `mean_sessions` sessions each), sorted by series.

    `exact=True` keeps outcome scores unrounded and unclipped (for parameter-recovery checks).
    """
    rng = np.random.default_rng(seed)
    facts = measure_facts(outcome)
    # Each step draws from `rng` in turn: reordering them changes every caseload of a seed.
    lengths, episode, session = _sessions(rng, n_episodes, mean_sessions)
    total, non_responder_ep = _outcome_totals(
        rng, facts, lengths, episode, session, non_responder_share=non_responder_share, exact=exact
    )
    closed_ep, dropout_ep = _endings(rng, lengths, closed_share)
    span = facts.total_max - facts.total_min
    risk = (rng.random(session.size) < 0.01) & (total >= facts.total_min + span * 0.5)
    dates = _dates(rng, lengths, session)
    common = {
        "episode_id": episode,
        "client_id": episode,
        "therapist_id": episode // max(1, episodes_per_therapist),
        "session": session,
        "date": dates,
        "stage": _stages(lengths, episode, session),
        "closed": closed_ep[episode],
        "dropout": dropout_ep[episode],
    }
    parts = [pl.DataFrame({**common, "instrument": outcome, "total": total, "risk": risk})]
    if alliance is not None:
        alliance_total = _alliance_totals(rng, measure_facts(alliance), lengths, episode, session)
        parts.append(
            pl.DataFrame(
                {
                    **common,
                    "instrument": alliance,
                    "total": alliance_total,
                    "risk": np.zeros(session.size, dtype=np.bool_),
                }
            )
        )
    frame = pl.concat(parts).sort(["episode_id", "instrument", "session"])
    truth = pl.DataFrame(
        {"episode_id": np.arange(n_episodes, dtype=np.int64), "non_responder": non_responder_ep}
    )
    return Caseload(frame=frame, non_responder=truth)


def _sessions(
    rng: np.random.Generator, n_episodes: int, mean_sessions: float
) -> tuple[IntArray, IntArray, IntArray]:
    """Each episode's length; per row, its episode and its session number from 1."""
    lengths = np.clip(rng.poisson(mean_sessions - 2, n_episodes) + 2, 2, 40).astype(np.int64)
    n = int(lengths.sum())
    episode = np.repeat(np.arange(n_episodes, dtype=np.int64), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    session = np.arange(n, dtype=np.int64) - np.repeat(starts, lengths) + 1
    return lengths, episode, session


def _outcome_totals(
    rng: np.random.Generator,
    facts: MeasureFacts,
    lengths: IntArray,
    episode: IntArray,
    session: IntArray,
    *,
    non_responder_share: float,
    exact: bool,
) -> tuple[FloatArray, BoolArray]:
    """Outcome totals per row, and per episode whether it was built as a non-responder."""
    n_episodes = lengths.size
    span = facts.total_max - facts.total_min
    # Intake in the clinical range: about 60% of the scale on a higher-is-worse measure.
    centre = facts.total_min + span * (0.6 if not facts.higher_is_better else 0.4)
    intake_ep = rng.normal(centre, span * 0.15, n_episodes)
    if not exact:
        intake_ep = np.clip(np.rint(intake_ep), facts.total_min, facts.total_max)
    non_responder_ep = rng.random(n_episodes) < non_responder_share
    intake = intake_ep[episode]
    log_s = np.log(session.astype(np.float64))
    b0, b1, b2, b3 = TRUE_COEFFICIENTS
    sign = -facts.sign  # coefficients are written for a higher-is-worse measure
    centred = intake - facts.total_min if sign > 0 else facts.total_max - intake
    expected = b0 + b1 * centred + b2 * log_s + b3 * centred * log_s
    stuck = centred + 0.8 * log_s
    mean = np.where(non_responder_ep[episode], stuck, expected)
    spread = np.sqrt(TRUE_VARIANCE[0] + TRUE_VARIANCE[1] * log_s)
    noise = rng.normal(0.0, 1.0, session.size) * spread
    level = mean + noise
    level[session == 1] = centred[session == 1]
    total = facts.total_min + level if sign > 0 else facts.total_max - level
    if not exact:
        total = np.clip(np.rint(total), facts.total_min, facts.total_max)
    return total, non_responder_ep


def _endings(
    rng: np.random.Generator, lengths: IntArray, closed_share: float
) -> tuple[BoolArray, BoolArray]:
    """Per episode: closed, and (half of the short closed ones) a dropout."""
    closed_ep = rng.random(lengths.size) < closed_share
    dropout_ep = closed_ep & (lengths <= 4) & (rng.random(lengths.size) < 0.5)
    return closed_ep, dropout_ep


def _stages(lengths: IntArray, episode: IntArray, session: IntArray) -> npt.NDArray[np.str_]:
    """Two sessions of commitment, then process, change from 70% of the way, termination last."""
    position = session - 1
    last = lengths[episode] - 1
    stage_codes = np.where(
        position < 2, 0, np.where(position >= last, 3, np.where(position >= last * 0.7, 2, 1))
    )
    return np.array([s.value for s in Stage])[stage_codes]


def _dates(
    rng: np.random.Generator, lengths: IntArray, session: IntArray
) -> npt.NDArray[np.datetime64]:
    """Weekly sessions from a start day somewhere in 2024."""
    dates: npt.NDArray[np.datetime64] = (
        np.datetime64("2024-01-01")
        + np.repeat(rng.integers(0, 365, lengths.size), lengths).astype("timedelta64[D]")
        + ((session - 1) * 7).astype("timedelta64[D]")
    )
    return dates


def _alliance_totals(
    rng: np.random.Generator,
    a: MeasureFacts,
    lengths: IntArray,
    episode: IntArray,
    session: IntArray,
) -> FloatArray:
    """Alliance totals per row: steady near a client baseline, with an occasional V."""
    n_episodes = lengths.size
    # Client baselines around 37 of 40 (SRS means in routine care sit in the high 30s).
    base_ep = rng.normal(a.total_max * 0.93, a.total_max * 0.04, n_episodes)
    # Session-to-session noise of about 0.4 points: SRS totals are steady near the ceiling.
    alliance_total = base_ep[episode] + rng.normal(0.0, a.total_max * 0.01, session.size)
    # About one episode in ten has a V: a drop of a sixth of the scale, then recovery.
    ruptured = (rng.random(n_episodes) < 0.1) & (lengths >= 4)
    at = np.where(ruptured, rng.integers(2, np.maximum(lengths - 1, 3)), -1)
    dip = (session == at[episode] + 1) & ruptured[episode]
    alliance_total = alliance_total - dip * a.total_max / 6.0
    clipped: FloatArray = np.clip(np.round(alliance_total, 1), a.total_min, a.total_max)
    return clipped
