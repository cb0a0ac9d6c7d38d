"""The client's visual-analogue form: every line starts unanswered and must be answered."""

from __future__ import annotations

import re
from collections.abc import Mapping

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.instruments import Instrument, Score, score
from alliance.services import measures
from alliance.store import administrations as store_administrations
from alliance.store import tables as t
from tests.web.clinic import Clinic


def _link(therapist: TestClient, clinic: Clinic, instrument: str) -> str:
    made = therapist.post(
        f"/api/episodes/{clinic.rupture_episode}/links",
        json={"instrument": instrument, "session_id": clinic.rupture_sessions[-1]},
    )
    assert made.status_code == 201
    return str(made.json()["url"]).removeprefix("http://testserver")


def _administrations(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(t.administrations)).scalar_one())


def test_it_starts_every_line_without_a_value(therapist: TestClient, clinic: Clinic) -> None:
    html = therapist.get(_link(therapist, clinic, "ors")).text
    fields = re.findall(r'<input type="number" id="item(\d)" name="item_\1"[^>]*>', html, re.S)
    assert fields == ["1", "2", "3", "4"]
    for tag in re.findall(r'<input type="number"[^>]*>', html, re.S):
        assert 'value=""' in tag
    # The slider carries no name (only the number field is sent) and is kept from assistive
    # tech and the tab order: untouched, a native slider would expose its hidden middle.
    sliders = re.findall(r'<input type="range"[^>]*>', html, re.S)
    assert len(sliders) == 4
    for tag in sliders:
        assert "name=" not in tag
        assert 'aria-hidden="true"' in tag
        assert 'tabindex="-1"' in tag
    assert html.count("Not answered yet") == 4
    assert html.count('class="vas unanswered"') == 4


def test_it_shows_the_missing_answer_next_to_its_item_and_keeps_the_others(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    path = _link(therapist, clinic, "srs")
    before = _administrations(engine)
    sent = {"item_1": "7.5", "item_2": "6", "item_3": "9.1", "item_4": ""}
    response = therapist.post(path, data=sent)
    assert response.status_code == 400
    assert _administrations(engine) == before
    errors = re.findall(r'<p class="field-error" id="err-(\d)">([^<]*)</p>', response.text)
    assert [e[0] for e in errors] == ["4"]
    assert errors[0][1] == "Please give an answer: move the slider or type a number."
    fieldset = response.text.split('id="q4"', 1)[1].split("</fieldset>", 1)[0]
    assert 'id="err-4"' in fieldset
    for item, value in (("1", "7.5"), ("2", "6"), ("3", "9.1")):
        assert re.search(rf'name="item_{item}"[^>]*value="{re.escape(value)}"', response.text, re.S)
    assert response.text.count('class="vas unanswered"') == 1
    done = therapist.post(path, data=sent | {"item_4": "8"})
    assert "Thank you" in done.text
    assert _administrations(engine) == before + 1
    with engine.connect() as conn:
        total = conn.execute(
            select(t.administrations.c.total).order_by(t.administrations.c.id.desc()).limit(1)
        ).scalar_one()
    assert total == 30.6


def test_it_keeps_a_chosen_radio_answer_when_another_is_missing(
    therapist: TestClient, clinic: Clinic
) -> None:
    path = _link(therapist, clinic, "phq9")
    sent = {f"item_{i}": "2" for i in range(1, 9)}  # item 9 left out
    response = therapist.post(path, data=sent)
    assert response.status_code == 400
    assert re.search(r'id="item1-2" name="item_1" value="2"\s*checked', response.text)
    assert 'id="err-9"' in response.text


def test_it_types_paper_scores_for_a_visual_analogue_measure(
    therapist: TestClient, clinic: Clinic
) -> None:
    """Paper ORS lines are measured with a ruler and typed in: no slider there."""
    session = clinic.rupture_sessions[-1]
    html = therapist.get(f"/episodes/{clinic.rupture_episode}/sessions/{session}?paper=ors").text
    paper = html.split('id="paper-form"', 1)[1]
    assert paper.count('type="number"') == 4
    assert 'type="range"' not in paper


def test_it_scores_a_submitted_form_once(
    therapist: TestClient, clinic: Clinic, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def counted(instrument: str | Instrument, answers: Mapping[str, float | int | None]) -> Score:
        calls.append(str(instrument))
        return score(instrument, answers)

    monkeypatch.setattr(measures, "score", counted)
    monkeypatch.setattr(store_administrations, "score", counted)
    path = _link(therapist, clinic, "srs")
    before = _administrations(engine)
    done = therapist.post(
        path, data={"item_1": "7.5", "item_2": "6", "item_3": "9.1", "item_4": "8"}
    )
    assert "Thank you" in done.text
    assert _administrations(engine) == before + 1
    assert len(calls) == 1
