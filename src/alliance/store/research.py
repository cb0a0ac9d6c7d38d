"""A de-identified research export: pseudonymised ids, dates shifted per client, no free text.

- Ids become keyed HMAC-SHA256 pseudonyms (a key derived from the research_key setting), so the
  same clinic exports the same pseudonym twice, and nobody without the key can map one back.
- Every date of a client's records moves by one offset of 1 to 180 days, earlier or later,
  drawn from the same key and the client: intervals within a client stay exact, calendar dates
  do not (HIPAA Safe Harbor treats dates as identifiers, 45 CFR 164.514(b)(2)(i)(C)). Times
  are written as dates only: a time of day would tie rows of different clients together.
- Rows are written in a keyed order (HMAC of the table and the row's key), not by primary key:
  ids follow real time across clients, so neighbouring rows would give each client's shift
  relative to the others, and one known real date would then un-shift everyone.
- The export is written into a temporary folder beside the target and renamed into place only
  when every file and the manifest are written: a failure leaves no partial export.
- Free text (goals, notes, boundary entries, reasons) is dropped unless asked for.
- Names, contact details, client codes, user accounts, links and the audit log never leave.
A manifest.json lists every table and column written, dropped or transformed, and why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Connection, Table, select

from alliance.config import check_key
from alliance.errors import AllianceError
from alliance.files import PRIVATE_FILE, csv_writer, owner_only, private_folder
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.base import Actor, as_utc, atomic, utc_now

MAX_SHIFT_DAYS = 180
FORMAT_VERSION = 1

# What happens to a column: a pseudonym of a kind, a per-client date shift, kept, or free text.
Treatment = Literal[
    "pseudonym:episode",
    "pseudonym:client",
    "pseudonym:user",
    "pseudonym:session",
    "pseudonym:goal",
    "pseudonym:administration",
    "shift",
    "keep",
    "free_text",
]


@dataclass(frozen=True)
class TableSpec:
    table: Table
    columns: dict[str, Treatment]
    # How a row finds its client, for the date shift: its own client_id or its episode's.
    client_via: Literal["client_id", "episode_id"] = "episode_id"


EXPORTED: tuple[TableSpec, ...] = (
    TableSpec(
        t.episodes,
        {
            "id": "pseudonym:episode",
            "client_id": "pseudonym:client",
            "therapist_id": "pseudonym:user",
            "opened_on": "shift",
            "consent_on": "shift",
            "stage": "keep",
            "closed_on": "shift",
            "closing_summary": "free_text",
            "created_at": "shift",
        },
        client_via="client_id",
    ),
    TableSpec(
        t.stage_transitions,
        {
            "episode_id": "pseudonym:episode",
            "from_stage": "keep",
            "to_stage": "keep",
            "at": "shift",
            "by_user_id": "pseudonym:user",
            "reason": "free_text",
        },
    ),
    TableSpec(
        t.sessions,
        {
            "id": "pseudonym:session",
            "episode_id": "pseudonym:episode",
            "number": "keep",
            "held_on": "shift",
            "attendance": "keep",
        },
    ),
    TableSpec(
        t.administrations,
        {
            "id": "pseudonym:administration",
            "episode_id": "pseudonym:episode",
            "session_id": "pseudonym:session",
            "instrument_id": "keep",
            "answers": "keep",
            "total": "keep",
            "subscales": "keep",
            "band": "keep",
            "flags": "keep",
            "validity": "keep",
            "source": "keep",
            "created_at": "shift",
        },
    ),
    TableSpec(
        t.goals,
        {
            "id": "pseudonym:goal",
            "episode_id": "pseudonym:episode",
            "text": "free_text",
            "status": "keep",
            "agreed_on": "shift",
            "created_at": "shift",
            "updated_at": "shift",
        },
    ),
    TableSpec(
        t.tasks,
        {
            "episode_id": "pseudonym:episode",
            "goal_id": "pseudonym:goal",
            "description": "free_text",
            "kind": "keep",
            "status": "keep",
            "created_at": "shift",
        },
    ),
    TableSpec(
        t.boundary_events,
        {
            "episode_id": "pseudonym:episode",
            "session_id": "pseudonym:session",
            "kind": "keep",
            "description": "free_text",
            "client_welfare": "free_text",
            "technique_goal": "free_text",
            "plan_link": "free_text",
            "occurred_on": "shift",
        },
    ),
    TableSpec(
        t.relational_notes,
        {
            "episode_id": "pseudonym:episode",
            "session_id": "pseudonym:session",
            "kind": "keep",
            "text": "free_text",
            "tags": "free_text",
            "created_at": "shift",
        },
    ),
)

NOT_EXPORTED: dict[str, str] = {
    "organisations": "names the clinic",
    "users": "names and credentials of staff (therapists appear only as pseudonyms)",
    "clients": "the client code links back to the clinic's records",
    "client_identities": "names and contact details",
    "client_links": "access tokens",
    "audit_events": "operational record, not research data",
    "boundary_incidents": "incident reports under review",
    "worksheets": "free-form content",
    "signal_acknowledgements": "operational alerts and notes",
    "instrument_schedules": "clinic configuration",
    "transcript_profiles": "derived from session transcripts",
    "code_corrections": "derived from session transcripts",
    "etr_models": "clinic models, not client records",
    "checkins": "which forms were sent when; the answers are exported as administrations",
    "checkin_measures": "which forms were sent when; the answers are exported as administrations",
    "episode_schedules": "episode configuration",
}


class ResearchExportError(AllianceError, ValueError):
    """The export cannot go ahead (the message names the problem)."""


@dataclass(frozen=True)
class ExportResult:
    folder: Path
    rows: dict[str, int]
    manifest: dict[str, Any]


def require_research_key(research_key: str | None) -> str:
    """The research key, or a refusal naming the setting: never a fallback on another secret."""
    if research_key is None:
        raise ResearchExportError(
            "research_key: not set; set ALLIANCE_RESEARCH_KEY to a key of 16 characters or "
            "more, kept apart from ALLIANCE_SECRET_KEY (the same key gives the same pseudonyms)"
        )
    return research_key


class Pseudonymiser:
    """Keyed pseudonyms and per-client date offsets from one secret."""

    def __init__(self, research_key: str) -> None:
        try:
            check_key("research_key", research_key)
        except ValueError as error:
            raise ResearchExportError(str(error)) from None
        # Derived once more, so even a reused key never gives pseudonyms equal to a signature.
        self._key = hmac.new(
            research_key.encode(), b"alliance research export v1", hashlib.sha256
        ).digest()

    def _mac(self, message: str) -> bytes:
        return hmac.new(self._key, message.encode(), hashlib.sha256).digest()

    def pseudonym(self, kind: str, value: object) -> str | None:
        if value is None:
            return None
        return f"{kind[0].upper()}-{self._mac(f'{kind}:{value}').hex()[:16]}"

    def shift_days(self, client_id: int) -> int:
        """A nonzero offset in [-180, -1] or [1, 180], fixed for the client."""
        n = int.from_bytes(self._mac(f"date-shift:{client_id}")[:8], "big")
        days = n % MAX_SHIFT_DAYS + 1
        return days if (n >> 32) & 1 else -days

    def order_key(self, table: str, key: tuple[object, ...]) -> bytes:
        """Where a row goes in its file: keyed, so the order says nothing about real time."""
        return self._mac(f"row-order:{table}:{json.dumps(key, default=str)}")


def _cell(value: object) -> object:
    """A CSV cell; numbers stay numbers, so the CSV writer neutralises only text."""
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, int | float):
        return value
    return str(value)


def _shifted(value: object, days: int, where: str) -> object:
    """The date moved by `days`; a time becomes its UTC date first (no time of day leaves)."""
    if isinstance(value, datetime):
        value = as_utc(value).date()
    if isinstance(value, date):
        try:
            return value + timedelta(days=days)
        except OverflowError:
            raise ResearchExportError(
                f"export: {where} holds a date that cannot be shifted (before year 1 or after "
                "9999); correct it and export again (nothing was written)"
            ) from None
    return value


def _table_rows(
    conn: Connection,
    spec: TableSpec,
    kept: list[tuple[str, Treatment]],
    keys: Pseudonymiser,
    episode_client: dict[int, int],
) -> list[list[object]]:
    """One table's cells, pseudonymised and shifted, in the keyed order."""
    key_columns = list(spec.table.primary_key.columns)
    out: list[tuple[bytes, list[object]]] = []
    for row in conn.execute(select(spec.table)).mappings():
        client = (
            row["client_id"]
            if spec.client_via == "client_id"
            else episode_client.get(row["episode_id"])
        )
        days = keys.shift_days(client) if client is not None else 0
        cells: list[object] = []
        for name, how in kept:
            value = row[name]
            if how.startswith("pseudonym:"):
                value = keys.pseudonym(how.split(":", 1)[1], value)
            elif how == "shift":
                value = _shifted(value, days, f"{spec.table.name}.{name}")
            cells.append(_cell(value))
        order = keys.order_key(spec.table.name, tuple(row[c.name] for c in key_columns))
        out.append((order, cells))
    out.sort(key=lambda item: item[0])
    return [cells for _, cells in out]


