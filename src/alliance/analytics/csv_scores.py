"""Read long-format score CSVs (the shape spreadsheets and other tools export), row by row.

Columns: `client, episode, session, date, measure` and either item answers `item_1..item_n` or a
`total`; optional `therapist`, `stage` (commitment|process|change|termination) and `status`
(open|closed|dropout). Every bad row is reported with its file line, the field and the reason;
answers are never echoed back (they are client content).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from alliance.analytics.frame import UNSCORED_RISK_SCHEMA, score_frame
from alliance.domain.episode import EARLIEST_DATE, LATEST_DATE
from alliance.domain.stages import Stage
from alliance.instruments import INSTRUMENT_IDS, Instrument, InstrumentError, load_instrument, score
from alliance.instruments.risk import RISK_ENDORSED, endorsed_in_cells, risk_note

if TYPE_CHECKING:
    from _csv import Reader as CsvReader  # what csv.reader() returns

REQUIRED = ("client", "episode", "session", "date", "measure")
OPTIONAL = ("therapist", "stage", "status", "total")
STATUSES = ("open", "closed", "dropout")
ITEM_COLUMN = re.compile(r"^item_([1-9][0-9]*)$")
CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,31}$")


@dataclass(frozen=True)
class RejectedRow:
    """One reason a row was refused: file line (1 = header), field and what is allowed.

    `risk`: the row had a risk item endorsed; who and when, so the analysis still raises it.
    """

    line: int
    field: str
    reason: str
    risk: UnscoredRisk | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass(frozen=True)
class UnscoredRisk:
    """A refused row with a risk item endorsed: its client, episode, session and measure."""

    client: str
    episode: str
    session: int
    instrument: str
    therapist: str | None


@dataclass(frozen=True)
class ScoreRow:
    """One accepted administration, scored."""

    line: int
    client: str
    episode: str
    session: int
    date: date | None
    instrument: str
    answers: dict[str, float | None]
    total: float
    subscales: dict[str, float]
    band: str | None
    flags: list[str]
    validity: str
    therapist: str | None
    stage: str | None
    status: str | None


@dataclass
class CsvScores:
    """Accepted rows, rejected rows, and the score frame built from the accepted ones."""

    rows: list[ScoreRow] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    n_lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.rejected

    def unscored_risk(self) -> pl.DataFrame:
        """Refused rows with a risk item endorsed, for `analyze(..., unscored_risk=...)`."""
        therapists = {(r.client, r.episode): r.therapist for r in self.rows if r.therapist}
        found = [p.risk for p in self.rejected if p.risk is not None]
        return pl.DataFrame(
            {
                "episode_id": [f"{r.client}/{r.episode}" for r in found],
                "client_id": [r.client for r in found],
                "therapist_id": [
                    r.therapist or therapists.get((r.client, r.episode)) or "unassigned"
                    for r in found
                ],
                "session": [r.session for r in found],
                "instrument": [r.instrument for r in found],
            },
            schema=UNSCORED_RISK_SCHEMA,
        )

    def frame(self) -> pl.DataFrame:
        """The long-format score frame of the accepted rows (see alliance.analytics.frame)."""
        closed_eps = {(r.client, r.episode) for r in self.rows if r.status in ("closed", "dropout")}
        dropout_eps = {(r.client, r.episode) for r in self.rows if r.status == "dropout"}
        therapists: dict[tuple[str, str], str] = {}
        for r in self.rows:
            if r.therapist:
                therapists.setdefault((r.client, r.episode), r.therapist)
        return score_frame(
            {
                "episode_id": [f"{r.client}/{r.episode}" for r in self.rows],
                "client_id": [r.client for r in self.rows],
                "therapist_id": [
                    therapists.get((r.client, r.episode), "unassigned") for r in self.rows
                ],
                "session": [r.session for r in self.rows],
                "date": [r.date for r in self.rows],
                "instrument": [r.instrument for r in self.rows],
                "total": [r.total for r in self.rows],
                "stage": [r.stage for r in self.rows],
                "closed": [(r.client, r.episode) in closed_eps for r in self.rows],
                "dropout": [(r.client, r.episode) in dropout_eps for r in self.rows],
                "flags": [r.flags for r in self.rows],
            }
        )


def _aliases() -> dict[str, str]:
    """Measure names accepted in the file: ids and short names, case and hyphens ignored."""
    names: dict[str, str] = {}
    for instrument_id in INSTRUMENT_IDS:
        instrument = load_instrument(instrument_id)
        for name in (instrument.id, instrument.short_name):
            names[_fold(name)] = instrument.id
    return names


def _fold(name: str) -> str:
    return re.sub(r"[\s\-_]", "", name.strip().lower())


def _decode_lines(data: bytes) -> tuple[list[str], set[int]]:
    """Split into lines and decode each as UTF-8; return the 1-based lines that were not UTF-8."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    bad: set[int] = set()
    lines: list[str] = []
    for number, raw in enumerate(data.splitlines(keepends=True), start=1):
        try:
            lines.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            bad.add(number)
            lines.append(raw.decode("utf-8", errors="replace"))
    return lines, bad


