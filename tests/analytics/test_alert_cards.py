"""Alert cards: one per client and problem, merged next steps, cleared when the condition is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from alliance.analytics import signals_frame
from alliance.analytics.alerts import alerts_to_read, merged_next_steps, open_cards


def frame(rows: Mapping[tuple[str, str], Sequence[float]]) -> pl.DataFrame:
    data = [
        (episode, instrument, session, float(total))
        for (episode, instrument), totals in rows.items()
        for session, total in enumerate(totals, start=1)
    ]
    return pl.DataFrame(
        {
            "episode_id": [r[0] for r in data],
            "client_id": [r[0] for r in data],
            "therapist_id": ["t1"] * len(data),
            "instrument": [r[1] for r in data],
            "session": [r[2] for r in data],
            "total": [r[3] for r in data],
        }
    )


# session  1   2   3   4
# SRS     38  38  38  30    s4: a rupture (8 below 38), below 36, and a fall of 8 to below 36:
#                           three signals, one problem, one card.
# PHQ-9   14  15  16  21    s4: 7 worse than intake (reliable change 6): the outcome card.
OPEN_RUPTURE: dict[tuple[str, str], list[float]] = {
    ("a", "srs"): [38, 38, 38, 30],
    ("a", "phq9"): [14, 15, 16, 21],
}


def test_it_makes_one_card_per_client_and_problem() -> None:
    cards = open_cards(signals_frame(frame(OPEN_RUPTURE)))
    assert cards.select("problem", "kind", "severity").rows() == [
        ("outcome", "reliable_deterioration", "high"),
        ("alliance", "rupture", "high"),
    ]
    alliance = cards.row(1, named=True)
    assert sorted(alliance["kinds"]) == ["alliance_drop", "alliance_low", "rupture"]
    assert alliance["key"] == "rupture:stiles-like:a:srs:4"


def test_it_lists_each_next_step_once() -> None:
    # rupture: talk, goals, supervision; low: the same; drop: talk, goals -> three steps.
    steps = merged_next_steps(["rupture", "alliance_low", "alliance_drop"])
    assert steps == [
        "Talk about the alliance with the client: ask what fits and what does not",
        "Revisit goals and tasks together",
        "Bring it to supervision",
    ]


def test_it_clears_a_card_when_the_condition_clears() -> None:
    # The same client two sessions later: back to 38 at s5 (a repair), PHQ-9 back to 14.
    later = {("a", "srs"): [38, 38, 38, 30, 38], ("a", "phq9"): [14, 15, 16, 21, 14]}
    assert open_cards(signals_frame(frame(later))).height == 0


def test_it_leaves_acknowledged_signals_off_the_card() -> None:
    table = signals_frame(frame(OPEN_RUPTURE))
    keys = set(table.filter(pl.col("kind") == "reliable_deterioration")["key"].to_list())
    acknowledged = signals_frame(frame(OPEN_RUPTURE), acknowledged=keys)
    assert open_cards(acknowledged)["problem"].to_list() == ["alliance"]


def test_it_counts_the_cards_to_read_over_the_history() -> None:
    # s4 starts the deterioration (outcome) and three alliance signals (one alliance card):
    # two cards to read, where the signals alone were four.
    table = signals_frame(frame(OPEN_RUPTURE))
    assert table.height == 4
    assert alerts_to_read(table) == 2