def _table_manifest(
    spec: TableSpec, kept: list[tuple[str, Treatment]], count: int, include_free_text: bool
) -> dict[str, Any]:
    return {
        "file": f"{spec.table.name}.csv",
        "rows": count,
        "columns": dict(kept),
        "removed": {
            **{
                name: "free text (pass --include-free-text to keep)"
                for name, how in spec.columns.items()
                if how == "free_text" and not include_free_text
            },
            **{
                name: "not needed for research; could identify a person or account"
                for c in spec.table.columns
                if (name := c.name) not in spec.columns
            },
        },
    }


def _manifest(tables_manifest: dict[str, Any], include_free_text: bool) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "created_at": utc_now().date().isoformat(),
        "pseudonyms": "HMAC-SHA256 with a key derived from the clinic's research key, "
        "first 16 hex digits, prefixed by kind (E episode, C client, U user, S session, "
        "G goal, A administration)",
        "date_shift": f"per client, a keyed offset of 1 to {MAX_SHIFT_DAYS} days earlier or "
        "later, the same for all of a client's dates; times are written as their UTC date",
        "row_order": "keyed (HMAC of the table and the row's key), unrelated to time or ids",
        "free_text_included": include_free_text,
        "tables": tables_manifest,
        "tables_not_exported": NOT_EXPORTED,
    }