def read_scores_csv(source: Path | bytes) -> CsvScores:
    """Validate and score every row of a score CSV; nothing is dropped silently."""
    data = source.read_bytes() if isinstance(source, Path) else source
    lines, bad_encoding = _decode_lines(data)
    result = CsvScores(n_lines=len(lines))
    if not lines:
        result.rejected.append(RejectedRow(1, "(header)", "the file is empty"))
        return result
    if 1 in bad_encoding:
        result.rejected.append(
            RejectedRow(1, "(header)", "not valid UTF-8; save the file as UTF-8 (CSV UTF-8)")
        )
        return result
    reader = csv.reader(io.StringIO("".join(lines)))
    header = [h.strip().lower() for h in next(reader)]
    item_columns = {int(m.group(1)): i for i, h in enumerate(header) if (m := ITEM_COLUMN.match(h))}
    result.rejected.extend(_header_problems(header, item_columns))
    if result.rejected:
        return result
    _read_rows(reader, header, item_columns, bad_encoding, result)
    return result


def _header_problems(header: list[str], item_columns: dict[int, int]) -> list[RejectedRow]:
    """Missing required columns, or else the first column named twice."""
    missing = [c for c in REQUIRED if c not in header]
    if "total" not in header and not item_columns:
        missing.append("total or item_1..item_n")
    if missing:
        return [
            RejectedRow(
                1,
                column,
                "missing column; required: client, episode, session, date, measure, and "
                "item_1..item_n or total",
            )
            for column in missing
        ]
    duplicates = [h for h in set(header) if h and header.count(h) > 1]
    if duplicates:
        return [RejectedRow(1, duplicates[0], "column appears more than once in the header")]
    return []


def _read_rows(
    reader: CsvReader,
    header: list[str],
    item_columns: dict[int, int],
    bad_encoding: set[int],
    result: CsvScores,
) -> None:
    """Parse each data line into `result`: a scored row, or the reasons it was refused."""
    aliases = _aliases()
    seen: dict[tuple[str, str, int, str], int] = {}
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        problem = _line_problem(line, values, header, bad_encoding)
        if problem is not None:
            result.rejected.append(problem)
            continue
        cells = {h: v.strip() for h, v in zip(header, values, strict=True)}
        row_items = {n: values[i].strip() for n, i in item_columns.items()}
        parsed = _parse_row(line, cells, row_items, aliases, result.rejected)
        if parsed is None:
            continue
        key = (parsed.client, parsed.episode, parsed.session, parsed.instrument)
        if key in seen:
            result.rejected.append(
                RejectedRow(
                    line,
                    "session",
                    f"duplicated: this client, episode, session and measure are already on "
                    f"line {seen[key]}",
                )
            )
            continue
        seen[key] = line
        result.rows.append(parsed)


