"""The JSON API over the same services, and the rule that every route checks a role."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.store import tables as t
from alliance.web.auth import PUBLIC_PATHS
from alliance.web.routes import ROUTERS
from tests.web.clinic import Clinic
from tests.web.conftest import sign_in


def test_it_checks_a_role_on_every_route_that_is_not_public() -> None:
    unchecked = []
    for router in ROUTERS:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            path = route.path
            calls = [d.call for d in route.dependant.dependencies]
            if path in PUBLIC_PATHS:
                continue
            if not any(hasattr(call, "allowed_roles") for call in calls):
                unchecked.append(path)
    assert unchecked == []


def test_it_publishes_the_openapi_document(app_client: TestClient) -> None:
    doc = app_client.get("/api/openapi.json").json()
    assert "/api/caseload" in doc["paths"]
    assert "GoalCreate" in doc["components"]["schemas"]
    assert "password_hash" not in str(doc)


def test_it_serves_the_caseload_as_json(app_client: TestClient, clinic: Clinic) -> None:
    sign_in(app_client, "tess")
    rows = app_client.get("/api/caseload").json()
    assert [r["client_code"] for r in rows] == ["RISK-002", "RUPT-001"]
    assert rows[0]["risk"] is True
    assert rows[0]["alerts"][0]["kind"] == "risk_item"


def test_it_moves_a_stage_and_refuses_a_jump_by_api(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "tess")
    url = f"/api/episodes/{clinic.rupture_episode}/stage"
    refused = app_client.post(url, json={"target": "termination"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "target"
    moved = app_client.post(url, json={"target": "change"})
    assert moved.status_code == 200
    assert moved.json()["stage"] == "change"


def test_it_adds_a_goal_and_a_boundary_by_api(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "tess")
    base = f"/api/episodes/{clinic.rupture_episode}"
    assert app_client.post(f"{base}/goals", json={"text": ""}).status_code == 422
    assert app_client.post(f"{base}/goals", json={"text": "Cook for friends"}).status_code == 201
    crossing = {"kind": "crossing", "description": "Home visit", "occurred_on": str(clinic.today)}
    assert app_client.post(f"{base}/boundaries", json=crossing).status_code == 422
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.boundary_events)).scalar() == 0


def test_it_creates_a_link_by_api_and_the_client_uses_it(
    app_client: TestClient, clinic: Clinic
) -> None:
    sign_in(app_client, "tess")
    made = app_client.post(
        f"/api/episodes/{clinic.rupture_episode}/links",
        json={"instrument": "srs", "session_id": clinic.rupture_sessions[-1]},
    )
    assert made.status_code == 201
    path = made.json()["url"].removeprefix("http://testserver")
    app_client.post("/logout")
    assert app_client.get(path).status_code == 200
    done = app_client.post(path, data={f"item_{i}": "8" for i in range(1, 5)})
    assert "Thank you" in done.text
    assert app_client.get(path).status_code == 410


def test_it_refuses_the_admin_and_other_therapists_by_api(
    app_client: TestClient, clinic: Clinic
) -> None:
    sign_in(app_client, "otto")
    assert app_client.get(f"/api/episodes/{clinic.rupture_episode}").status_code == 404
    assert (
        app_client.post(
            f"/api/episodes/{clinic.rupture_episode}/goals", json={"text": "x"}
        ).status_code
        == 404
    )
    app_client.post("/logout")
    sign_in(app_client, "admin")
    assert app_client.get("/api/caseload").status_code == 403


def test_it_fills_worksheets_agrees_a_goal_and_closes_by_api(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "tess")
    base = f"/api/episodes/{clinic.risk_episode}"
    empty = app_client.post(f"{base}/worksheets", json={"kind": "miracle_question"})
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["field"] == "answers"
    made = app_client.post(
        f"{base}/worksheets", json={"kind": "miracle_question", "answers": ["Sing again"]}
    )
    assert made.status_code == 201
    with engine.connect() as conn:
        goal_id, status = conn.execute(
            select(t.goals.c.id, t.goals.c.status).where(t.goals.c.text == "Sing again")
        ).one()
    assert status == "proposed"
    agreed = app_client.post(f"{base}/goal-status", json={"goal_id": goal_id, "status": "agreed"})
    assert agreed.json() == {"goal_id": goal_id, "status": "agreed"}
    no_reason = app_client.post(f"{base}/close", json={"closed_on": str(clinic.today)})
    assert no_reason.status_code == 422
    assert no_reason.json()["detail"][0]["field"] == "closing_reason"
    unknown = app_client.post(
        f"{base}/close", json={"closed_on": str(clinic.today), "closing_reason": "quit"}
    )
    assert unknown.status_code == 422
    with engine.connect() as conn:
        still_open = conn.execute(
            select(t.episodes.c.closed_on, t.episodes.c.closing_reason).where(
                t.episodes.c.id == clinic.risk_episode
            )
        ).one()
    assert tuple(still_open) == (None, None)
    closed = app_client.post(
        f"{base}/close", json={"closed_on": str(clinic.today), "closing_reason": "referred"}
    )
    assert closed.status_code == 200
    assert closed.json()["closing_reason"] == "referred"
    assert closed.json()["warnings"][0].startswith("no relapse-prevention plan was recorded")
    assert app_client.get(base).json()["closing_reason"] == "referred"
    late = app_client.post(
        f"{base}/worksheets",
        json={
            "kind": "relapse_prevention",
            "warning_signs": ["a"],
            "triggers": ["b"],
            "coping_steps": ["c"],
            "who_to_call": ["d"],
        },
    )
    assert late.status_code == 422  # the episode is closed


def test_it_sets_attendance_adds_a_note_and_reports_an_incident_by_api(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "tess")
    base = f"/api/episodes/{clinic.rupture_episode}"
    scored = clinic.rupture_sessions[0]
    refused = app_client.post(
        f"{base}/sessions/{scored}/attendance", json={"attendance": "no_show"}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "attendance"
    elsewhere = app_client.post(
        f"/api/episodes/{clinic.risk_episode}/sessions/{scored}/attendance",
        json={"attendance": "attended"},
    )
    assert elsewhere.status_code == 404
    note = app_client.post(
        f"{base}/notes", json={"kind": "repair", "text": "Named the rupture", "tags": ["repair"]}
    )
    assert note.status_code == 201
    incident = app_client.post(
        f"{base}/incidents", json={"description": "Gift accepted", "occurred_on": str(clinic.today)}
    )
    assert incident.status_code == 201
    app_client.post("/logout")
    sign_in(app_client, "sam")
    by_supervisor = app_client.post(
        f"{base}/incidents", json={"description": "Follow-up", "occurred_on": str(clinic.today)}
    )
    assert by_supervisor.status_code == 201
    assert app_client.post(f"{base}/notes", json={"kind": "repair", "text": "x"}).status_code == 403
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.boundary_incidents)).scalar() == 2
        assert conn.execute(select(func.count()).select_from(t.relational_notes)).scalar() == 1
