"""The score frame: checks on bad input, and cutting into series."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from alliance.analytics import FrameError, cut_series


def _frame(episodes: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "episode_id": episodes,
            "client_id": ["c"] * len(episodes),
            "therapist_id": ["t"] * len(episodes),
            "session": list(range(1, len(episodes) + 1)),
            "instrument": ["srs"] * len(episodes),
            "total": [38.0] * len(episodes),
        }
    )


def test_it_refuses_an_empty_episode_id() -> None:
    with pytest.raises(FrameError, match="episode_id"):
        cut_series(_frame(["e1", None, "e1"]))


def test_it_cuts_unsorted_rows_into_series() -> None:
    # rows given out of order: (e2, srs, 1), (e1, srs, 2), (e1, phq9, 1), (e1, srs, 1)
    frame = pl.DataFrame(
        {
            "episode_id": ["e2", "e1", "e1", "e1"],
            "client_id": ["c2", "c1", "c1", "c1"],
            "therapist_id": ["t"] * 4,
            "session": [1, 2, 1, 1],
            "instrument": ["srs", "srs", "phq9", "srs"],
            "total": [30.0, 38.0, 12.0, 37.0],
        }
    )
    series = cut_series(frame)
    # sorted: (e1, phq9, 1), (e1, srs, 1), (e1, srs, 2), (e2, srs, 1)
    assert series.total.tolist() == [12.0, 37.0, 38.0, 30.0]
    assert series.starts.tolist() == [0, 1, 3]
    assert series.lengths.tolist() == [1, 2, 1]
    assert series.episode_starts.tolist() == [0, 3]
    assert series.instruments == ("phq9", "srs")
    assert series.series_codes.tolist() == [0, 1, 1]
    assert series.position.tolist() == [0, 0, 1, 0]
    sub = series.subset(np.array([False, True, True]))
    assert sub.rows.tolist() == [1, 2, 3]
    assert sub.previous()[1] == 37.0
