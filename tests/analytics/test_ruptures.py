"""Ruptures and repairs on hand-made alliance series, and the fast path against a plain one.

Each worked example is a small table; every number can be checked by hand. The default rule
(stiles-like): a rating at least 2 SD of the client's earlier ratings below their mean, and at
least 2 points, after 2 or more earlier ratings; back within 2 points of that mean (the SRS has
no published reliable change) ends the rupture, and back within 3 ratings is a repair.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.analytics import PRESETS, RuptureConfig, detect_ruptures
from tests.analytics.reference import plain_ruptures

STILES = PRESETS["stiles-like"]


def srs_frame(series: dict[str, list[float]]) -> pl.DataFrame:
    rows = [
        (episode, session, score)
        for episode, scores in series.items()
        for session, score in enumerate(scores, start=1)
    ]
    return pl.DataFrame(
        {
            "episode_id": [r[0] for r in rows],
            "client_id": [r[0] for r in rows],
            "therapist_id": ["t1"] * len(rows),
            "session": [r[1] for r in rows],
            "instrument": ["srs"] * len(rows),
            "total": [float(r[2]) for r in rows],
        },
        schema_overrides={"session": pl.Int64, "total": pl.Float64},
    )


def spans(frame: pl.DataFrame, config: RuptureConfig = STILES) -> list[tuple[object, ...]]:
    found = detect_ruptures(frame, config)
    return list(
        found.select("start_session", "end_session", "repaired", "repair_session", "open").rows()
    )


def test_it_finds_a_v_shaped_rupture_and_its_repair_at_the_right_sessions() -> None:
    # session   1   2   3   4   5   6   7
    # SRS      38  38  38  30  34  38  38
    # s4: earlier mean 38, SD 0 -> threshold max(2 x 0, 2) = 2; fall 8 -> rupture.
    # back within 2 of 38 (>= 36): s5 34 no, s6 38 yes, 2 ratings after s4 -> repaired at s6.
    frame = srs_frame({"v": [38, 38, 38, 30, 34, 38, 38]})
    rupture = detect_ruptures(frame, STILES).row(0, named=True)
    assert (rupture["start_session"], rupture["end_session"]) == (4, 5)
    assert (rupture["repaired"], rupture["repair_session"], rupture["open"]) == (True, 6, False)
    assert (rupture["pre_level"], rupture["lowest"], rupture["depth"]) == (38.0, 30.0, 8.0)
    # The evidence quotes the client's own ratings: before | during | back.
    assert rupture["ratings"] == "38, 38, 38 | 30, 34 | 38"
    assert detect_ruptures(frame, STILES).height == 1


def test_it_never_calls_a_low_first_rating_a_rupture() -> None:
    # session   1   2   3   4
    # SRS      34  37  38  39     s1 has no earlier ratings: the starting alliance, not a
    #                             breakdown of an established one (flagged low by the signals).
    frame = srs_frame({"first": [34, 37, 38, 39]})
    for name, config in PRESETS.items():
        assert spans(frame, config) == [], name


def test_it_needs_two_earlier_ratings() -> None:
    # session   1   2   3
    # SRS      38  30  38     s2 has one earlier rating: not yet an established alliance.
    assert spans(srs_frame({"e": [38, 30, 38]})) == []
    # With two earlier ratings the same fall is a rupture, repaired at once.
    assert spans(srs_frame({"e": [38, 38, 30, 38]})) == [(3, 3, True, 4, False)]


def test_it_judges_a_repair_against_a_level_the_client_can_reach() -> None:
    # session   1   2   3   4     5
    # SRS      40  40  40  36.8  39.6    s4: fall 3.2 >= 2. Back within 2 of 40 (>= 38):
    #                                    39.6 is a repair (only a 40 counted before).
    assert spans(srs_frame({"a": [40, 40, 40, 36.8, 39.6]})) == [(4, 4, True, 5, False)]
    # session   1   2   3     4   5
    # SRS      39  40  39.5  28  38.8   mean 39.5, SD 0.5 -> threshold 2; fall 11.5.
    #                                   38.8 >= 37.5: repaired at s5.
    assert spans(srs_frame({"b": [39, 40, 39.5, 28, 38.8]})) == [(4, 4, True, 5, False)]


def test_it_calls_a_sustained_fall_an_unrepaired_rupture() -> None:
    # session   1   2   3   4   5   6   7
    # SRS      38  38  38  31  31  31  31   s4 falls 7; never back to 36 or more: one rupture,
    #                                       unrepaired and still open at the last rating.
    frame = srs_frame({"fall": [38, 38, 38, 31, 31, 31, 31]})
    rupture = detect_ruptures(frame, STILES).row(0, named=True)
    assert spans(frame) == [(4, 7, False, None, True)]
    assert rupture["depth"] == 7.0


def test_it_closes_a_rupture_the_client_comes_back_from_late() -> None:
    # session   1   2   3   4   5   6   7   8
    # SRS      38  38  38  30  30  30  30  38   back at s8, 4 ratings after s4: not a repair
    #                                           (window 3), but no longer open.
    frame = srs_frame({"late": [38, 38, 38, 30, 30, 30, 30, 38]})
    rupture = detect_ruptures(frame, STILES).row(0, named=True)
    assert spans(frame) == [(4, 7, False, None, False)]
    assert rupture["returned_session"] == 8


def test_it_raises_no_false_alarm_on_a_flat_high_alliance() -> None:
    # Dips of half a point: below every preset's threshold.
    frame = srs_frame({"flat": [39, 39, 39.5, 39, 39, 39.5, 39, 39]})
    for name, config in PRESETS.items():
        assert spans(frame, config) == [], name


def test_it_reads_a_steady_slide_by_rule() -> None:
    # session   1   2   3   4   5   6   7
    # SRS      39  38  37  36  35  34  33
    decline = srs_frame({"slide": [39, 38, 37, 36, 35, 34, 33]})
    # strauss-like: each fall is 1 point from the previous rating, below its 2-point floor.
    assert spans(decline, PRESETS["strauss-like"]) == []
    # stiles-like: s4 is 2 below the mean of 39, 38, 37 (38; SD 1 -> threshold 2), and the
    # client never gets back to 36: an unrepaired rupture from s4.
    assert spans(decline) == [(4, 7, False, None, True)]
    # openfit-drop: s3 falls 1 point after two earlier ratings; never back to 38.5 - 2.
    assert spans(decline, PRESETS["openfit-drop"]) == [(3, 7, False, None, True)]
    # openfit-low: below 36 at s5 after an established mean of 37.5.
    assert spans(decline, PRESETS["openfit-low"]) == [(5, 7, False, None, True)]


def test_it_judges_each_client_on_their_own_ratings_whoever_else_is_in_the_file() -> None:
    # session   1   2   3     4   5   6
    # stable   38  38  38.5  36  38  38   s4: mean 38.17, SD 0.29 -> threshold 2; fall 2.17.
    # varied   20  30  40    25  35  28   a wide spread that once widened the "sample" SD.
    alone = srs_frame({"stable": [38, 38, 38.5, 36, 38, 38]})
    together = srs_frame({"stable": [38, 38, 38.5, 36, 38, 38], "varied": [20, 30, 40, 25, 35, 28]})
    mine = detect_ruptures(together).filter(pl.col("episode_id") == "stable")
    assert spans(alone) == [(4, 4, True, 5, False)]
    assert mine.drop("therapist_id").rows() == detect_ruptures(alone).drop("therapist_id").rows()


def test_it_refuses_an_unknown_preset_and_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown; choose one of stiles-like"):
        RuptureConfig.preset("kaplan")
    with pytest.raises(ValueError, match="k: 0"):
        RuptureConfig(k=0)
    with pytest.raises(ValueError, match="repair_window"):
        RuptureConfig(repair_window=0)
    with pytest.raises(ValueError, match="pooled over other clients"):
        RuptureConfig(sd_source="stricter")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no SD given for srs"):
        detect_ruptures(srs_frame({"e": [38, 38, 30]}), RuptureConfig(sd_source="fixed"))


def test_it_uses_a_fixed_published_sd_when_given_one() -> None:
    # Fixed SD 3 for the SRS: the threshold is 2 x 3 = 6 points. A fall of 5 is not a rupture,
    # a fall of 8 is.
    config = RuptureConfig(sd_source="fixed", fixed_sd={"srs": 3.0})
    assert spans(srs_frame({"e": [38, 38, 38, 33, 38]}), config) == []
    assert spans(srs_frame({"e": [38, 38, 38, 30, 38]}), config) == [(4, 4, True, 5, False)]


def test_it_ignores_outcome_measures() -> None:
    frame = srs_frame({"e": [38, 38, 30, 38]}).with_columns(pl.lit("phq9").alias("instrument"))
    assert detect_ruptures(frame, STILES).height == 0


scores = st.lists(
    st.integers(min_value=0, max_value=400).map(lambda v: v / 10), min_size=1, max_size=12
)
configs = st.builds(
    RuptureConfig,
    rule=st.sampled_from(["sd", "drop", "cutoff"]),
    k=st.sampled_from([0.5, 1.0, 2.0]),
    reference=st.sampled_from(["prior_mean", "previous"]),
    repair_window=st.integers(min_value=1, max_value=4),
    min_drop=st.sampled_from([0.0, 1.0, 2.5]),
    min_prior=st.integers(min_value=1, max_value=3),
)


@settings(max_examples=150, deadline=None)
@given(series=st.lists(scores, min_size=1, max_size=6), config=configs)
def test_it_equals_the_plain_per_episode_detector(
    series: list[list[float]], config: RuptureConfig
) -> None:
    named = {f"e{i:02d}": s for i, s in enumerate(series)}
    fast = detect_ruptures(srs_frame(named), config)
    plain = plain_ruptures(
        {e: list(enumerate(s, start=1)) for e, s in named.items()}, config, cutoff=36.0
    )
    assert fast["episode_id"].to_list() == [p.episode_id for p in plain]
    assert fast["start_session"].to_list() == [p.start_session for p in plain]
    assert fast["end_session"].to_list() == [p.end_session for p in plain]
    assert fast["repaired"].to_list() == [p.repaired for p in plain]
    assert fast["repair_session"].to_list() == [p.repair_session for p in plain]
    assert fast["open"].to_list() == [p.open for p in plain]
    assert fast["depth"].to_list() == pytest.approx([p.depth for p in plain], abs=1e-6)
    assert fast["pre_level"].to_list() == pytest.approx([p.pre_level for p in plain], abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(mine=scores, others=st.lists(scores, max_size=5), config=configs)
def test_it_finds_the_same_ruptures_for_a_client_whoever_else_is_added(
    mine: list[float], others: list[list[float]], config: RuptureConfig
) -> None:
    alone = detect_ruptures(srs_frame({"me": mine}), config)
    crowd = srs_frame({"me": mine} | {f"o{i}": s for i, s in enumerate(others)})
    together = detect_ruptures(crowd, config).filter(pl.col("episode_id") == "me")
    assert together.rows() == alone.rows()
