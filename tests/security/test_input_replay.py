"""Replays of bad input once stored or answered with a 500 (L1, L4, L5 at the front doors)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.store import tables as t
from tests.web.clinic import Clinic

TOO_BIG = 2**63


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def tess(persona_client: Callable[[str], TestClient]) -> TestClient:
    return persona_client("therapist_a")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/merge-patch+json",
        "APPLICATION/JSON",
        "Application/Vnd.Api+Json; charset=utf-8",
    ],
)
def test_it_screens_every_json_content_type(
    tess: TestClient, clinic: Clinic, engine: Engine, content_type: str
) -> None:
    before = count(engine, t.goals)
    response = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/goals",
        content=json.dumps({"text": "a\x00b\x1b[2J", "status": "agreed"}).encode(),
        headers={"content-type": content_type},
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("text: contains the control character U+0000")
    assert count(engine, t.goals) == before


def test_it_answers_an_unknown_measure_on_the_session_page(
    tess: TestClient, clinic: Clinic
) -> None:
    page = f"/episodes/{clinic.rupture_episode}/sessions/{clinic.rupture_sessions[0]}"
    response = tess.get(page, params={"paper": "no-such-measure"})
    assert response.status_code == 400
    assert "paper: &#39;no-such-measure&#39; is not a known measure" in response.text
    assert tess.get(page, params={"paper": "srs"}).status_code == 200


def test_it_refuses_a_form_number_beyond_64_bits(
    tess: TestClient, clinic: Clinic, engine: Engine
) -> None:
    before = count(engine, t.tasks)
    response = tess.post(
        f"/episodes/{clinic.rupture_episode}/tasks",
        data={"goal_id": str(TOO_BIG), "description": "Keep a diary", "kind": "technique"},
    )
    assert response.status_code == 400
    assert "goal_id: the number is out of range" in response.text
    assert count(engine, t.tasks) == before


@pytest.mark.parametrize("value", [TOO_BIG, -TOO_BIG - 1, 10**30])
def test_it_refuses_a_body_number_beyond_64_bits(
    tess: TestClient, clinic: Clinic, engine: Engine, value: int
) -> None:
    before = count(engine, t.client_links)
    response = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/links",
        json={"session_id": value, "instrument": "srs"},
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "session_id: the number is out of range; allowed: whole numbers from "
        f"{-(2**63 - 1)} to {2**63 - 1}"
    )
    assert count(engine, t.client_links) == before


@pytest.mark.parametrize("day", ["0001-01-01", "2101-01-01"])
def test_it_refuses_an_out_of_range_date_through_the_api(
    tess: TestClient, clinic: Clinic, engine: Engine, day: str
) -> None:
    before = count(engine, t.sessions)
    response = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/sessions",
        json={"date": day, "attendance": "attended"},
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": "held_on", "message": f"{day} is out of range: allowed 1900-01-01 to 2100-12-31"}
    ]
    assert count(engine, t.sessions) == before


def test_it_refuses_an_out_of_range_date_in_a_form(
    tess: TestClient, clinic: Clinic, engine: Engine
) -> None:
    before = count(engine, t.sessions)
    response = tess.post(
        f"/episodes/{clinic.rupture_episode}/sessions",
        data={"held_on": "0001-01-01", "attendance": "attended"},
    )
    assert response.status_code == 400
    assert "0001-01-01 is out of range: allowed 1900-01-01 to 2100-12-31" in response.text
    assert count(engine, t.sessions) == before
