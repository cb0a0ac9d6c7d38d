"""FHIR R4 (R4B models): Questionnaire, QuestionnaireResponse, Observation of the total, import.

Exports carry shipped wording only: a clinic's licensed overlay text is never written here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from alliance.instruments.model import Instrument, InstrumentError, Item
from alliance.instruments.registry import INSTRUMENT_IDS, load_instrument
from alliance.instruments.scoring import Score, score

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"


def questionnaire_url(instrument_id: str) -> str:
    return f"urn:alliance:questionnaire:{instrument_id}"


def answer_system(instrument_id: str) -> str:
    return f"urn:alliance:answers:{instrument_id}"


def score_system() -> str:
    return "urn:alliance:score"


def _shipped(instrument: Instrument) -> Instrument:
    # Always export from the shipped definition, whatever overlay the caller loaded.
    return load_instrument(instrument.id)


def _item_text(item: Item) -> str:
    return item.text or item.label


def _required(instrument: Instrument) -> bool:
    rule = instrument.scoring
    return rule.max_missing == 0 and not rule.missing_means_unused


def questionnaire(instrument_id: str | Instrument) -> Questionnaire:
    """The instrument as a FHIR Questionnaire (shipped wording, or dimension names only)."""
    key = instrument_id.id if isinstance(instrument_id, Instrument) else instrument_id
    instrument = load_instrument(key)
    items: list[dict[str, Any]] = []
    for item in instrument.items:
        scale = instrument.scale_of(item)
        entry: dict[str, Any] = {
            "linkId": item.id,
            "text": _item_text(item),
            "required": _required(instrument),
        }
        if item.loinc:
            entry["code"] = [{"system": LOINC, "code": item.loinc}]
        if scale.type == "ordinal":
            entry["type"] = "choice"
            entry["answerOption"] = [
                {
                    "valueCoding": {
                        "system": LOINC if option.loinc else answer_system(instrument.id),
                        "code": option.loinc or str(option.code),
                        "display": option.label,
                        "extension": [{"url": ORDINAL_VALUE, "valueDecimal": option.code}],
                    }
                }
                for option in scale.options
            ]
        else:
            whole = scale.step == 1
            entry["type"] = "integer" if whole else "decimal"
            kind = "valueInteger" if whole else "valueDecimal"
            low: float | int = int(scale.low) if whole else scale.low
            high: float | int = int(scale.high) if whole else scale.high
            entry["extension"] = [
                {"url": MIN_VALUE, kind: low},
                {"url": MAX_VALUE, kind: high},
            ]
        items.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": instrument.id.replace("_", "-"),
        "url": questionnaire_url(instrument.id),
        "version": instrument.version,
        "name": instrument.short_name.replace("-", "").replace(" ", ""),
        "title": instrument.name,
        "status": "active",
        "subjectType": ["Patient"],
        "description": instrument.citation,
        "copyright": instrument.licence.notice or instrument.licence.name,
        "item": items,
    }
    if instrument.loinc.panel:
        resource["code"] = [{"system": LOINC, "code": instrument.loinc.panel}]
    return Questionnaire.model_validate(resource)


def questionnaire_response(
    instrument_id: str | Instrument,
    answers: Mapping[str, float | int | None],
    *,
    response_id: str | None = None,
    authored: datetime | None = None,
    subject: str | None = None,
) -> QuestionnaireResponse:
    """One administration as a QuestionnaireResponse; answers are validated by scoring them."""
    key = instrument_id.id if isinstance(instrument_id, Instrument) else instrument_id
    instrument = load_instrument(key)
    score(instrument, answers)
    items: list[dict[str, Any]] = []
    for item in instrument.items:
        value = answers.get(item.id)
        if value is None:
            continue
        scale = instrument.scale_of(item)
        if scale.type == "ordinal":
            option = next(o for o in scale.options if o.code == value)
            answer: dict[str, Any] = {
                "valueCoding": {
                    "system": LOINC if option.loinc else answer_system(instrument.id),
                    "code": option.loinc or str(option.code),
                    "display": option.label,
                }
            }
        elif scale.step == 1:
            answer = {"valueInteger": int(value)}
        else:
            answer = {"valueDecimal": float(value)}
        items.append({"linkId": item.id, "text": _item_text(item), "answer": [answer]})
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{questionnaire_url(instrument.id)}|{instrument.version}",
        "status": "completed",
        "authored": (authored or datetime.now(UTC)).isoformat(),
        "item": items,
    }
    if response_id:
        resource["id"] = response_id
    if subject:
        resource["subject"] = {"reference": subject}
    return QuestionnaireResponse.model_validate(resource)


def observation(
    result: Score,
    *,
    response_id: str | None = None,
    effective: datetime | None = None,
    subject: str | None = None,
) -> Observation:
    """The total of one administration as an Observation, LOINC-coded where a code exists."""
    instrument = load_instrument(result.instrument)
    if instrument.loinc.total:
        code: dict[str, Any] = {
            "coding": [{"system": LOINC, "code": instrument.loinc.total}],
            "text": f"{instrument.short_name} total score",
        }
    else:
        code = {
            "coding": [{"system": score_system(), "code": f"{instrument.id}-total"}],
            "text": f"{instrument.short_name} total score",
        }
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey"}]}],
        "code": code,
        "effectiveDateTime": (effective or datetime.now(UTC)).isoformat(),
    }
    if result.total is None:
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "unknown"}],
            "text": result.reason or "invalid",
        }
    else:
        resource["valueQuantity"] = {
            "value": result.total,
            "unit": "{score}",
            "system": UCUM,
            "code": "{score}",
        }
    if result.band:
        resource["interpretation"] = [{"text": result.band}]
    if response_id:
        resource["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{response_id}"}]
    if subject:
        resource["subject"] = {"reference": subject}
    return Observation.model_validate(resource)


def import_questionnaire_response(
    resource: QuestionnaireResponse | Mapping[str, Any] | str,
) -> tuple[str, dict[str, float | int | None], Score]:
    """Read a QuestionnaireResponse back into (instrument id, answers, score).

    A response that does not match its Questionnaire — unknown questionnaire or version, unknown
    linkId, a repeated item, an answer of the wrong type or outside the scale — is refused.
    """
    response = _parse_response(resource)
    canonical = response.questionnaire or ""
    url, _, version = canonical.partition("|")
    by_url = {questionnaire_url(i): i for i in INSTRUMENT_IDS}
    if url not in by_url:
        raise InstrumentError(
            f"questionnaire {canonical!r} is unknown; allowed: " + ", ".join(sorted(by_url))
        )
    instrument = load_instrument(by_url[url])
    if version and version != instrument.version:
        raise InstrumentError(
            f"questionnaire version {version!r} does not match; allowed: {instrument.version!r}"
        )
    answers: dict[str, float | int | None] = {}
    for entry in response.item or []:
        link = entry.linkId
        if link not in {i.id for i in instrument.items}:
            raise InstrumentError(
                f"{instrument.id} item {link!r} does not exist; items are 1 to {instrument.n_items}"
            )
        if link in answers:
            raise InstrumentError(f"{instrument.id} item {link}: answered twice; allowed: once")
        if entry.item:
            raise InstrumentError(f"{instrument.id} item {link}: nested items are not allowed")
        given = entry.answer or []
        if len(given) > 1:
            raise InstrumentError(
                f"{instrument.id} item {link}: {len(given)} answers; allowed: one"
            )
        answers[link] = (
            _answer_value(instrument, instrument.item(link), given[0]) if given else None
        )
    return instrument.id, answers, score(instrument, answers)


def _parse_response(
    resource: QuestionnaireResponse | Mapping[str, Any] | str,
) -> QuestionnaireResponse:
    if isinstance(resource, QuestionnaireResponse):
        return resource
    try:
        raw = json.loads(resource) if isinstance(resource, str) else dict(resource)
    except json.JSONDecodeError as exc:
        raise InstrumentError(f"QuestionnaireResponse: not valid JSON ({exc.msg})") from exc
    if raw.get("resourceType") != "QuestionnaireResponse":
        raise InstrumentError(
            f"resourceType {raw.get('resourceType')!r} is not allowed; allowed: "
            "'QuestionnaireResponse'"
        )
    try:
        return QuestionnaireResponse.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InstrumentError(f"QuestionnaireResponse {where}: {first['msg']}") from exc


def _answer_value(instrument: Instrument, item: Item, answer: Any) -> float | int:
    scale = instrument.scale_of(item)
    where = f"{instrument.id} item {item.id}"
    if scale.type == "ordinal":
        coding = answer.valueCoding
        if coding is None:
            raise InstrumentError(
                f"{where}: answer must be a valueCoding; allowed: {scale.allowed()}"
            )
        for option in scale.options:
            system = LOINC if option.loinc else answer_system(instrument.id)
            code = option.loinc or str(option.code)
            if coding.system == system and coding.code == code:
                return option.code
        raise InstrumentError(
            f"{where}: coding {coding.system}|{coding.code} is not allowed; allowed: "
            + ", ".join(f"{o.loinc or o.code} ({o.label})" for o in scale.options)
        )
    value = answer.valueDecimal if answer.valueDecimal is not None else answer.valueInteger
    if value is None:
        raise InstrumentError(
            f"{where}: answer must be valueDecimal or valueInteger; allowed: {scale.allowed()}"
        )
    number = float(value)
    return int(number) if scale.step == 1 and number.is_integer() else number