def _line_problem(
    line: int, values: list[str], header: list[str], bad_encoding: set[int]
) -> RejectedRow | None:
    """Why a whole line cannot be read as a row (its encoding, its number of fields), if so."""
    if line in bad_encoding:
        return RejectedRow(line, "(line)", "not valid UTF-8; save the file as UTF-8 (CSV UTF-8)")
    if len(values) != len(header):
        return RejectedRow(
            line, "(line)", f"has {len(values)} fields; the header has {len(header)}"
        )
    return None


Fail = Callable[[str, str], None]


def _parse_row(
    line: int,
    cells: dict[str, str],
    items: dict[int, str],
    aliases: dict[str, str],
    rejected: list[RejectedRow],
) -> ScoreRow | None:
    errors: list[RejectedRow] = []

    def fail(column: str, reason: str) -> None:
        errors.append(RejectedRow(line, column, reason))

    # Each field is checked even after one failed, so a row's every problem is reported at once.
    _check_codes(cells, fail)
    session = _parse_session(cells["session"], fail)
    when = _parse_date(cells["date"], fail)
    instrument_id = _parse_measure(cells["measure"], aliases, fail)
    stage = _parse_choice("stage", cells, tuple(s.value for s in Stage), fail)
    status = _parse_choice("status", cells, STATUSES, fail)
    therapist = _parse_therapist(cells, fail)
    scored = None
    if instrument_id is not None:
        scored = _score_row(load_instrument(instrument_id), cells.get("total", ""), items, fail)
    if errors or scored is None or session is None or instrument_id is None:
        rejected.extend(_risk_first(line, cells, items, instrument_id, session, errors))
        return None
    answers, total, result = scored
    return ScoreRow(
        line=line,
        client=cells["client"],
        episode=cells["episode"],
        session=session,
        date=when,
        instrument=instrument_id,
        answers=answers,
        total=total,
        subscales=dict(result.subscales) if result else {},
        band=result.band if result else None,
        flags=list(result.flags) if result else [],
        validity=result.validity if result else "complete",
        therapist=therapist,
        stage=stage,
        status=status,
    )


def _check_codes(cells: dict[str, str], fail: Fail) -> None:
    for column in ("client", "episode"):
        if not CODE.match(cells[column]):
            fail(
                column,
                "empty or not a code; allowed: up to 32 letters, digits, '.', '_' or '-'",
            )


def _parse_session(text: str, fail: Fail) -> int | None:
    session = _whole_number(text)
    if session is None:
        fail("session", f"{text!r} is not allowed; allowed: a whole number from 1")
    return session


def _parse_date(text: str, fail: Fail) -> date | None:
    if not text:
        return None
    try:
        when = date.fromisoformat(text)
    except ValueError:
        fail("date", f"{text!r} is not allowed; allowed: a date as YYYY-MM-DD")
        return None
    if not EARLIEST_DATE <= when <= LATEST_DATE:
        fail(
            "date",
            f"{text!r} is not allowed; allowed: a date from {EARLIEST_DATE} to {LATEST_DATE}",
        )
        return None
    return when


def _parse_measure(text: str, aliases: dict[str, str], fail: Fail) -> str | None:
    instrument_id = aliases.get(_fold(text))
    if instrument_id is None:
        fail("measure", f"{text!r} is unknown; allowed: {', '.join(INSTRUMENT_IDS)}")
    return instrument_id


