"""Shared fixtures: one parametrised database fixture runs the suite on SQLite and PostgreSQL.

PostgreSQL runs when ALLIANCE_TEST_POSTGRES_URL is set (e.g. postgresql://postgres@127.0.0.1:5432/postgres);
each test gets its own uniquely named database, dropped afterwards. With ALLIANCE_REQUIRE_POSTGRES=1
(CI) a missing or unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

POSTGRES_ENV = "ALLIANCE_TEST_POSTGRES_URL"


def _postgres_admin_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get("ALLIANCE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{POSTGRES_ENV} is not set but ALLIANCE_REQUIRE_POSTGRES=1")
        return None
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'alliance.db'}"
        return
    admin = _postgres_admin_url()
    if admin is None:
        pytest.skip(f"{POSTGRES_ENV} not set: PostgreSQL tests skipped")
    import psycopg

    admin_url = make_url(admin).set(drivername="postgresql")
    name = f"alliance_test_{uuid.uuid4().hex[:12]}"
    conninfo = admin_url.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
