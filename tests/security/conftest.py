"""Fixtures for the security tests: the web tests' small clinic, the app, and signed-in personas."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alliance.config import load_settings
from alliance.services import links
from alliance.services.passwords import hash_password
from alliance.store import people
from alliance.store.access import Viewer
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.web import create_app
from tests.web.clinic import PASSWORD, Clinic, build_clinic
from tests.web.conftest import send_csrf_token, sign_in

SECRET = "s" * 32
LONELY_SUPERVISOR = "nina"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clinic(engine: Engine) -> Clinic:
    clinic = build_clinic(engine)
    with engine.begin() as conn:
        # A supervisor of nobody: sees no clinical content at all.
        people.create_user(
            conn,
            Actor.system(),
            organisation_id=clinic.organisation_id,
            username=LONELY_SUPERVISOR,
            role="supervisor",
            display_name="Nina",
            password_hash=hash_password(PASSWORD),
            must_change_password=False,
        )
    return clinic


@pytest.fixture
def app(engine: Engine, clinic: Clinic, database_url: str) -> FastAPI:
    return create_app(load_settings(database_url=database_url, secret_key=SECRET), engine=engine)


PERSONAS: dict[str, str | None] = {
    "therapist_a": "tess",
    "therapist_b": "otto",
    "supervisor_of_a": "sam",
    "supervisor_of_nobody": LONELY_SUPERVISOR,
    "admin": "admin",
    "client_link": None,
    "anonymous": None,
}


@pytest.fixture
def persona_client(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """A factory: a client signed in as the persona, each from its own address."""
    with ExitStack() as stack:

        def make(persona: str) -> TestClient:
            address = f"10.0.0.{list(PERSONAS).index(persona) + 1}"
            client = stack.enter_context(TestClient(app, client=(address, 50000)))
            send_csrf_token(client)
            username = PERSONAS[persona]
            if username is not None:
                sign_in(client, username)
            return client

        yield make


def therapist_viewer(clinic: Clinic) -> Viewer:
    return Viewer(
        user_id=clinic.therapist_id,
        username="tess",
        display_name="Tess",
        role="therapist",
        organisation_id=clinic.organisation_id,
        ip=None,
    )


def new_link(engine: Engine, clinic: Clinic, instrument: str = "srs") -> links.NewLink:
    """A single-use client link for therapist A's rupture episode, made through the services."""
    with engine.begin() as conn:
        return links.create_link(
            conn,
            therapist_viewer(clinic),
            clinic.rupture_episode,
            clinic.rupture_sessions[-1],
            instrument,
            60,
        )
