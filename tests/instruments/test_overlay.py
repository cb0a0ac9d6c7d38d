"""A clinic's licensed overlay adds wording and is refused when it changes items or scale."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.instruments import InstrumentError, load_instrument, score


def _overlay(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "licensed.yaml"
    path.write_text(body, encoding="utf-8")
    return path


SRS_OK = """
instruments:
  srs:
    items:
      "1": "Licensed relationship wording"
      "2": "Licensed goals wording"
      "3": "Licensed approach wording"
      "4": "Licensed overall wording"
"""


def test_it_overlays_licensed_wording(tmp_path: Path) -> None:
    srs = load_instrument("srs", _overlay(tmp_path, SRS_OK))
    assert srs.overlay_applied is True
    assert srs.items[1].display_text == "Licensed goals wording"
    assert srs.items[1].text is None
    assert load_instrument("srs").items[1].display_text == "Goals and topics"
    assert score(srs, {"1": 9, "2": 9, "3": 9, "4": 9}).total == 36.0


def test_it_accepts_a_scale_restated_exactly(tmp_path: Path) -> None:
    body = SRS_OK + "    scales:\n      line: {type: vas, min: 0, max: 10, step: 0.1}\n"
    assert load_instrument("srs", _overlay(tmp_path, body)).overlay_applied


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "    scales:\n      line: {min: 0, max: 100}\n",
            "overlay licensed.yaml, srs: max 100 changes the scale of srs; "
            "allowed: 10.0 as defined "
            "(an overlay adds wording only)",
        ),
        (
            "    scales:\n      line: {step: 1}\n",
            "overlay licensed.yaml, srs: step 1 changes the scale of srs; allowed: 0.1 as defined "
            "(an overlay adds wording only)",
        ),
    ],
)
def test_it_refuses_an_overlay_that_changes_the_scale(
    tmp_path: Path, extra: str, message: str
) -> None:
    with pytest.raises(InstrumentError) as caught:
        load_instrument("srs", _overlay(tmp_path, SRS_OK + extra))
    assert str(caught.value) == message


def test_it_refuses_changed_options_on_an_item(tmp_path: Path) -> None:
    items = "".join(f'      "{i}": "w{i}"\n' for i in range(2, 13))
    body = (
        "instruments:\n  wai_sr:\n    items:\n"
        '      "1": {text: "w1", options: [0, 1, 2, 3, 4]}\n' + items
    )
    with pytest.raises(
        InstrumentError, match=r"item 1: options \[0, 1, 2, 3, 4\] changes the scale"
    ):
        load_instrument("wai_sr", _overlay(tmp_path, body))


def test_it_refuses_missing_or_extra_items(tmp_path: Path) -> None:
    body = SRS_OK.replace('      "4": "Licensed overall wording"\n', "")
    with pytest.raises(InstrumentError, match="item '4' is missing"):
        load_instrument("srs", _overlay(tmp_path, body))
    body = SRS_OK + '      "5": "extra"\n'
    with pytest.raises(InstrumentError, match="unknown item '5'"):
        load_instrument("srs", _overlay(tmp_path, body))


def test_it_refuses_an_unknown_instrument_in_the_overlay(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match="instrument 'bdi' is unknown"):
        load_instrument("srs", _overlay(tmp_path, "instruments:\n  bdi: {}\n"))
