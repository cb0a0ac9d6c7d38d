"""Store fixtures: a migrated database on each engine and a small clinic of personas.

alice and bob are therapists; sam supervises alice; ada is the admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import Connection, Engine, func, select

from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.episodes import open_episode
from alliance.store.migrate import upgrade
from alliance.store.people import create_client, create_organisation, create_user
from alliance.store.tables import metadata
from tests.conftest import FIXED_NOW

NOW = FIXED_NOW
OPENED = date(2026, 1, 5)


@dataclass(frozen=True)
class Clinic:
    organisation_id: int
    alice: Actor
    bob: Actor
    sam: Actor
    ada: Actor
    client_id: int


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clinic(engine: Engine) -> Clinic:
    system = Actor.system()
    with engine.begin() as conn:
        org = create_organisation(conn, system, "Riverside Practice", now=NOW)
        sam = create_user(
            conn,
            system,
            organisation_id=org,
            username="sam",
            role="supervisor",
            display_name="Sam",
            now=NOW,
        )
        alice = create_user(
            conn,
            system,
            organisation_id=org,
            username="alice",
            role="therapist",
            display_name="Alice",
            supervisor_id=sam,
            now=NOW,
        )
        bob = create_user(
            conn,
            system,
            organisation_id=org,
            username="bob",
            role="therapist",
            display_name="Bob",
            now=NOW,
        )
        ada = create_user(
            conn,
            system,
            organisation_id=org,
            username="ada",
            role="admin",
            display_name="Ada",
            now=NOW,
        )
        client = create_client(conn, system, organisation_id=org, code="C-TEST01", now=NOW)
    return Clinic(org, Actor(alice, "127.0.0.1"), Actor(bob), Actor(sam), Actor(ada), client)


def row_counts(conn: Connection) -> dict[str, int]:
    """Rows in every table: bad input must leave these unchanged."""
    return {
        name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in metadata.tables.items()
    }


def open_alice_episode(conn: Connection, clinic: Clinic, *, consent: bool = True) -> int:
    """alice opens an episode for the clinic's client on OPENED, with consent that day if asked."""
    return open_episode(
        conn,
        clinic.alice,
        client_id=clinic.client_id,
        therapist_id=clinic.alice.user_id or 0,
        opened_on=OPENED,
        consent_on=OPENED if consent else None,
        now=NOW,
    )
