"""A practice from an empty database through the JSON API with personal tokens, HTTP only.

The accounts and tokens come from the command line, as a clinic would make them; everything
after is HTTP against the app with `Authorization: Bearer`, no cookie, no CSRF token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alliance.cli import main
from alliance.config import load_settings
from alliance.store import tables as t
from alliance.store.engine import make_engine
from alliance.web import create_app
from tests.conftest import read_utc_clock


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def token_of(output: str) -> str:
    found = re.search(r"^(alc_\S+)$", output, re.M)
    assert found is not None, output
    return found.group(1)


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[TestClient, str]]:
    run("init", "--db", database_url)
    settings = load_settings(database_url=database_url, secret_key="k" * 32)
    engine = make_engine(database_url)
    with TestClient(create_app(settings, engine=engine)) as client:
        yield client, database_url
    engine.dispose()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def today() -> str:
    return read_utc_clock().today.isoformat()


def test_the_whole_journey_through_the_api(api: tuple[TestClient, str]) -> None:
    client, db = api
    run("user", "add", "ada", "--role", "admin", "--name", "Ada Admin", "--db", db)
    run("user", "add", "sam", "--role", "supervisor", "--name", "Sam Super", "--db", db)
    run("user", "add", "tess", "--role", "therapist", "--supervisor", "sam", "--db", db)
    tess = bearer(token_of(run("token", "create", "tess", "--label", "notes app", "--db", db)))

    assert client.get("/api/episodes").status_code == 401  # no token, no cookie
    created = client.post(
        "/api/clients", json={"display_name": "Robin", "email": "robin@example.org"}, headers=tess
    )
    assert created.status_code == 201, created.text
    client_id, code = created.json()["id"], created.json()["code"]
    assert re.fullmatch(r"C-[A-Z0-9]{8}", code)

    episode = client.post(
        "/api/episodes",
        json={"client_id": client_id, "consent_date": today(), "goals": ["Sleep better"]},
        headers=tess,
    )
    assert episode.status_code == 201, episode.text
    episode_id = episode.json()["id"]
    session = client.post(
        f"/api/episodes/{episode_id}/sessions", json={"date": today()}, headers=tess
    )
    assert session.status_code == 201, session.text
    assert session.json()["number"] == 1

    detail = client.get(f"/api/episodes/{episode_id}", headers=tess).json()
    assert detail["client_code"] == code
    assert [g["text"] for g in detail["goals"]] == ["Sleep better"]
    assert [s["number"] for s in detail["sessions"]] == [1]
    assert [e["id"] for e in client.get("/api/episodes", headers=tess).json()] == [episode_id]
    read = client.get(f"/api/clients/{client_id}", headers=tess).json()
    assert (read["code"], read["email"], len(read["episodes"])) == (code, "robin@example.org", 1)

    closed = client.post(
        f"/api/episodes/{episode_id}/close",
        json={"closed_on": today(), "closing_reason": "planned", "summary": "Goals met"},
        headers=tess,
    )
    assert closed.status_code == 200, closed.text
    assert client.get("/api/episodes", headers=tess).json() == []
    listed = client.get("/api/episodes?status=closed", headers=tess).json()
    assert [(e["id"], e["closing_reason"]) for e in listed] == [(episode_id, "planned")]
    reopened = client.post(
        f"/api/episodes/{episode_id}/reopen",
        json={"reason": "Closed by mistake, client returns"},
        headers=tess,
    )
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["closed_on"] is None

    # The supervisor's token reads the supervisee's episode but writes nothing to it.
    sam = bearer(token_of(run("token", "create", "sam", "--db", db)))
    assert client.get(f"/api/episodes/{episode_id}", headers=sam).status_code == 200
    refused = client.post(
        f"/api/episodes/{episode_id}/sessions", json={"date": today()}, headers=sam
    )
    assert refused.status_code == 403
    # The admin's token reads no clinical content.
    ada = bearer(token_of(run("token", "create", "ada", "--db", db)))
    assert client.get(f"/api/episodes/{episode_id}", headers=ada).status_code == 403
    assert client.get(f"/api/clients/{client_id}", headers=ada).status_code == 403


def test_bad_input_names_the_field_and_writes_nothing(api: tuple[TestClient, str]) -> None:
    client, db = api
    run("user", "add", "tess", "--role", "therapist", "--db", db)
    run("user", "add", "otto", "--role", "therapist", "--db", db)
    tess = bearer(token_of(run("token", "create", "tess", "--db", db)))
    client_id = client.post("/api/clients", json={}, headers=tess).json()["id"]
    future = (read_utc_clock().today + timedelta(days=3)).isoformat()
    cases = [
        ({"client_id": client_id}, "consent_date"),
        ({"client_id": client_id, "consent_date": future}, "consent_date"),
        ({"client_id": client_id, "consent_date": today(), "therapist": "nobody"}, "therapist"),
        ({"client_id": client_id, "consent_date": today(), "therapist": "otto"}, "therapist"),
    ]
    for body, field in cases:
        response = client.post("/api/episodes", json=body, headers=tess)
        assert response.status_code == 422, (body, response.text)
        fields = [e["field"] for e in response.json()["detail"]]
        assert field in fields, (body, response.json())
    client.post("/api/clients", json={"email": "same@example.org"}, headers=tess)
    duplicate = client.post("/api/clients", json={"email": "Same@example.org"}, headers=tess)
    assert duplicate.status_code == 422
    assert duplicate.json()["detail"][0]["field"] == "email"
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(t.episodes)).scalar_one() == 0
            assert conn.execute(select(func.count()).select_from(t.clients)).scalar_one() == 2
    finally:
        engine.dispose()


def test_a_revoked_expired_or_deactivated_token_is_refused(api: tuple[TestClient, str]) -> None:
    client, db = api
    run("user", "add", "ada", "--role", "admin", "--db", db)
    run("user", "add", "tess", "--role", "therapist", "--db", db)
    first = run("token", "create", "tess", "--db", db)
    token = token_of(first)
    token_id = re.search(r"Token (\d+)", first)
    assert token_id is not None
    assert client.get("/api/episodes", headers=bearer(token)).status_code == 200
    assert "tess" in run("token", "list", "--db", db)
    assert token not in run("token", "list", "--db", db)  # the secret is never shown again
    run("token", "revoke", token_id.group(1), "--db", db)
    assert client.get("/api/episodes", headers=bearer(token)).status_code == 401
    assert client.get("/api/episodes", headers=bearer("alc_not-a-token")).status_code == 401
    assert client.get("/api/episodes", headers={"Authorization": "Basic x"}).status_code == 401

    second = token_of(run("token", "create", "tess", "--expires-days", "1", "--db", db))
    engine = make_engine(db)
    try:
        with engine.begin() as conn:
            conn.execute(
                t.api_tokens.update()
                .where(t.api_tokens.c.token_hash != "")
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        assert client.get("/api/episodes", headers=bearer(second)).status_code == 401

        third = token_of(run("token", "create", "tess", "--db", db))
        assert client.get("/api/episodes", headers=bearer(third)).status_code == 200
        with engine.begin() as conn:
            conn.execute(t.users.update().where(t.users.c.username == "tess").values(active=False))
        assert client.get("/api/episodes", headers=bearer(third)).status_code == 401
    finally:
        engine.dispose()