def _parse_choice(
    column: str, cells: dict[str, str], allowed: tuple[str, ...], fail: Fail
) -> str | None:
    """An optional column holding one of `allowed` (any case); None when empty."""
    value = cells.get(column, "").lower() or None
    if value is not None and value not in allowed:
        fail(column, f"{value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _parse_therapist(cells: dict[str, str], fail: Fail) -> str | None:
    therapist = cells.get("therapist") or None
    if therapist is not None and not CODE.match(therapist):
        fail("therapist", "not a user name; allowed: up to 32 letters, digits, '.', '_' or '-'")
    return therapist


def _score_row(
    instrument: Instrument,
    total_cell: str,
    items: dict[int, str],
    fail: Fail,
) -> tuple[dict[str, float | None], float, Any] | None:
    # Both are parsed before either failure returns, so item and total errors are reported together.
    answers = _parse_answers(instrument, items, fail)
    total_ok, given_total = _parse_total(instrument, total_cell, fail)
    if answers is None or not total_ok:
        return None
    if answers:
        return _score_answers(instrument, answers, given_total, fail)
    if given_total is None:
        fail("total", "empty, and no item answers; give item_1..item_n or a total")
        return None
    return {}, given_total, None


def _parse_answers(
    instrument: Instrument, items: dict[int, str], fail: Fail
) -> dict[str, float | None] | None:
    """The item answers given, by item number; None if any is not on its scale."""
    answers: dict[str, float | None] = {}
    ok = True
    for number, text in sorted(items.items()):
        if not text:
            continue
        column = f"item_{number}"
        if number > instrument.n_items:
            fail(column, f"{instrument.id} has {instrument.n_items} items; leave this empty")
            ok = False
            continue
        scale = instrument.scale_of(instrument.items[number - 1])
        value = _number(text)
        if value is None:
            fail(column, f"not a number; allowed: {scale.allowed()}")
            ok = False
            continue
        steps = value / scale.step
        if not scale.low <= value <= scale.high or abs(steps - round(steps)) > 1e-6:
            fail(column, f"out of range; allowed: {scale.allowed()}")
            ok = False
            continue
        answers[str(number)] = value
    return answers if ok else None


def _parse_total(instrument: Instrument, text: str, fail: Fail) -> tuple[bool, float | None]:
    """Whether the total cell is acceptable, and its value (None when empty)."""
    if not text:
        return True, None
    allowed = f"{instrument.total_min:g} to {instrument.total_max:g}"
    given_total = _number(text)
    if given_total is None:
        fail("total", f"not a number; allowed: {allowed}")
        return False, None
    if not instrument.total_min <= given_total <= instrument.total_max:
        fail("total", f"out of range; allowed: {allowed}")
        return False, given_total
    return True, given_total


def _score_answers(
    instrument: Instrument,
    answers: dict[str, float | None],
    given_total: float | None,
    fail: Fail,
) -> tuple[dict[str, float | None], float, Any] | None:
    """Score the answers; refused when unscorable or when they disagree with a given total."""
    try:
        result = score(instrument, answers)
    except InstrumentError as exc:
        fail("items", str(exc))
        return None
    if result.total is None:
        fail("items", result.reason or "too many items unanswered to score")
        return None
    if given_total is not None and abs(given_total - result.total) > 1e-6:
        fail("total", "does not match the item answers; leave it empty or correct it")
        return None
    full = {item.id: answers.get(item.id) for item in instrument.items}
    return full, float(result.total), result


def _number(text: str) -> float | None:
    try:
        value = (
            float(text.replace(",", "."))
            if text.count(",") == 1 and "." not in text
            else float(text)
        )
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _whole_number(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        return None
    return value if value >= 1 else None


def _risk_first(
    line: int,
    cells: dict[str, str],
    items: dict[int, str],
    instrument_id: str | None,
    session: int | None,
    errors: list[RejectedRow],
) -> list[RejectedRow]:
    """A refused row's problems; if a risk item was endorsed, one of them says so and carries
    who and when, so the analysis raises the risk signal whatever else is wrong (DOMAIN §3)."""
    if instrument_id is None:
        return errors
    endorsed = endorsed_in_cells(load_instrument(instrument_id), items)
    if not endorsed:
        return errors
    risk = None
    if session is not None and all(CODE.match(cells[c]) for c in ("client", "episode")):
        therapist = cells.get("therapist") or None
        risk = UnscoredRisk(
            cells["client"],
            cells["episode"],
            session,
            instrument_id,
            therapist if therapist and CODE.match(therapist) else None,
        )
    said = next((i for i, e in enumerate(errors) if RISK_ENDORSED in e.reason), None)
    if said is not None:
        return [replace(e, risk=risk) if i == said else e for i, e in enumerate(errors)]
    note = RejectedRow(line, f"item_{endorsed[0]}", risk_note(instrument_id, endorsed), risk)
    return [note, *errors]
