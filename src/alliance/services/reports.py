"""The progress report's facts, once: the HTML page and the PDF are both drawn from this.

Each measure's first and last score, the change, and the Jacobson & Truax (1991) statement in
words: a change at least the measure's reliable-change value is reliable; crossing the clinical
cutoff as well is clinically significant ("recovered"). Names for people, codes only for the
client (no name, e-mail or phone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Connection, select

from alliance.instruments import classify_change, load_instrument
from alliance.instruments.model import InstrumentError
from alliance.services.episodes import EpisodeDetail
from alliance.store import tables as t

STAGE_NAMES = {
    "commitment": "Commitment",
    "process": "Process",
    "change": "Change",
    "termination": "Termination",
}


@dataclass(frozen=True)
class MeasureChange:
    name: str
    short_name: str
    kind: str
    first: float
    first_session: int
    last: float
    last_session: int
    change: float
    statement: str


@dataclass(frozen=True)
class ProgressReport:
    client_code: str
    therapist: str
    opened_on: date
    closed_on: date | None
    first_session_on: date | None
    last_session_on: date | None
    stage: str
    sessions_attended: int
    sessions_recorded: int
    goals: list[tuple[str, str]]
    measures: list[MeasureChange] = field(default_factory=list)
    closing_reason: str | None = None
    closing_summary: str | None = None

    @property
    def period(self) -> str:
        end = self.closed_on or self.last_session_on
        start = self.opened_on.isoformat()
        return f"{start} to {end.isoformat()}" if end else f"from {start}, ongoing"


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def change_statement(instrument_id: str, first: float, last: float, same_session: bool) -> str:
    """Jacobson & Truax (1991): reliable change, then clinical significance, in words."""
    if same_session:
        return "One score so far: no change to judge yet."
    instrument = load_instrument(instrument_id)
    try:
        result = classify_change(instrument, first, last)
    except InstrumentError:
        return (
            f"No reliable-change value is published for the {instrument.name}: shown, not judged."
        )
    threshold = _number(result.threshold)
    if result.classification == "recovered":
        return (
            f"Reliable and clinically significant improvement: a change of at least {threshold} "
            f"points, from the clinical into the non-clinical range."
        )
    if result.classification == "improved":
        where = (
            "still in the clinical range"
            if result.post_clinical
            else "without crossing the clinical cutoff"
        )
        return f"Reliable improvement (at least {threshold} points), {where}."
    if result.classification == "deteriorated":
        return f"Reliable deterioration: worse by at least {threshold} points."
    return f"No reliable change (less than {threshold} points either way)."


def _measures(detail: EpisodeDetail) -> list[MeasureChange]:
    frame = detail.frame
    if frame.height == 0:
        return []
    out = []
    for instrument_id in sorted(set(frame["instrument"].to_list())):
        rows = frame.filter(frame["instrument"] == instrument_id).sort("session")
        first, last = float(rows["total"][0]), float(rows["total"][-1])
        instrument = load_instrument(instrument_id)
        out.append(
            MeasureChange(
                name=instrument.name,
                short_name=instrument.short_name,
                kind=instrument.kind,
                first=first,
                first_session=int(rows["session"][0]),
                last=last,
                last_session=int(rows["session"][-1]),
                change=last - first,
                statement=change_statement(
                    instrument_id, first, last, same_session=rows.height == 1
                ),
            )
        )
    # Outcome measures first: the report answers "is the client better?" before "how did it feel".
    return sorted(out, key=lambda m: (m.kind != "outcome", m.short_name))


def progress_report(conn: Connection, detail: EpisodeDetail) -> ProgressReport:
    """The report of an episode already read through the access policy (`episode_detail`)."""
    therapist = conn.execute(
        select(t.users.c.display_name).where(t.users.c.id == detail.therapist_id)
    ).scalar_one()
    dates = [s.held_on for s in detail.sessions]
    return ProgressReport(
        client_code=detail.client_code,
        therapist=str(therapist),
        opened_on=detail.opened_on,
        closed_on=detail.closed_on,
        first_session_on=min(dates) if dates else None,
        last_session_on=max(dates) if dates else None,
        stage=STAGE_NAMES.get(detail.stage, detail.stage),
        sessions_attended=sum(s.attendance == "attended" for s in detail.sessions),
        sessions_recorded=len(detail.sessions),
        goals=[(g["text"], str(g["status"]).capitalize()) for g in detail.goals],
        measures=_measures(detail),
        closing_reason=detail.closing_reason,
        closing_summary=detail.closing_summary,
    )
