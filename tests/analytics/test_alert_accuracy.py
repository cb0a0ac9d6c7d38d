"""Alert accuracy on closed episodes: sensitivity, specificity and PPV checked by hand."""

from __future__ import annotations

import polars as pl
import pytest

from alliance.analytics.evaluation import alert_accuracy


def frame(episodes: dict[str, tuple[bool, list[float]]]) -> pl.DataFrame:
    rows = [
        (eid, closed, session, total)
        for eid, (closed, totals) in episodes.items()
        for session, total in enumerate(totals, start=1)
    ]
    return pl.DataFrame(
        {
            "episode_id": [r[0] for r in rows],
            "client_id": [r[0] for r in rows],
            "therapist_id": ["ana"] * len(rows),
            "instrument": ["phq9"] * len(rows),
            "session": [r[2] for r in rows],
            "total": [float(r[3]) for r in rows],
            "closed": [r[1] for r in rows],
        }
    )


# PHQ-9, closed episodes; "no change" is raised from the 7th rating without reliable improvement.
# episode  ratings                       alert before the last?  ended improved?  counts as
# U1       15 x 8                        yes (s7 < s8)           no               true positive
# U2       20 x 8                        yes                     no               true positive
# U3       16 x 5                        no (ended at s5)        no               false negative
# I1       18 16 14 12 10 10 10 10       no                      yes (18 -> 10)   true negative
# I2       16 x 7, then 9                yes (s7 < s8)           yes (16 -> 9)    false positive
# OPEN     15 x 8, not closed            -                       -                left out
# sensitivity 2/3, specificity 1/2, PPV 2/3.
EPISODES: dict[str, tuple[bool, list[float]]] = {
    "U1": (True, [15.0] * 8),
    "U2": (True, [20.0] * 8),
    "U3": (True, [16.0] * 5),
    "I1": (True, [18, 16, 14, 12, 10, 10, 10, 10]),
    "I2": (True, [16.0] * 7 + [9.0]),
    "OPEN": (False, [15.0] * 8),
}


def test_it_counts_alerts_before_episodes_that_ended_unimproved() -> None:
    everyone = alert_accuracy(frame(EPISODES)).filter(pl.col("therapist_id") == "(all)")
    row = everyone.row(0, named=True)
    counts = (
        row["n_episodes"],
        row["true_positives"],
        row["false_negatives"],
        row["false_positives"],
        row["true_negatives"],
    )
    assert counts == (5, 2, 1, 1, 1)
    assert row["sensitivity"] == pytest.approx(2 / 3)
    assert row["specificity"] == pytest.approx(1 / 2)
    assert row["ppv"] == pytest.approx(2 / 3)
    # Wilson 95% for 2 of 3: 0.2077 to 0.9385.
    assert row["sensitivity_low"] == pytest.approx(0.2077, abs=1e-3)
    assert row["sensitivity_high"] == pytest.approx(0.9385, abs=1e-3)
    assert row["measure"] == "PHQ-9"
    assert any("sensitivity from 3 episodes: fewer than 10" in w for w in row["warnings"])


def test_it_reports_none_without_closed_episodes() -> None:
    row = alert_accuracy(frame({"OPEN": (False, [15.0] * 8)})).row(-1, named=True)
    assert (row["n_episodes"], row["sensitivity"]) == (0, None)
