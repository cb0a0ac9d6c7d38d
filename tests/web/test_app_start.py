"""What the app refuses at start, and what its SQLite connections are set to.

The secret key: a placeholder or a key under 16 characters is refused when settings are read
(alliance.config), PostgreSQL needs one (alliance.web.app.resolve_secret_key), SQLite without one
gets a key generated once and kept beside the file. SQLite: see alliance.store.engine.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from alliance.config import SettingsError, load_settings
from alliance.web import create_app
from alliance.web.app import resolve_secret_key

KEY = "a-real-key-of-some-length"
REFUSED = "secret_key: a placeholder or a key under 16 characters is refused"


@pytest.fixture(autouse=True)
def no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALLIANCE_SECRET_KEY", raising=False)


@pytest.mark.parametrize(
    "key", ["", "changeme", "ChangeMe", "change-me", "secret", "dev", "fifteen-chars-1"]
)
def test_it_refuses_a_placeholder_or_short_secret_key(
    key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    with pytest.raises(SettingsError, match=REFUSED):
        load_settings(database_url=url, secret_key=key)
    monkeypatch.setenv("ALLIANCE_SECRET_KEY", key)  # as a deployment would set it
    with pytest.raises(SettingsError, match=REFUSED):
        load_settings(database_url=url)


def test_it_takes_a_key_of_sixteen_characters_as_given(tmp_path: Path) -> None:
    db = tmp_path / "clinic.db"
    sixteen = "sixteen-chars-ok"
    assert len(sixteen) == 16
    settings = load_settings(database_url=f"sqlite:///{db}", secret_key=sixteen)
    assert resolve_secret_key(settings) == sixteen
    assert not (tmp_path / "clinic.db.secret").exists()  # nothing generated beside the file


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    ],
)
def test_it_refuses_to_start_on_postgresql_without_a_secret_key(url: str) -> None:
    settings = load_settings(database_url=url)
    with pytest.raises(SettingsError, match="secret_key: required for PostgreSQL"):
        create_app(settings)  # refused before anything connects: no server needed
    assert resolve_secret_key(load_settings(database_url=url, secret_key=KEY)) == KEY


def test_it_keeps_one_generated_key_beside_the_sqlite_file(tmp_path: Path) -> None:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'clinic.db'}")
    first = resolve_secret_key(settings)
    kept = tmp_path / "clinic.db.secret"
    assert kept.read_text(encoding="utf-8") == first
    assert len(first) >= 32
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600  # only the owner reads it
    # The next start reads it back: a new key would sign everyone out and change pseudonyms.
    assert resolve_secret_key(settings) == first


def test_it_opens_every_sqlite_connection_in_wal_with_foreign_keys_and_full_sync(
    tmp_path: Path,
) -> None:
    settings = load_settings(
        database_url=f"sqlite:///{tmp_path / 'clinic.db'}",
        secret_key=KEY,
        sqlite_busy_timeout_ms=1234,
    )
    engine = create_app(settings).state.engine
    names = ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
    # Two connections open at once, so each is a connection of its own from the pool.
    connections = [engine.raw_connection(), engine.raw_connection()]
    try:
        pragmas = [
            {name: conn.cursor().execute(f"PRAGMA {name}").fetchone()[0] for name in names}
            for conn in connections
        ]
    finally:
        for conn in connections:
            conn.close()
        engine.dispose()
    # foreign_keys is per connection, so both must say 1. synchronous 2 is FULL, not the NORMAL
    # often chosen with WAL (SQLite's own default is FULL, so this catches a change to NORMAL,
    # not a missing pragma). busy_timeout is the setting, in milliseconds.
    expected = {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2, "busy_timeout": 1234}
    assert pragmas == [expected, expected]
