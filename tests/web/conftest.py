"""Web test fixtures: a real database (SQLite and PostgreSQL), the app, signed-in users."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alliance.config import load_settings
from alliance.store.engine import make_engine
from alliance.web import create_app
from alliance.web.csrf import CSRF_COOKIE, CSRF_HEADER
from tests.conftest import UtcClock
from tests.web.clinic import PASSWORD, Clinic, build_clinic


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clinic(engine: Engine, utc_clock: UtcClock) -> Clinic:
    return build_clinic(engine, utc_clock.today)


@pytest.fixture
def app_client(engine: Engine, clinic: Clinic, database_url: str) -> Iterator[TestClient]:
    settings = load_settings(database_url=database_url, secret_key="k" * 32)
    with TestClient(create_app(settings, engine=engine)) as client:
        send_csrf_token(client)
        yield client


def send_csrf_token(client: TestClient) -> None:
    """Echo the CSRF cookie as X-CSRF-Token on every request, as the pages' scripts would."""

    def hook(request: httpx.Request) -> None:
        token = client.cookies.get(CSRF_COOKIE)
        if token and CSRF_HEADER not in request.headers:
            request.headers[CSRF_HEADER] = token

    client.event_hooks["request"].append(hook)
    client.get("/healthz")


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/login", data={"username": username, "password": password}, follow_redirects=False
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def therapist(app_client: TestClient, clinic: Clinic) -> TestClient:
    sign_in(app_client, clinic.usernames["therapist"])
    return app_client
