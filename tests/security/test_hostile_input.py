"""Bad and hostile input: each is refused with a clear error and nothing is stored."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.store import tables as t
from alliance.web.body_limit import MAX_BODY_BYTES
from alliance.web.csrf import CSRF_HEADER
from tests.security.conftest import new_link
from tests.web.clinic import Clinic

SRS_FORM = {"item_1": "9", "item_2": "9", "item_3": "9", "item_4": "9"}


def count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


@pytest.fixture
def tess(persona_client: Callable[[str], TestClient]) -> TestClient:
    return persona_client("therapist_a")


def test_it_refuses_an_oversized_body(tess: TestClient, clinic: Clinic, engine: Engine) -> None:
    before = count(engine, t.goals)
    big = "x" * (MAX_BODY_BYTES + 1)
    response = tess.post(f"/episodes/{clinic.rupture_episode}/goals", data={"text": big})
    assert response.status_code == 413
    assert "over" in response.json()["detail"]
    api = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/goals", json={"text": big, "status": "agreed"}
    )
    assert api.status_code == 413
    assert count(engine, t.goals) == before


def test_it_refuses_malformed_json(tess: TestClient, clinic: Clinic, engine: Engine) -> None:
    before = count(engine, t.goals)
    response = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/goals",
        content=b'{"text": "unterminated',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert count(engine, t.goals) == before


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f"])
def test_it_refuses_control_characters(
    tess: TestClient, clinic: Clinic, engine: Engine, char: str
) -> None:
    before = count(engine, t.goals)
    page = tess.post(f"/episodes/{clinic.rupture_episode}/goals", data={"text": f"a{char}b"})
    assert page.status_code == 400
    assert "text: contains the control character" in page.text
    api = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/goals",
        json={"text": f"a{char}b", "status": "agreed"},
    )
    assert api.status_code == 400
    assert api.json()["detail"].startswith("text: contains the control character")
    assert count(engine, t.goals) == before


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_it_renders_html_and_script_escaped_in_every_text_field(
    tess: TestClient, clinic: Clinic
) -> None:
    episode = clinic.rupture_episode
    writes = {
        "goals": {"text": HOSTILE},
        "notes": {"kind": "rupture", "text": HOSTILE, "tags": ""},
        "boundaries": {
            "kind": "crossing",
            "description": HOSTILE,
            "occurred_on": "2025-01-01",
            "client_welfare": HOSTILE,
            "technique_goal": HOSTILE,
            "plan_link": HOSTILE,
        },
    }
    for action, form in writes.items():
        response = tess.post(f"/episodes/{episode}/{action}", data=form)
        assert response.status_code == 200, (action, response.text[:300])
    for url in (
        f"/episodes/{episode}/details",
        f"/episodes/{episode}",
        f"/episodes/{episode}/report",
    ):
        html = tess.get(url).text
        assert "<script>alert" not in html
        assert "<img src=x" not in html
    assert "&lt;script&gt;alert" in tess.get(f"/episodes/{episode}/details").text


def test_it_stores_sql_metacharacters_as_plain_text(
    tess: TestClient, clinic: Clinic, engine: Engine
) -> None:
    text = "Robert'); DROP TABLE goals;-- \" OR 1=1 %_"
    response = tess.post(
        f"/api/episodes/{clinic.rupture_episode}/goals", json={"text": text, "status": "agreed"}
    )
    assert response.status_code == 201
    with engine.connect() as conn:
        stored = conn.execute(
            select(t.goals.c.text).where(t.goals.c.id == response.json()["id"])
        ).scalar_one()
    assert stored == text
    assert count(engine, t.goals) >= 2


@pytest.mark.parametrize(
    "path",
    [
        "/static/../../../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/..%2f..%2fpyproject.toml",
        "/episodes/..%2f..%2fetc%2fpasswd",
        "/f/..%2f..%2fetc%2fpasswd",
        "/api/episodes/1%2f..%2f2",
    ],
)
def test_it_refuses_path_traversal(tess: TestClient, path: str) -> None:
    response = tess.get(path)
    assert response.status_code in {404, 410, 422}
    assert "root:" not in response.text
    assert "[project]" not in response.text


def test_it_refuses_a_replayed_client_link(
    persona_client: Callable[[str], TestClient], clinic: Clinic, engine: Engine
) -> None:
    link = new_link(engine, clinic)
    client = persona_client("client_link")
    assert client.get(f"/f/{link.token}").status_code == 200
    before = count(engine, t.administrations)
    first = client.post(f"/f/{link.token}", data=SRS_FORM, follow_redirects=False)
    assert first.status_code == 303
    again = client.post(f"/f/{link.token}", data=SRS_FORM, follow_redirects=False)
    assert again.status_code == 410
    assert "already used" in again.text
    assert client.get(f"/f/{link.token}").status_code == 410
    assert count(engine, t.administrations) == before + 1


def test_it_refuses_a_forged_client_link(
    persona_client: Callable[[str], TestClient], engine: Engine
) -> None:
    client = persona_client("client_link")
    before = count(engine, t.administrations)
    forged = "A" * 22
    assert client.get(f"/f/{forged}").status_code == 410
    response = client.post(f"/f/{forged}", data=SRS_FORM)
    assert response.status_code == 410
    assert "not known" in response.text
    assert count(engine, t.administrations) == before


def test_it_refuses_a_post_without_the_csrf_token(
    app: Any, clinic: Clinic, engine: Engine, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    before = count(engine, t.goals)
    url = f"/episodes/{clinic.rupture_episode}/goals"
    for headers in ({CSRF_HEADER: ""}, {CSRF_HEADER: "forged-token"}):
        response = tess.post(url, data={"text": "CSRF goal"}, headers=headers)
        assert response.status_code == 403
        assert "security token" in response.text
    bare = TestClient(app)
    bare.cookies.update(tess.cookies)  # the session cookie alone, as a cross-site form sends it
    response = bare.post(url, data={"text": "CSRF goal"})
    assert response.status_code == 403
    api = bare.post(
        f"/api/episodes/{clinic.rupture_episode}/goals",
        json={"text": "CSRF goal", "status": "agreed"},
    )
    assert api.status_code == 403
    link = new_link(engine, clinic)
    assert bare.post(f"/f/{link.token}", data=SRS_FORM).status_code == 403
    assert count(engine, t.goals) == before


def test_it_accepts_the_token_from_the_hidden_form_field(
    app: Any, clinic: Clinic, engine: Engine, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    html = tess.get(f"/episodes/{clinic.rupture_episode}/details").text
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    bare = TestClient(app)
    bare.cookies.update(tess.cookies)
    response = bare.post(
        f"/episodes/{clinic.rupture_episode}/goals",
        data={"text": "From the form", "csrf_token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_it_keeps_client_content_out_of_logs(
    persona_client: Callable[[str], TestClient],
    clinic: Clinic,
    engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    link = new_link(engine, clinic)
    tess = persona_client("therapist_a")
    client = persona_client("client_link")
    with caplog.at_level(logging.DEBUG):
        tess.post(
            f"/api/episodes/{clinic.rupture_episode}/goals",
            json={"text": "Secret goal words", "status": "agreed"},
        )
        client.get(f"/f/{link.token}")
        client.post(f"/f/{link.token}", data=SRS_FORM)
    # The server's own records only (the test client logs the URLs it calls).
    ours = [r for r in caplog.records if r.name.startswith("alliance")]
    assert ours, "the requests were not logged"
    text = "\n".join(r.getMessage() for r in ours) + json.dumps(
        [getattr(r, "fields", None) for r in ours]
    )
    assert "Secret goal words" not in text
    assert link.token not in text
    assert "RUPT-001" not in text
    fields = [getattr(r, "fields", {}) for r in ours if r.name == "alliance.web.access"]
    assert "/f/{token}" in [f.get("route") for f in fields]
    assert all(f.get("request_id") for f in fields)
