"""Clinic figures: intervals checked by hand, and small-n warnings."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.analytics import clinic_figures, fisher_interval, wilson
from alliance.analytics.clinic import too_few
from alliance.instruments import Referral, count_referrals


def test_it_computes_wilson_intervals_by_hand() -> None:
    # k = 8 of n = 10, z = 1.96: centre (0.8 + 1.9208/10)/(1 + 0.38416) = 0.71678,
    # half = 1.96·√(0.016 + 0.0009604)/1.38416 = 0.18441 -> [0.4902, 0.9433] (Newcombe 1998).
    low, high = wilson(np.array([8.0]), np.array([10.0]))
    assert low[0] == pytest.approx(0.4902, abs=1e-4)
    assert high[0] == pytest.approx(0.9433, abs=1e-4)


def test_it_computes_fisher_intervals_by_hand() -> None:
    # r = 0.5, n = 28: z = 0.5493, se = 1/5 = 0.2 -> tanh(0.1573) = 0.1560, tanh(0.9413) = 0.7358
    low, high = fisher_interval(np.array([0.5]), np.array([28.0]))
    assert low[0] == pytest.approx(0.1560, abs=1e-3)
    assert high[0] == pytest.approx(0.7358, abs=1e-3)


def _episode(
    eid: str, therapist: str, phq: list[float], srs: list[float]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, x in enumerate(phq, start=1):
        rows.append(
            {
                "episode_id": eid,
                "therapist_id": therapist,
                "session": i,
                "instrument": "phq9",
                "total": x,
            }
        )
    for i, x in enumerate(srs, start=1):
        rows.append(
            {
                "episode_id": eid,
                "therapist_id": therapist,
                "session": i,
                "instrument": "srs",
                "total": x,
            }
        )
    return rows


def test_it_gives_figures_per_therapist_and_overall() -> None:
    # episode  therapist  PHQ-9 pre -> post  change  class (RC 6, caseness >= 10)
    # a1       ana        20 -> 8            -12     reliable improvement, recovered
    # a2       ana        15 -> 12           -3      unchanged, still a case
    # b1       ben        12 -> 19           +7      reliable deterioration
    rows = (
        _episode("a1", "ana", [20, 14, 8], [36, 38, 39])
        + _episode("a2", "ana", [15, 13, 12], [30, 32, 33])
        + _episode("b1", "ben", [12, 15, 19], [35, 34, 34])
    )
    frame = pl.DataFrame(rows).with_columns(pl.col("episode_id").alias("client_id"))
    figures = {r["therapist_id"]: r for r in clinic_figures(frame).to_dicts()}
    ana, ben, everyone = figures["ana"], figures["ben"], figures["(all)"]
    assert (ana["n_pre_post"], ana["n_reliable_improvement"], ana["n_recovered"]) == (2, 1, 1)
    assert ana["pct_reliable_improvement"] == pytest.approx(50.0)
    assert ben["n_reliable_deterioration"] == 1
    assert everyone["n_episodes"] == 3
    assert everyone["pct_reliable_deterioration"] == pytest.approx(100 / 3)
    # Mean alliance over ana's six SRS ratings: (36+38+39+30+32+33)/6 = 34.667
    assert ana["mean_alliance"] == pytest.approx(34.6667, abs=1e-3)
    # Effect size: mean improvement (12 + 3 − 7)/3 = 2.667 over SD of intakes (20, 15, 12) = 4.041
    assert everyone["effect_size"] == pytest.approx(2.6667 / 4.0415, abs=1e-3)
    assert everyone["outcome_instrument"] == "phq9"
    assert any("fewer than 50" in w for w in everyone["warnings"])
    assert not math.isnan(everyone["pct_reliable_improvement_low"])


def test_it_counts_dropout_among_closed_episodes() -> None:
    rows = _episode("a1", "ana", [20, 8], [36, 38]) + _episode("a2", "ana", [15, 14], [30, 32])
    frame = pl.DataFrame(rows).with_columns(
        pl.col("episode_id").alias("client_id"),
        pl.lit(True).alias("closed"),
        (pl.col("episode_id") == "a2").alias("dropout"),
    )
    ana = clinic_figures(frame).to_dicts()[0]
    assert (ana["n_closed"], ana["n_dropout"], ana["pct_dropout"]) == (2, 1, 50.0)


@pytest.mark.parametrize("step", [1, 1_000_000])
def test_it_counts_distinct_sessions_per_stage(step: int) -> None:
    # episode a1: sessions 1-2 commitment, 3-4 process (each session rated on PHQ-9 and SRS,
    # so every session appears twice); a2: session 1 commitment, 2 change, 3 has no stage.
    # Mean sessions per episode: commitment (2 + 1)/2 = 1.5, process (2 + 0)/2 = 1.0,
    # change (0 + 1)/2 = 0.5, termination 0. Session numbers far apart (step 1,000,000) must
    # count the same as consecutive ones.
    rows = _episode("a1", "ana", [20, 14, 8, 7], [36, 38, 39, 39]) + _episode(
        "a2", "ana", [15, 13, 12], [30, 32, 33]
    )
    stages = {
        ("a1", 1): "commitment",
        ("a1", 2): "commitment",
        ("a1", 3): "process",
        ("a1", 4): "process",
        ("a2", 1): "commitment",
        ("a2", 2): "change",
    }
    for row in rows:
        row["stage"] = stages.get((str(row["episode_id"]), int(str(row["session"]))))
        row["session"] = 1 + (int(str(row["session"])) - 1) * step
    frame = pl.DataFrame(rows).with_columns(pl.col("episode_id").alias("client_id"))
    ana = clinic_figures(frame).to_dicts()[0]
    assert ana["mean_sessions_commitment"] == pytest.approx(1.5)
    assert ana["mean_sessions_process"] == pytest.approx(1.0)
    assert ana["mean_sessions_change"] == pytest.approx(0.5)
    assert ana["mean_sessions_termination"] == pytest.approx(0.0)


def _paired(rows: Sequence[tuple[str, float, float, float, float]]) -> pl.DataFrame:
    """Episodes rated on PHQ-9 and GAD-7 at sessions 1 and 2: (episode, phq first, gad first,
    phq last, gad last); every episode closed."""
    data = []
    for eid, pf, gf, pl_, gl in rows:
        for session, phq, gad in ((1, pf, gf), (2, pl_, gl)):
            data.append((eid, "phq9", session, phq))
            data.append((eid, "gad7", session, gad))
    return pl.DataFrame(
        {
            "episode_id": [d[0] for d in data],
            "client_id": [d[0] for d in data],
            "therapist_id": ["ana"] * len(data),
            "instrument": [d[1] for d in data],
            "session": [d[2] for d in data],
            "total": [float(d[3]) for d in data],
            "closed": [True] * len(data),
        }
    )


# Three clients with PHQ-9 and GAD-7 (caseness PHQ-9 >= 10 or GAD-7 >= 8; reliable change 6, 4):
# client  PHQ-9    GAD-7    at caseness  first -> last   recovered  reliable change
# A       15 -> 4  12 -> 3  yes -> no                     yes        both down: improved
# B        8 -> 8  12 -> 9  yes -> yes (GAD-7 9)          no         GAD-7 down 3 < 4: none
# C       12 -> 9   6 -> 10 yes -> yes (GAD-7 10)         no         GAD-7 up 4: deteriorated
# Paired rule: recovery 1 of 3, reliable improvement 1 of 3, reliable deterioration 1 of 3,
# reliable recovery 1 of 3. PHQ-9 alone would say 2 of 2 recovered (B is not a PHQ-9 case;
# C's PHQ-9 of 9 is below 10) — the figure the paired rule replaces.
THREE = [("A", 15, 12, 4, 3), ("B", 8, 12, 8, 9), ("C", 12, 6, 9, 10)]


def test_it_uses_the_nhs_paired_rule_when_phq9_and_gad7_are_both_there() -> None:
    everyone = (
        clinic_figures(_paired(THREE)).filter(pl.col("therapist_id") == "(all)").row(0, named=True)
    )
    assert everyone["rates_measure"] == "PHQ-9 and GAD-7, NHS Talking Therapies paired rule"
    counts = (
        everyone["n_outcome_episodes"],
        everyone["n_clinical_at_intake"],
        everyone["n_recovered"],
        everyone["n_reliable_improvement"],
        everyone["n_reliable_deterioration"],
        everyone["n_reliable_recovery"],
    )
    assert counts == (3, 3, 1, 1, 1, 1)
    assert everyone["pct_recovery"] == pytest.approx(100 / 3)
    assert everyone["effect_size_measure"] in ("PHQ-9", "GAD-7")
    # Three episodes is below every minimum: the pages show "too few (n = 3)".
    assert too_few(everyone, "recovery") == 3
    assert too_few(everyone, "effect_size") == 3


def test_it_uses_one_measure_and_names_it_without_the_pair() -> None:
    phq_only = _paired(THREE).filter(pl.col("instrument") == "phq9")
    everyone = clinic_figures(phq_only).row(-1, named=True)
    assert everyone["rates_measure"] == "PHQ-9"
    assert (everyone["n_clinical_at_intake"], everyone["n_recovered"]) == (2, 2)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 27), st.integers(0, 21), st.integers(0, 27), st.integers(0, 21)),
        min_size=1,
        max_size=8,
    )
)
def test_it_counts_the_paired_rule_as_nhs_outcome_does(
    scores: list[tuple[int, int, int, int]],
) -> None:
    rows = [
        (f"e{i}", float(a), float(b), float(c), float(d)) for i, (a, b, c, d) in enumerate(scores)
    ]
    everyone = clinic_figures(_paired(rows)).row(-1, named=True)
    counts = count_referrals(
        Referral(pf, gf, pl_, gl, treatment_sessions=2) for pf, gf, pl_, gl in scores
    )
    assert everyone["n_outcome_episodes"] == counts.finished
    assert everyone["n_clinical_at_intake"] == counts.finished - counts.not_at_caseness_first
    assert everyone["n_recovered"] == counts.recovered
    assert everyone["n_reliable_improvement"] == counts.reliably_improved
    assert everyone["n_reliable_deterioration"] == counts.reliably_deteriorated
    assert everyone["n_reliable_recovery"] == counts.reliably_recovered
