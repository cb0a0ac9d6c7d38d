"""A form answered through a link made for no session (the API's session_id left out) waits,
then is charted at the next attended session recorded on or after the day it was answered."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from alliance.store import tables as t
from tests.web.clinic import Clinic


def gad7_points(therapist: TestClient, episode_id: int) -> list[dict[str, Any]]:
    spec = therapist.get(f"/api/episodes/{episode_id}/chart").json()
    for row in spec.get("vconcat", []):
        if row.get("title") == "GAD-7":
            for layer in row["layer"]:
                if layer["mark"].get("type") == "line" and "point" in layer["mark"]:
                    return list(layer["data"]["values"])
    return []


def gad7_rows(engine: Engine, episode_id: int) -> list[Any]:
    a = t.administrations
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(a.c.id, a.c.session_id, a.c.total).where(
                    a.c.episode_id == episode_id, a.c.instrument_id == "gad7"
                )
            )
        )


def test_a_form_for_no_session_is_charted_at_the_next_attended_session(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    episode = clinic.risk_episode
    made = therapist.post(f"/api/episodes/{episode}/links", json={"instrument": "gad7"})
    assert made.status_code == 201, made.text
    path = str(made.json()["url"]).removeprefix("http://testserver")
    # Every one of the seven questions answered 1, "several days": 7 x 1 = 7.
    answered = therapist.post(path, data={f"item_{i}": "1" for i in range(1, 8)})
    assert answered.status_code == 200
    [waiting] = gad7_rows(engine, episode)
    assert (waiting.session_id, waiting.total) == (None, 7.0)
    assert gad7_points(therapist, episode) == []

    # A cancelled session holds no scores: the form waits for one the client attended.
    today = clinic.today.isoformat()
    cancelled = therapist.post(
        f"/api/episodes/{episode}/sessions", json={"date": today, "attendance": "cancelled"}
    )
    assert cancelled.status_code == 201, cancelled.text
    assert gad7_rows(engine, episode)[0].session_id is None

    attended = therapist.post(f"/api/episodes/{episode}/sessions", json={"date": today})
    assert attended.status_code == 201, attended.text
    number = attended.json()["number"]
    [placed] = gad7_rows(engine, episode)
    assert placed.session_id == attended.json()["id"]
    assert {"session": number, "total": 7.0} in gad7_points(therapist, episode)
    a = t.audit_events
    with engine.connect() as conn:
        placements = conn.execute(
            select(a.c.object_id).where(a.c.action == "place", a.c.object_type == "administration")
        ).scalars()
        assert [str(p) for p in placements] == [str(placed.id)]
