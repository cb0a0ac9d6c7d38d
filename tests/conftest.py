"""Shared fixtures: the database on each engine, and the clock in UTC.

PostgreSQL runs when ALLIANCE_TEST_POSTGRES_URL is set (e.g. postgresql://postgres@127.0.0.1:5432/postgres);
each test gets its own uniquely named database, dropped afterwards. With ALLIANCE_REQUIRE_POSTGRES=1
(CI) a missing or unreachable server fails the run instead of skipping.

"Today" is always a UTC date, never `date.today()`: the store and the web app date things by the
UTC clock, so a test that asked the machine's time zone would fail east or west of Greenwich
(run the suite under TZ=Pacific/Kiritimati, UTC+14, and TZ=America/Los_Angeles to see).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

POSTGRES_ENV = "ALLIANCE_TEST_POSTGRES_URL"

# A Monday morning in UTC, the demo's anchor day (alliance.store.demo.ANCHOR), for code that
# takes `now` as an argument (the domain rules and the store's operations).
FIXED_NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# A test that reads the real clock near midnight could see one date and the app the next.
MIDNIGHT_MARGIN = timedelta(minutes=2)


@dataclass(frozen=True)
class UtcClock:
    """One reading of the clock: a moment in UTC and the UTC date it falls on."""

    now: datetime

    def __post_init__(self) -> None:
        if self.now.utcoffset() != timedelta(0):
            raise ValueError(f"UtcClock needs a UTC moment, not {self.now.isoformat()}")

    @property
    def today(self) -> date:
        return self.now.date()


def read_utc_clock(margin: timedelta = MIDNIGHT_MARGIN) -> UtcClock:
    """The real clock in UTC, read once and clear of midnight by `margin`.

    In the last `margin` before midnight UTC this waits for the new day, so a test and the app
    it drives see one date however long the test takes (up to `margin`).
    """
    now = datetime.now(UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    if midnight - now < margin:
        time.sleep((midnight - now).total_seconds() + 1)
        now = datetime.now(UTC)
    return UtcClock(now)


@pytest.fixture
def utc_clock() -> UtcClock:
    """The real clock read once in UTC, for code under test that reads it too (the web app).

    The web app has no clock to hand it: its forms check dates against the real UTC now.
    """
    return read_utc_clock()


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
