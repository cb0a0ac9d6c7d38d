"""FHIR export validates with fhir.resources and round-trips to the same scores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from alliance.instruments import INSTRUMENT_IDS, InstrumentError, load_instrument, score
from alliance.instruments.fhir import (
    import_questionnaire_response,
    observation,
    questionnaire,
    questionnaire_response,
)
from tests.instruments.helpers import answers_for_total

SAMPLES: dict[str, dict[str, float | int | None]] = {
    "phq9": answers_for_total("phq9", 13),
    "gad7": answers_for_total("gad7", 9),
    "core10": {**answers_for_total("core10", 17), "4": None},
    "ors": {"1": 4.5, "2": 5.0, "3": 6.1, "4": 3.3},
    "srs": {"1": 9.9, "2": 8.2, "3": 10.0, "4": 7.5},
    "wai_sr": {str(i): (i % 5) + 1 for i in range(1, 13)},
    "gbo": {"1": 3, "2": None, "3": 7, "4": None, "5": None},
}


@pytest.mark.parametrize("instrument_id", INSTRUMENT_IDS)
def test_it_exports_a_valid_questionnaire(instrument_id: str) -> None:
    resource = questionnaire(instrument_id)
    reparsed = Questionnaire.model_validate_json(resource.model_dump_json())
    instrument = load_instrument(instrument_id)
    assert [i.linkId for i in reparsed.item or []] == [i.id for i in instrument.items]
    if not instrument.wording_ships:
        # Dimension names only: e.g. ORS "Individually".
        assert [i.text for i in reparsed.item or []] == [i.label for i in instrument.items]


def test_it_codes_phq9_and_gad7_with_loinc() -> None:
    phq = questionnaire("phq9")
    assert phq.code is not None
    assert phq.code[0].code == "44249-1"
    result = score("phq9", SAMPLES["phq9"])
    obs = observation(result, response_id="r1")
    assert obs.code.coding is not None
    assert obs.code.coding[0].code == "44261-6"
    gad = observation(score("gad7", SAMPLES["gad7"]))
    assert gad.code.coding is not None
    assert gad.code.coding[0].code == "70274-6"


@pytest.mark.parametrize("instrument_id", INSTRUMENT_IDS)
def test_it_round_trips_a_response_to_the_same_score(instrument_id: str) -> None:
    answers = SAMPLES[instrument_id]
    response = questionnaire_response(instrument_id, answers, response_id="r1")
    text = response.model_dump_json()
    QuestionnaireResponse.model_validate_json(text)
    imported_id, imported, result = import_questionnaire_response(text)
    assert imported_id == instrument_id
    assert result == score(instrument_id, answers)
    assert {k: v for k, v in imported.items() if v is not None} == {
        k: v for k, v in answers.items() if v is not None
    }
    obs = observation(result, response_id="r1")
    Observation.model_validate_json(obs.model_dump_json())
    assert obs.valueQuantity is not None
    assert obs.valueQuantity.value is not None
    assert float(obs.valueQuantity.value) == result.total


def _response(instrument_id: str) -> dict:  # type: ignore[type-arg]
    resource = questionnaire_response(instrument_id, SAMPLES[instrument_id])
    return json.loads(resource.model_dump_json(exclude_none=True))  # type: ignore[no-any-return]


def test_it_rejects_an_unknown_questionnaire() -> None:
    raw = _response("phq9")
    raw["questionnaire"] = "urn:alliance:questionnaire:bdi"
    with pytest.raises(
        InstrumentError, match="questionnaire 'urn:alliance:questionnaire:bdi' is unknown"
    ):
        import_questionnaire_response(raw)


def test_it_rejects_an_unknown_link_id() -> None:
    raw = _response("gad7")
    raw["item"][0]["linkId"] = "8"
    with pytest.raises(InstrumentError, match="gad7 item '8' does not exist; items are 1 to 7"):
        import_questionnaire_response(raw)


def test_it_rejects_an_answer_outside_the_scale() -> None:
    raw = _response("ors")
    raw["item"][0]["answer"][0] = {"valueDecimal": 12.0}
    with pytest.raises(InstrumentError, match=r"ors item 1: value 12\.0 is not allowed"):
        import_questionnaire_response(raw)


def test_it_rejects_a_coding_that_is_not_an_option() -> None:
    raw = _response("phq9")
    raw["item"][0]["answer"][0] = {
        "valueCoding": {"system": "http://loinc.org", "code": "LA0000-0"}
    }
    with pytest.raises(
        InstrumentError, match=r"phq9 item 1: coding http://loinc.org\|LA0000-0 is not allowed"
    ):
        import_questionnaire_response(raw)


def test_it_rejects_a_wrong_answer_type() -> None:
    raw = _response("core10")
    raw["item"][0]["answer"][0] = {"valueInteger": 2}
    with pytest.raises(InstrumentError, match="core10 item 1: answer must be a valueCoding"):
        import_questionnaire_response(raw)


def test_it_rejects_a_repeated_item_and_another_version() -> None:
    raw = _response("srs")
    raw["item"].append(raw["item"][0])
    with pytest.raises(InstrumentError, match="srs item 1: answered twice"):
        import_questionnaire_response(raw)
    raw = _response("srs")
    raw["questionnaire"] = "urn:alliance:questionnaire:srs|SRS v2"
    with pytest.raises(InstrumentError, match="version 'SRS v2' does not match"):
        import_questionnaire_response(raw)


def test_it_never_exports_overlay_wording(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "instruments:\n  ors:\n    items:\n"
        + "".join(f"      '{i}': 'Licensed wording {i}'\n" for i in range(1, 5)),
        encoding="utf-8",
    )
    licensed = load_instrument("ors", overlay)
    assert licensed.items[0].display_text == "Licensed wording 1"
    exported = questionnaire(licensed).model_dump_json()
    response = questionnaire_response(licensed, SAMPLES["ors"]).model_dump_json()
    assert "Licensed wording" not in exported
    assert "Licensed wording" not in response
