"""One settings object, declared once, validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "alliance"
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev"})


def default_data_dir() -> Path:
    """Where a laptop install keeps its SQLite file: the user's data directory."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'alliance.db'}"


class Settings(BaseSettings):
    """Every setting with its default and its help; read from ALLIANCE_* variables."""

    model_config = SettingsConfigDict(env_prefix="ALLIANCE_", extra="ignore")

    database_url: Annotated[
        str,
        Field(
            default_factory=default_database_url,
            description="SQLAlchemy URL: sqlite:///path.db (default, in the user's data "
            "directory) or postgresql+psycopg://user@host/db.",
        ),
    ]
    secret_key: Annotated[
        str | None,
        Field(
            default=None,
            description="Key that signs session cookies and keys pseudonyms. Generated and kept "
            "beside the SQLite file when unset; required for PostgreSQL.",
        ),
    ] = None
    instrument_overlay: Annotated[
        Path | None,
        Field(
            default=None,
            description="A local YAML file with licensed item wording that the clinic holds; "
            "overlaid at run time, never exported.",
        ),
    ] = None
    link_ttl_minutes: Annotated[
        int,
        Field(default=60 * 24, ge=5, le=60 * 24 * 14, description="How long a client link lives."),
    ] = 60 * 24
    reopen_days: Annotated[
        int,
        Field(
            default=90,
            ge=0,
            le=3650,
            description="How many days after its closing an episode may be reopened (with a "
            "reason); after that the client gets a new, linked episode.",
        ),
    ] = 90
    sqlite_busy_timeout_ms: Annotated[
        int, Field(default=5000, ge=0, description="How long SQLite waits on a lock.")
    ] = 5000
    log_level: Annotated[str, Field(default="INFO", description="Logging level.")] = "INFO"

    @field_validator("database_url")
    @classmethod
    def _known_engine(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                f"database_url: {value.split('://')[0]!r} is not supported; "
                "use sqlite:///path.db or postgresql+psycopg://user@host/db"
            )
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level: {value!r} is not one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("secret_key")
    @classmethod
    def _no_placeholder(cls, value: str | None) -> str | None:
        if value is not None and (value.lower() in PLACEHOLDER_SECRETS or len(value) < 16):
            raise ValueError("secret_key: a placeholder or a key under 16 characters is refused")
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def load_settings(**overrides: object) -> Settings:
    """Build and validate settings; explicit overrides (e.g. from --db) win over the environment."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**clean)  # type: ignore[arg-type]
