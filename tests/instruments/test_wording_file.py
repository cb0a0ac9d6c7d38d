"""A clinic's licensed wording file, checked against the measure's items, ends and instruction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alliance.instruments import InstrumentError, load_instrument
from alliance.instruments.wording import apply_wording, read_wording

WORDING = Path(__file__).resolve().parents[1] / "web" / "wording"


def _srs(**change: object) -> dict[str, object]:
    doc: dict[str, object] = json.loads((WORDING / "srs.json").read_text(encoding="utf-8"))
    doc.update(change)
    return doc


def _read(doc: dict[str, object], instrument: str = "srs") -> dict[str, object]:
    return read_wording(load_instrument(instrument), "x.json", json.dumps(doc).encode())


def test_it_applies_a_wording_file_to_the_form_items_and_keeps_the_scoring() -> None:
    srs = load_instrument("srs")
    shown = apply_wording(srs, _read(_srs()))
    assert shown.instructions is not None
    assert shown.instructions.startswith("Test wording")
    first = shown.items[0]
    assert first.display_text == "Test wording for relationship"
    assert (first.local_low_anchor, first.local_high_anchor) == (
        "Test low end of relationship",
        "Test high end of relationship",
    )
    assert shown.scales == srs.scales
    assert [i.id for i in shown.items] == ["1", "2", "3", "4"]


def test_it_refuses_a_file_with_a_missing_item_naming_it() -> None:
    items = _srs()["items"]
    assert isinstance(items, list)
    with pytest.raises(InstrumentError, match="item 4 is missing: the SRS has items 1 to 4"):
        _read(_srs(items=items[:3]))


def test_it_refuses_a_file_with_an_item_too_many_naming_it() -> None:
    items = _srs()["items"]
    assert isinstance(items, list)
    extra = {"item": "5", "text": "A fifth", "low_anchor": "a", "high_anchor": "b"}
    with pytest.raises(InstrumentError, match="item '5' is one too many: the SRS has items 1 to 4"):
        _read(_srs(items=[*items, extra]))


def test_it_refuses_a_line_without_both_of_its_ends() -> None:
    items = _srs()["items"]
    assert isinstance(items, list)
    del items[1]["high_anchor"]
    with pytest.raises(InstrumentError, match=r"item 2: high_anchor is missing \(a line shows"):
        _read(_srs(items=items))


def test_it_refuses_a_file_without_the_instruction() -> None:
    with pytest.raises(InstrumentError, match="instructions is missing"):
        _read(_srs(instructions=""))


def test_it_refuses_a_file_for_another_measure() -> None:
    with pytest.raises(InstrumentError, match="instrument 'ors' does not match"):
        _read(_srs(instrument="ors"))


def test_it_refuses_anchors_on_an_item_answered_by_its_options() -> None:
    text = (
        (WORDING / "wai_sr.csv")
        .read_text(encoding="utf-8")
        .replace("3,Test statement 3 about the work together,,", "3,Test statement 3,never,always")
    )
    with pytest.raises(InstrumentError, match=r"item 3: anchors are not used.*Seldom"):
        read_wording(load_instrument("wai_sr"), "w.csv", text.encode())


def test_it_reads_the_csv_format_with_its_instruction_row() -> None:
    wording = read_wording(
        load_instrument("wai_sr"), "w.csv", (WORDING / "wai_sr.csv").read_bytes()
    )
    items = wording["items"]
    assert isinstance(items, dict)
    assert len(items) == 12
    assert items["12"] == {"text": "Test statement 12 about the work together"}
    assert str(wording["instructions"]).startswith("Test wording")


def test_it_refuses_a_csv_with_another_header_and_a_file_of_another_kind() -> None:
    wai = load_instrument("wai_sr")
    with pytest.raises(InstrumentError, match="the CSV header is item,words; allowed: item,text"):
        read_wording(wai, "w.csv", b"item,words\n1,x\n")
    with pytest.raises(InstrumentError, match=r"neither \.json nor \.csv"):
        read_wording(wai, "w.txt", b"anything")
