"""The numpy batch path equals the one-at-a-time path on random valid administrations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.instruments import (
    INSTRUMENT_IDS,
    InstrumentError,
    load_instrument,
    score,
    score_batch,
)


@st.composite
def administrations(draw: st.DrawFn, instrument_id: str) -> list[dict[str, float | int | None]]:
    instrument = load_instrument(instrument_id)
    rows = []
    for _ in range(draw(st.integers(min_value=1, max_value=12))):
        answers: dict[str, float | int | None] = {}
        for item in instrument.items:
            scale = instrument.scale_of(item)
            div = scale.units_per_point
            steps = draw(
                st.integers(min_value=int(scale.low * div), max_value=int(scale.high * div))
            )
            value: float | int = steps if div == 1 else steps / div
            # Missing items, including beyond the pro-rating limit (those must be invalid).
            answers[item.id] = None if draw(st.integers(0, 4)) == 0 else value
        rows.append(answers)
    return rows


@pytest.mark.parametrize("instrument_id", INSTRUMENT_IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_it_scores_a_batch_exactly_as_one_at_a_time(
    instrument_id: str, data: st.DataObject
) -> None:
    rows = data.draw(administrations(instrument_id))
    instrument = load_instrument(instrument_id)
    matrix = np.array(
        [[math.nan if r[i.id] is None else float(r[i.id]) for i in instrument.items] for r in rows]  # type: ignore[arg-type]
    )
    batch = score_batch(instrument_id, matrix)
    assert len(batch) == len(rows)
    for index, answers in enumerate(rows):
        assert batch.row(index) == score(instrument_id, answers)
    frame = batch.to_polars()
    assert frame["total"].to_list() == [score(instrument_id, r).total for r in rows]


def test_it_names_the_row_item_and_value_of_a_bad_batch_cell() -> None:
    matrix = np.zeros((3, 9))
    matrix[2, 4] = 7
    with pytest.raises(
        InstrumentError,
        match=r"phq9 row 2 item 5: value 7.0 is not allowed; allowed: one of 0, 1, 2, 3",
    ):
        score_batch("phq9", matrix)


def test_it_refuses_a_batch_of_the_wrong_shape() -> None:
    with pytest.raises(InstrumentError, match=r"answers have shape \(2, 8\); allowed: \(n, 9\)"):
        score_batch("phq9", np.zeros((2, 8)))
