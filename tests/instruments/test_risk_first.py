"""Risk first: a risk item endorsed is read and named whatever else is wrong with the form."""

from __future__ import annotations

import pytest

from alliance.instruments import load_instrument, score
from alliance.instruments.fhir import import_questionnaire_response, questionnaire_response
from alliance.instruments.risk import endorsed_in_cells, risk_note

# Raw cells as a spreadsheet gives them (item number -> text), and the risk items endorsed.
# instrument  cells                          endorsed  why
# phq9        9="3", 3="7" (out of range)    9         item 9 is valid on its own and >= 1
# phq9        9="0"                          -         "Not at all"
# phq9        9="x"                          -         not a number: nothing to read
# phq9        9="4"                          -         outside 0-3: not an answer
# core10      6="4", 2="" , 5=""             6         item 6 above "Not at all"
CELLS = [
    ("phq9", {9: "3", 3: "7"}, ["9"]),
    ("phq9", {9: "0"}, []),
    ("phq9", {9: "x"}, []),
    ("phq9", {9: "4"}, []),
    ("core10", {6: "4", 2: "", 5: ""}, ["6"]),
]


@pytest.mark.parametrize(("instrument", "cells", "endorsed"), CELLS)
def test_it_reads_the_risk_item_on_its_own(
    instrument: str, cells: dict[int, str], endorsed: list[str]
) -> None:
    assert endorsed_in_cells(load_instrument(instrument), cells) == endorsed


def test_it_names_the_item_in_words() -> None:
    assert risk_note("phq9", ["9"]) == (
        "A risk item was endorsed on this PHQ-9 (item 9, Thoughts of self-harm): review risk "
        "with the client now, whatever else is missing"
    )


def test_it_keeps_the_risk_of_an_incomplete_form_read_from_fhir() -> None:
    # A CORE-10 QuestionnaireResponse with item 6 at 4 and items 2 and 5 unanswered.
    answers: dict[str, float | int | None] = {str(i): 1 for i in range(1, 11)}
    answers["2"] = answers["5"] = None
    answers["6"] = 4
    resource = questionnaire_response("core10", answers, response_id="r9")
    _, read_back, result = import_questionnaire_response(resource.model_dump_json())
    assert read_back["6"] == 4
    assert (result.validity, result.flags) == ("invalid", ["risk:core10:6"])
    assert result.reason is not None
    assert "A risk item was endorsed on this CORE-10" in result.reason


def test_it_keeps_the_batch_and_single_paths_equal_on_a_risky_incomplete_form() -> None:
    from alliance.instruments import score_batch

    row = [1.0, float("nan"), 1.0, 1.0, float("nan"), 4.0, 1.0, 1.0, 1.0, 1.0]
    batch = score_batch("core10", [row]).row(0)
    single = score("core10", {str(i + 1): None if v != v else v for i, v in enumerate(row)})
    assert batch == single
    assert batch.reason is not None
    assert "risk item was endorsed" in batch.reason
