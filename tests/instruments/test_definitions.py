"""Definitions load, validate against the schema, and keep the licensing pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.instruments import INSTRUMENT_IDS, InstrumentError, list_instruments, load_instrument
from alliance.instruments.registry import _definition_text, parse_definition


def test_it_lists_the_seven_instruments() -> None:
    assert [i.id for i in list_instruments()] == list(INSTRUMENT_IDS)


@pytest.mark.parametrize(
    ("instrument_id", "ships"),
    [
        ("phq9", True),
        ("gad7", True),
        ("core10", True),
        ("ors", False),
        ("srs", False),
        ("wai_sr", False),
        ("gbo", True),
    ],
)
def test_it_ships_wording_only_where_the_licence_allows(instrument_id: str, ships: bool) -> None:
    instrument = load_instrument(instrument_id)
    assert instrument.wording_ships is ships
    assert all((item.text is not None) is ships for item in instrument.items)


def test_it_shows_dimension_names_for_unshipped_wording() -> None:
    assert [i.label for i in load_instrument("ors").items] == [
        "Individually",
        "Interpersonally",
        "Socially",
        "Overall",
    ]
    assert [i.label for i in load_instrument("srs").items] == [
        "Relationship",
        "Goals and topics",
        "Approach or method",
        "Overall",
    ]
    wai = load_instrument("wai_sr")
    assert wai.subscales == {
        "task": ("1", "2", "10", "12"),
        "bond": ("3", "5", "7", "9"),
        "goal": ("4", "6", "8", "11"),
    }
    assert wai.items[0].label == "Task 1"


def test_it_keys_core10_as_published() -> None:
    core = load_instrument("core10")
    assert [i.id for i in core.items if i.reversed] == ["2", "3"]
    assert [(r.item, r.at_least) for r in core.risk_items] == [("6", 1)]
    assert core.scoring.max_missing == 1
    assert (
        core.licence.notice
        == "© CORE System Trust: https://www.coresystemtrust.org.uk/copyright.pdf"
    )


def test_it_keeps_the_core10_notice_apart_from_the_code_licence() -> None:
    notice = Path(__file__).parents[2] / "LICENSES" / "CORE-10.txt"
    assert "CORE System Trust" in notice.read_text(encoding="utf-8")


def test_it_refuses_a_definition_that_breaks_the_schema() -> None:
    text = _definition_text("phq9").replace("max_missing: 2", "max_missing: 9")
    with pytest.raises(InstrumentError, match="max_missing must leave at least one item answered"):
        parse_definition(text, origin="phq9.yaml")
    text = _definition_text("gad7").replace("{code: 2, label", "{code: 5, label")
    with pytest.raises(InstrumentError, match="ordinal codes must be consecutive"):
        parse_definition(text, origin="gad7.yaml")
    text = _definition_text("ors").replace(
        'label: "Overall", scale: line}', 'label: "Overall", scale: line, text: "x"}'
    )
    with pytest.raises(InstrumentError, match="wording does not ship"):
        parse_definition(text, origin="ors.yaml")


def test_it_refuses_an_unknown_field() -> None:
    text = _definition_text("srs") + "\nvendor_bands: []\n"
    with pytest.raises(InstrumentError, match="vendor_bands: Extra inputs are not permitted"):
        parse_definition(text, origin="srs.yaml")
