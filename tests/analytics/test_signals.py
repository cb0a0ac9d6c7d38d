"""Signals: each kind with its evidence, next steps, stable key and acknowledged state."""

from __future__ import annotations

import polars as pl

from alliance.analytics import NEXT_STEPS, PRESETS, RuptureConfig, Signal, signals


def frame(rows: list[tuple[str, str, int, float, bool]]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "episode_id": [r[0] for r in rows],
            "client_id": [r[0] for r in rows],
            "therapist_id": ["t1"] * len(rows),
            "instrument": [r[1] for r in rows],
            "session": [r[2] for r in rows],
            "total": [r[3] for r in rows],
            "risk": [r[4] for r in rows],
        }
    )


# A client who improves, then deteriorates (PHQ-9, reliable change 6):
# session  1   2   3   4   5
# PHQ-9   18  12   9  15  25     s5: 25 − 18 = 7 ≥ 6 worse than intake -> reliable deterioration
# SRS     38  38  35  38  30     s3 below 36; s5 below 36 and down 8
IMPROVES_THEN_DETERIORATES = [
    ("e1", "phq9", 1, 18.0, False),
    ("e1", "phq9", 2, 12.0, False),
    ("e1", "phq9", 3, 9.0, False),
    ("e1", "phq9", 4, 15.0, False),
    ("e1", "phq9", 5, 25.0, True),
    ("e1", "srs", 1, 38.0, False),
    ("e1", "srs", 2, 38.0, False),
    ("e1", "srs", 3, 35.0, False),
    ("e1", "srs", 4, 38.0, False),
    ("e1", "srs", 5, 30.0, False),
]


def kinds(found: list[Signal]) -> list[tuple[str, str, int]]:
    return [(s.kind, s.evidence["rule"], s.session) for s in found]


def test_it_raises_each_signal_for_a_client_who_improves_then_deteriorates() -> None:
    found = signals(frame(IMPROVES_THEN_DETERIORATES), models={})
    got = kinds(found)
    # Risk comes first, whatever else is there.
    assert got[0] == ("risk_item", "risk_item", 5)
    assert ("reliable_deterioration", "reliable_change", 5) in got
    assert ("alliance_low", "below_cutoff", 3) in got
    assert ("alliance_low", "below_cutoff", 5) in got
    assert ("alliance_drop", "drop_1_point", 3) in got
    assert ("alliance_drop", "drop_1_point", 5) in got
    # No reliable deterioration while improving (s2-s4 are better than or near intake).
    assert not any(k == "reliable_deterioration" and s < 5 for k, _, s in got)
    severities = [s.severity for s in found]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)


def test_it_attaches_evidence_and_next_steps() -> None:
    found = signals(frame(IMPROVES_THEN_DETERIORATES), models={})
    deterioration = next(s for s in found if s.kind == "reliable_deterioration")
    assert deterioration.evidence["score"] == 25.0
    assert deterioration.evidence["reference"] == 18.0
    assert "Jacobson & Truax 1991" in deterioration.evidence["source"]
    assert deterioration.next_steps == NEXT_STEPS["reliable_deterioration"]
    assert "Bring it to supervision" in deterioration.next_steps
    assert any("goals and tasks" in step for step in deterioration.next_steps)


def test_it_reports_a_rupture_and_its_repair() -> None:
    rows = [("v", "srs", i + 1, float(x), False) for i, x in enumerate([38, 38, 38, 30, 34, 38])]
    config = RuptureConfig.preset("strauss-like", sd_source="client")
    found = signals(frame(rows), models={}, rupture_config=config)
    rupture = next(s for s in found if s.kind == "rupture")
    repair = next(s for s in found if s.kind == "repair")
    assert (rupture.session, rupture.severity) == (4, "medium")
    assert "repaired at session 6" in rupture.evidence["detail"]
    assert (repair.session, repair.severity) == (6, "info")
    assert rupture.key == "rupture:strauss-like:v:srs:4"


def test_it_keeps_keys_stable_and_marks_acknowledged() -> None:
    data = frame(IMPROVES_THEN_DETERIORATES)
    first = signals(data, models={})
    again = signals(data.sample(fraction=1.0, shuffle=True, seed=1), models={})
    assert [s.key for s in first] == [s.key for s in again]
    assert len({s.key for s in first}) == len(first)
    seen = "risk_item:risk_item:e1:phq9:5"
    marked = signals(data, models={}, acknowledged={seen})
    assert [s.key for s in marked if s.acknowledged] == [seen]


def test_it_raises_nothing_on_a_flat_high_alliance() -> None:
    rows = [
        ("f", "srs", i + 1, float(x), False) for i, x in enumerate([39, 39, 39.5, 39, 39, 39.5])
    ]
    found = signals(frame(rows), models={}, rupture_config=PRESETS["stiles-like"])
    assert found == []


def test_it_handles_an_empty_frame() -> None:
    assert signals(frame([]).cast({"total": pl.Float64, "session": pl.Int64}), models={}) == []


def test_it_can_keep_only_the_latest_session() -> None:
    found = signals(frame(IMPROVES_THEN_DETERIORATES), models={}, latest_only=True)
    assert {s.session for s in found} == {5}


def test_it_does_not_call_a_tie_with_the_lowest_rating_a_new_lowest() -> None:
    # session  1     2     3     4
    # SRS     38.0  37.3  37.3  38.0    s3 equals the lowest so far (37.3): not lower, no alert.
    # Many episodes, so the series numbers are large: the running minimum must stay exact there.
    scores = [38.0, 37.3, 37.3, 38.0]
    rows = [
        (f"e{e:05d}", "srs", s, x, False)
        for e in range(3000)
        for s, x in enumerate(scores, start=1)
    ]
    found = signals(frame(rows), models={}, rupture_config=PRESETS["openfit-low"])
    assert [s for s in found if s.evidence["rule"] == "lowest_so_far"] == []
    # One point lower than the earlier low is a new lowest, in every episode.
    lower = [(e, i, n, x - 1.0 if n == 3 else x, r) for e, i, n, x, r in rows]
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