def _write_all(
    conn: Connection,
    staging: Path,
    keys: Pseudonymiser,
    include_free_text: bool,
    on_table: Callable[[str, int], None] | None,
) -> tuple[dict[str, int], dict[str, Any]]:
    episode_client = dict(conn.execute(select(t.episodes.c.id, t.episodes.c.client_id)).all())
    rows_written: dict[str, int] = {}
    tables_manifest: dict[str, Any] = {}
    for spec in EXPORTED:
        kept = [
            (name, how)
            for name, how in spec.columns.items()
            if how != "free_text" or include_free_text
        ]
        rows = _table_rows(conn, spec, kept, keys, episode_client)
        with open(staging / f"{spec.table.name}.csv", "w", newline="", encoding="utf-8") as out:
            writer = csv_writer(out)
            writer.writerow([name for name, _ in kept])
            writer.writerows(rows)
        rows_written[spec.table.name] = len(rows)
        tables_manifest[spec.table.name] = _table_manifest(spec, kept, len(rows), include_free_text)
        if on_table is not None:
            on_table(spec.table.name, len(rows))
    manifest = _manifest(tables_manifest, include_free_text)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return rows_written, manifest


def export_research(
    conn: Connection,
    folder: Path,
    research_key: str | None,
    *,
    include_free_text: bool = False,
    actor: Actor | None = None,
    on_table: Callable[[str, int], None] | None = None,
) -> ExportResult:
    """Write one CSV per exported table and manifest.json into a new or empty `folder`.

    All or nothing: the files are written into a private temporary folder beside `folder`
    and renamed into place at the end. `research_key` is the `research_key` setting; without
    one the export is refused rather than keyed with some other secret (docs/configuration.md).
    """
    keys = Pseudonymiser(require_research_key(research_key))
    folder = folder.expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ResearchExportError(f"export: {folder} exists and is not an empty folder")
    private_folder(folder.parent)
    # mkdtemp makes the folder 0700; the umask makes each file in it 0600.
    staging = Path(
        tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".partial", dir=folder.parent)
    )
    try:
        with owner_only():
            rows_written, manifest = _write_all(conn, staging, keys, include_free_text, on_table)
        for written in staging.iterdir():
            written.chmod(PRIVATE_FILE)
        with atomic(conn):
            audit.record(conn, actor or Actor.system(), "export", "research", None)
            if folder.exists():
                folder.rmdir()
            os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ExportResult(folder, rows_written, manifest)
