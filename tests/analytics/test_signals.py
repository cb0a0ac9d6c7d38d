"""Signals: each rule on a worked example (a small table, each number checkable by hand), with
evidence, next steps, stable keys and acknowledged state; and a client's signals do not depend
on who else is in the data.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.analytics import (
    NEXT_STEPS,
    PRESETS,
    EtrModel,
    Signal,
    signals,
    signals_frame,
    synthetic_caseload,
)


def frame(rows: list[tuple[str, str, int, float, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "episode_id": [r[0] for r in rows],
            "client_id": [r[0] for r in rows],
            "therapist_id": ["t1"] * len(rows),
            "instrument": [r[1] for r in rows],
            "session": [r[2] for r in rows],
            "total": [float(r[3]) for r in rows],
            "risk": [r[4] for r in rows],
        },
        schema_overrides={"session": pl.Int64, "total": pl.Float64},
    )


def series(
    episode: str, instrument: str, totals: list[float]
) -> list[tuple[str, str, int, float, bool]]:
    return [(episode, instrument, s, x, False) for s, x in enumerate(totals, start=1)]


def kinds(found: list[Signal]) -> list[tuple[str, str, int]]:
    return [(s.kind, s.evidence["rule"], s.session) for s in found]


def runs(found: list[Signal], kind: str) -> list[tuple[int, int | None, bool]]:
    return [(s.session, s.last_session, s.open) for s in found if s.kind == kind]


# A client who improves, then deteriorates (PHQ-9, reliable change 6):
# session  1   2   3   4   5
# PHQ-9   18  12   9  15  25     s5: 25 − 18 = 7 ≥ 6 worse than intake -> reliable deterioration
# SRS     38  38  35  38  30     s3 below 36 and down 3; s5 below 36 and down 8
IMPROVES_THEN_DETERIORATES = [
    ("e1", "phq9", 1, 18.0, False),
    ("e1", "phq9", 2, 12.0, False),
    ("e1", "phq9", 3, 9.0, False),
    ("e1", "phq9", 4, 15.0, False),
    ("e1", "phq9", 5, 25.0, True),
    *series("e1", "srs", [38, 38, 35, 38, 30]),
]


def test_it_raises_each_signal_for_a_client_who_improves_then_deteriorates() -> None:
    found = signals(frame(IMPROVES_THEN_DETERIORATES), models={})
    got = kinds(found)
    # Risk comes first, whatever else is there.
    assert got[0] == ("risk_item", "risk_item", 5)
    assert ("reliable_deterioration", "reliable_change", 5) in got
    assert ("alliance_low", "below_cutoff", 3) in got
    assert ("alliance_low", "below_cutoff", 5) in got
    # Both falls take the SRS below 36, so both count as drops.
    assert ("alliance_drop", "drop_that_matters", 3) in got
    assert ("alliance_drop", "drop_that_matters", 5) in got
    # s3: 3 below the mean of 38, 38 (threshold 2) -> rupture, back to 38 at s4 (repaired);
    # s5: 7.25 below the mean of 38, 38, 35, 38 (SD 1.5 -> threshold 3) -> rupture, still open.
    assert runs(found, "rupture") == [(5, 5, True), (3, 3, False)]
    assert ("repair", "stiles-like", 4) in got
    assert not any(k == "reliable_deterioration" and s < 5 for k, _, s in got)
    severities = [s.severity for s in found]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)


def test_it_attaches_evidence_and_next_steps() -> None:
    found = signals(frame(IMPROVES_THEN_DETERIORATES), models={})
    deterioration = next(s for s in found if s.kind == "reliable_deterioration")
    assert deterioration.evidence["score"] == 25.0
    assert deterioration.evidence["reference"] == 18.0
    assert "PHQ-9" in deterioration.evidence["detail"]
    assert "phq9" not in deterioration.evidence["detail"]
    assert "Jacobson & Truax 1991" in deterioration.evidence["source"]
    assert deterioration.next_steps == NEXT_STEPS["reliable_deterioration"]
    risk = found[0]
    assert "PHQ-9 item 9 (Thoughts of self-harm)" in risk.evidence["detail"]


# Flat outcomes: no reliable improvement, flagged by the 7th rating whatever the model.
# session        1   2   3   4   5   6   7   8 ...
# PHQ-9 at 15   15  15  15  15  15  15  15  15 ...   15 − 15 = 0 < 6 at rating 7 -> no change
# PHQ-9 at 20   20  20 ...                           the same from rating 7
# ORS at 18     18  18 ...                           18 − 18 = 0 < 5 (ORS 18 < 25: clinical)
def test_it_flags_flat_phq9_and_ors_by_session_8_whatever_the_shipped_model() -> None:
    rows = [
        *series("phq15", "phq9", [15] * 12),
        *series("phq20", "phq9", [20] * 12),
        *series("ors18", "ors", [18] * 10),
    ]
    # models=None: the shipped models, fitted on synthetic episodes, which never decide.
    found = [s for s in signals(frame(rows)) if s.kind in ("no_change", "not_on_track")]
    by_episode = {s.episode_id: (s.kind, s.session, s.last_session, s.open) for s in found}
    assert by_episode == {
        "phq15": ("no_change", 7, 12, True),
        "phq20": ("no_change", 7, 12, True),
        "ors18": ("no_change", 7, 10, True),
    }
    detail = next(s for s in found if s.episode_id == "phq15").evidence["detail"]
    assert "rule-based" in detail
    assert "your clinic's closed episodes" in detail
    assert "House rule" in found[0].evidence["source"]


def test_it_never_flags_a_steady_recoverer() -> None:
    # session  1   2   3   4   5   6   7   8   9  10
    # PHQ-9   18  16  14  12  10   8   7   6   5   5    reliably improved (18 − 12 = 6) from s4
    rows = series("r", "phq9", [18, 16, 14, 12, 10, 8, 7, 6, 5, 5])
    clinic = EtrModel("phq9", (0.5, 0.95, -1.0, -0.15), (3.0, 2.0), 0.9, 500, 5000, "t", "test")
    assert signals(frame(rows)) == []
    assert signals(frame(rows), models={"phq9": clinic}) == []


def test_it_does_not_call_a_client_outside_the_clinical_range_unchanged() -> None:
    # PHQ-9 at 6 throughout: below caseness (10) at intake, so little room to improve reliably.
    assert signals(frame(series("mild", "phq9", [6] * 9))) == []


def test_it_flags_a_low_first_alliance_as_low_not_as_a_rupture() -> None:
    # session  1   2   3   4
    # SRS     34  37  38  39    s1 below 36: alliance low, cleared from s2; no rupture.
    found = signals(frame(series("first", "srs", [34, 37, 38, 39])))
    assert kinds(found) == [("alliance_low", "below_cutoff", 1)]
    assert runs(found, "alliance_low") == [(1, 1, False)]


def test_it_marks_a_v_shaped_rupture_and_its_repair_at_the_right_sessions() -> None:
    # session  1   2   3   4   5   6   7
    # SRS     38  38  38  30  34  38  38
    # s4: 8 below the mean of 38, 38, 38 (SD 0 -> threshold 2): rupture; back to 38 at s6.
    # s4-s5 below 36: one "alliance low", cleared at s6; s4 fell 8 to below 36: a drop.
    found = signals(frame(series("v", "srs", [38, 38, 38, 30, 34, 38, 38])))
    assert runs(found, "rupture") == [(4, 5, False)]
    assert runs(found, "repair") == [(6, 6, False)]
    assert runs(found, "alliance_low") == [(4, 5, False)]
    assert runs(found, "alliance_drop") == [(4, 4, False)]
    rupture = next(s for s in found if s.kind == "rupture")
    assert rupture.severity == "medium"
    assert rupture.key == "rupture:stiles-like:v:srs:4"
    # The evidence quotes the client's real ratings.
    assert "ratings 38, 38, 38 | 30, 34 | 38" in rupture.evidence["detail"]
    assert "repaired at session 6" in rupture.evidence["detail"]


def test_it_keeps_a_sustained_fall_open_as_an_unrepaired_rupture() -> None:
    # session  1   2   3   4   5   6   7
    # SRS     38  38  38  31  31  31  31    never back to 36: unrepaired, open, high.
    found = signals(frame(series("fall", "srs", [38, 38, 38, 31, 31, 31, 31])))
    rupture = next(s for s in found if s.kind == "rupture")
    assert (rupture.session, rupture.last_session, rupture.open) == (4, 7, True)
    assert rupture.severity == "high"
    assert "not repaired" in rupture.evidence["detail"]


def test_it_raises_a_slow_decline_as_its_own_signal() -> None:
    # session  1    2     3    4     5    6     7    8     9
    # SRS     39  38.5   38  37.5   37  36.5   36  35.5   35
    # First three ratings: mean 38.5. From s6 the rating is 2 or more below it, the slope of the
    # last four is −0.5 a session and no single fall reaches 2: a slow decline, s6 to s9.
    # No rupture (each rating is under 2 SD and 2 points below the mean of the earlier ones);
    # below 36 from s8.
    found = signals(frame(series("slide", "srs", [39, 38.5, 38, 37.5, 37, 36.5, 36, 35.5, 35])))
    assert runs(found, "alliance_decline") == [(6, 9, True)]
    assert runs(found, "alliance_low") == [(8, 9, True)]
    assert runs(found, "rupture") == []


def test_it_ignores_a_small_dip_above_the_cutoff() -> None:
    # SRS 39.3, 39.3, 38.0, 38, 39: a 1.3-point dip, above 36 and under the 2-point floor.
    assert signals(frame(series("dip", "srs", [39.3, 39.3, 38.0, 38, 39]))) == []


def test_it_raises_nothing_on_a_flat_high_alliance() -> None:
    rows = series("f", "srs", [39, 39, 39.5, 39, 39, 39.5])
    assert signals(frame(rows), models={}, rupture_config=PRESETS["stiles-like"]) == []


def test_it_raises_risk_from_a_form_that_could_not_be_scored() -> None:
    # A CORE-10 with item 6 ("plans to end my life") at 4 and two items blank cannot be scored,
    # but its risk item still comes first.
    unscored = pl.DataFrame(
        {
            "episode_id": ["e9"],
            "client_id": ["c9"],
            "therapist_id": ["t1"],
            "session": [3],
            "instrument": ["core10"],
        }
    )
    found = signals(frame(series("e1", "srs", [38, 38, 38])), unscored_risk=unscored)
    assert [(s.kind, s.evidence["rule"], s.episode_id, s.session) for s in found] == [
        ("risk_item", "risk_item_unscored", "e9", 3)
    ]
    assert "CORE-10 item 6 (Plans to end life)" in found[0].evidence["detail"]
    assert found[0].severity == "critical"


def test_it_keeps_keys_stable_and_marks_acknowledged() -> None:
    data = frame(IMPROVES_THEN_DETERIORATES)
    first = signals(data, models={})
    again = signals(data.sample(fraction=1.0, shuffle=True, seed=1), models={})
    assert [s.key for s in first] == [s.key for s in again]
    assert len({s.key for s in first}) == len(first)
    seen = "risk_item:risk_item:e1:phq9:5"
    marked = signals(data, models={}, acknowledged={seen})
    assert [s.key for s in marked if s.acknowledged] == [seen]


def test_it_keeps_the_key_of_a_continuing_problem_as_sessions_are_added() -> None:
    # A flat PHQ-9: "no change" begins at rating 7 and carries on; the key names rating 7.
    eight = signals(frame(series("flat", "phq9", [15] * 8)))
    nine = signals(frame(series("flat", "phq9", [15] * 9)))
    assert (
        [s.key for s in eight]
        == [s.key for s in nine]
        == ["no_change:no_reliable_improvement:flat:phq9:7"]
    )
    assert (eight[0].last_session, nine[0].last_session) == (8, 9)


def test_it_handles_an_empty_frame() -> None:
    assert signals(frame([]), models={}) == []


def test_it_can_keep_only_the_signals_still_open() -> None:
    found = signals(frame(IMPROVES_THEN_DETERIORATES), models={}, latest_only=True)
    assert {s.session for s in found} == {5}
    assert all(s.open for s in found)


def test_it_does_not_call_a_tie_with_the_lowest_rating_a_new_lowest() -> None:
    # session  1   2   3     4     5
    # SRS     39  39  38.5  38.5  39    s4 equals the lowest so far (38.5): not lower, no alert.
    # Many episodes, so the series numbers are large: the running minimum must stay exact there.
    scores = [39.0, 39.0, 38.5, 38.5, 39.0]
    rows = [(f"e{e:05d}", "srs", s, x, False) for e in range(3000) for s, x in enumerate(scores, 1)]
    found = signals(frame(rows), models={}, rupture_config=PRESETS["openfit-low"])
    assert [s for s in found if s.evidence["rule"] == "lowest_so_far"] == []
    # s4 at 36.5: below 38.5 and 2.33 below the mean of 39, 39, 38.5 -> a new lowest.
    lower = [(e, i, n, 36.5 if n == 4 else x, r) for e, i, n, x, r in rows]
    found = signals(frame(lower), models={}, rupture_config=PRESETS["openfit-low"])
    assert sum(s.evidence["rule"] == "lowest_so_far" for s in found) == 3000


def test_it_gives_each_signal_the_therapist_of_its_own_row() -> None:
    # The episode moves from therapist t1 to t2 at session 3; both risk items are reported
    # with the therapist recorded on their own row.
    data = frame(
        [
            ("e1", "phq9", 1, 18.0, True),
            ("e1", "phq9", 2, 17.0, False),
            ("e1", "phq9", 3, 16.0, True),
        ]
    ).with_columns(pl.Series("therapist_id", ["t1", "t1", "t2"]))
    risks = [s for s in signals(data, models={}) if s.kind == "risk_item"]
    assert [(s.session, s.therapist_id, s.episode_id) for s in risks] == [
        (1, "t1", "e1"),
        (3, "t2", "e1"),
    ]


def _mine(table: pl.DataFrame, episode: str) -> list[tuple[object, ...]]:
    mine = table.filter(pl.col("episode_id") == episode).drop("therapist_id")
    # NaN is not equal to itself; an absent reference is compared as None.
    return mine.with_columns(pl.col(pl.Float64).fill_nan(None)).rows()


def test_it_gives_a_client_the_same_signals_alone_and_inside_a_large_file() -> None:
    me = frame(IMPROVES_THEN_DETERIORATES + series("e1", "ors", [20, 20, 20, 20, 20, 20, 20]))
    others = synthetic_caseload(3000, seed=5).frame.with_columns(
        pl.col("episode_id").cast(pl.String),
        pl.col("client_id").cast(pl.String),
        pl.col("therapist_id").cast(pl.String),
    )
    crowd = pl.concat([me, others.select(me.columns)], how="vertical")
    alone = signals_frame(me)
    together = signals_frame(crowd)
    assert _mine(together, "e1") == _mine(alone, "e1")
    assert alone.height >= 8


totals = st.lists(st.integers(min_value=0, max_value=40).map(float), min_size=1, max_size=10)
episodes = st.fixed_dictionaries(
    {"phq9": totals.map(lambda v: [min(x, 27.0) for x in v]), "srs": totals}
)


@settings(max_examples=60, deadline=None)
@given(mine=episodes, others=st.lists(episodes, max_size=4))
def test_it_never_changes_a_clients_signals_when_others_are_added(
    mine: dict[str, list[float]], others: list[dict[str, list[float]]]
) -> None:
    def rows(
        name: str, measures: dict[str, list[float]]
    ) -> list[tuple[str, str, int, float, bool]]:
        return [r for m, v in measures.items() for r in series(name, m, v)]

    alone = signals_frame(frame(rows("me", mine)))
    crowd = rows("me", mine) + [r for i, o in enumerate(others) for r in rows(f"o{i}", o)]
    together = signals_frame(frame(crowd))
    assert _mine(together, "me") == _mine(alone, "me")
