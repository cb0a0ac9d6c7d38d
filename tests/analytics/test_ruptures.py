"""Ruptures and repairs on hand-made alliance series, and the fast path against a plain one."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.analytics import PRESETS, RuptureConfig, detect_ruptures
from tests.analytics.reference import plain_ruptures


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
        }
    )


# Client SDs only, so each episode is judged on its own ratings.
CLIENT_STILES = RuptureConfig.preset("stiles-like", sd_source="client")
CLIENT_STRAUSS = RuptureConfig.preset("strauss-like", sd_source="client")


def test_it_finds_a_v_shaped_rupture_repaired_in_two_sessions() -> None:
    # session:   1   2   3   4   5   6   7
    # score:    38  38  39  30  34  38  38
    # previous-session reference: s4 falls 9 from 39; SD of the others (38,38,39,34,38,38)
    # is 1.8, so k = 1 needs a fall of 1.8. s6 = 38 < 39 (pre-level), s7 = 38 < 39: not back.
    # With pre-level 38 (series below) s6 is the repair, two sessions after s4.
    frame = srs_frame({"v": [38, 38, 38, 30, 34, 38, 38]})
    found = detect_ruptures(frame, CLIENT_STRAUSS).to_dicts()
    assert len(found) == 1
    rupture = found[0]
    assert rupture["start_session"] == 4
    assert rupture["end_session"] == 4
    assert rupture["depth"] == pytest.approx(8.0)
    assert rupture["pre_level"] == 38.0
    assert rupture["repaired"] is True
    assert rupture["repair_session"] == 6


def test_it_marks_a_rupture_never_repaired() -> None:
    frame = srs_frame({"never": [38, 38, 38, 30, 31, 32, 32]})
    found = detect_ruptures(frame, CLIENT_STRAUSS).to_dicts()
    assert [(r["start_session"], r["repaired"], r["repair_session"]) for r in found] == [
        (4, False, None)
    ]


def test_it_treats_a_slow_decline_by_rule() -> None:
    # 39 38 37 36 35 34 33: one point a session.
    decline = srs_frame({"slow": [39, 38, 37, 36, 35, 34, 33]})
    # Previous-session reference: every fall is 1 point, below 1 SD of the other sessions (~2.2).
    assert detect_ruptures(decline, CLIENT_STRAUSS).height == 0
    # OpenFIT: each 1-point drop is flagged; sessions 2-7 are one continuing rupture, not repaired.
    drops = detect_ruptures(decline, PRESETS["openfit-drop"]).to_dicts()
    assert [(r["start_session"], r["end_session"], r["repaired"]) for r in drops] == [(2, 7, False)]
    # Below 36 from session 5 on.
    low = detect_ruptures(decline, PRESETS["openfit-low"]).to_dicts()
    assert [(r["start_session"], r["end_session"], r["lowest"]) for r in low] == [(5, 7, 33.0)]


def test_it_raises_no_false_alarm_on_a_flat_high_alliance() -> None:
    frame = srs_frame({"flat": [39, 39, 39.5, 39, 39, 39.5, 39, 39]})
    for name in PRESETS:
        if name == "openfit-drop":
            continue
        assert detect_ruptures(frame, PRESETS[name]).height == 0, name
    # OpenFIT's drop rule does flag the half-point dips? No: it needs a full point.
    assert detect_ruptures(frame, PRESETS["openfit-drop"]).height == 0


def test_it_flags_an_srs_of_35_at_session_1() -> None:
    frame = srs_frame({"first": [35, 37, 38]})
    found = detect_ruptures(frame, PRESETS["openfit-low"]).to_dicts()
    assert len(found) == 1
    rupture = found[0]
    assert (rupture["start_session"], rupture["reference"], rupture["depth"]) == (1, 36.0, 1.0)
    # No session before it, so the pre-rupture level is the cutoff: session 2 (37) is back.
    assert (rupture["repaired"], rupture["repair_session"]) == (True, 2)


def test_it_uses_the_stricter_sd_when_the_client_is_very_stable() -> None:
    # The stable client's own SD is tiny: a 2-point dip is > 2 SD of their other sessions,
    # but not against the sample's spread (the other client varies widely).
    frame = srs_frame({"stable": [38, 38, 38.5, 36, 38, 38], "varied": [20, 30, 40, 25, 35, 28]})
    client = detect_ruptures(frame, CLIENT_STILES).filter(pl.col("episode_id") == "stable")
    stricter = detect_ruptures(frame, PRESETS["stiles-like"]).filter(
        pl.col("episode_id") == "stable"
    )
    assert client["start_session"].to_list() == [4]
    assert stricter.height == 0


def test_it_refuses_an_unknown_preset_and_bad_settings() -> None:
    with pytest.raises(ValueError, match="unknown; choose one of stiles-like"):
        RuptureConfig.preset("kaplan")
    with pytest.raises(ValueError, match="k: 0"):
        RuptureConfig(k=0)
    with pytest.raises(ValueError, match="repair_window"):
        RuptureConfig(repair_window=0)


def test_it_ignores_outcome_measures() -> None:
    frame = srs_frame({"e": [38, 38, 30, 38]}).with_columns(pl.lit("phq9").alias("instrument"))
    assert detect_ruptures(frame, CLIENT_STRAUSS).height == 0


scores = st.lists(
    st.integers(min_value=0, max_value=400).map(lambda v: v / 10), min_size=1, max_size=12
)


@settings(max_examples=150, deadline=None)
@given(
    series=st.lists(scores, min_size=1, max_size=6),
    rule=st.sampled_from(["sd", "drop", "cutoff"]),
    k=st.sampled_from([0.5, 1.0, 2.0]),
    sd_source=st.sampled_from(["client", "sample", "stricter"]),
    reference=st.sampled_from(["others_mean", "previous"]),
    window=st.integers(min_value=1, max_value=4),
    min_drop=st.sampled_from([0.0, 1.0, 2.5]),
)
def test_it_equals_the_plain_per_episode_detector(
    series: list[list[float]],
    rule: str,
    k: float,
    sd_source: str,
    reference: str,
    window: int,
    min_drop: float,
) -> None:
    config = RuptureConfig(
        rule=rule,  # type: ignore[arg-type]
        k=k,
        sd_source=sd_source,  # type: ignore[arg-type]
        reference=reference,  # type: ignore[arg-type]
        repair_window=window,
        min_drop=min_drop,
    )
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
    assert fast["depth"].to_list() == pytest.approx([p.depth for p in plain], abs=1e-6)
    assert fast["pre_level"].to_list() == pytest.approx([p.pre_level for p in plain], abs=1e-6)
