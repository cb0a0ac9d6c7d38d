"""Which measures a client may be shown, and the clinic's licensed wording that makes them so.

A measure whose wording ships (PHQ-9, GAD-7, CORE-10) is always offered. One whose wording
Alliance may not ship (ORS, SRS, WAI-SR) is offered only once the clinic has added its licensed
wording, so a client never meets placeholder wording ("Task 1", a line without its ends). The
goal-based outcomes ask about the episode's agreed goals, in the client's own words, and are
offered on an episode only once it has one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select, update

from alliance.errors import FormError
from alliance.instruments import INSTRUMENT_IDS, Instrument, InstrumentError, load_instrument
from alliance.instruments.wording import apply_wording, read_wording
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import Actor, insert_id, utc_now

MAX_FILE_BYTES = 200_000
GBO_GOALS = 5


@dataclass(frozen=True)
class Offer:
    """Whether a clinic can offer a measure to clients, and if not, why and how to change that."""

    instrument_id: str
    name: str
    offered: bool
    reason: str | None = None
    how: str | None = None
    licence_holder: str | None = None
    licence_date: date | None = None


def _stored(conn: Connection, organisation_id: int | None, instrument_id: str) -> object | None:
    table = t.instrument_wordings
    return conn.execute(
        select(table).where(
            table.c.organisation_id == organisation_id, table.c.instrument_id == instrument_id
        )
    ).first()


def offer(conn: Connection, organisation_id: int | None, instrument_id: str) -> Offer:
    instrument = load_instrument(instrument_id)
    if instrument.wording_ships:
        return Offer(instrument.id, instrument.name, True)
    row = _stored(conn, organisation_id, instrument.id)
    if row is None:
        return Offer(
            instrument.id,
            instrument.name,
            False,
            reason=f"Not offered to clients: the {instrument.name}'s wording is "
            f"{instrument.licence_name.split(':')[0]} and is not included with Alliance, and "
            "this clinic has not added its licensed wording yet.",
            how=instrument.licence.how_to_get,
        )
    return Offer(
        instrument.id,
        instrument.name,
        True,
        licence_holder=row.licence_holder,  # type: ignore[attr-defined]
        licence_date=row.licence_date,  # type: ignore[attr-defined]
    )


def offers(conn: Connection, organisation_id: int | None) -> list[Offer]:
    """Every measure, in the registry's order, with whether clients may be shown it."""
    return [offer(conn, organisation_id, i) for i in INSTRUMENT_IDS]


def not_offered(conn: Connection, organisation_id: int | None) -> list[Offer]:
    return [o for o in offers(conn, organisation_id) if not o.offered]


def _episode_organisation(conn: Connection, episode_id: int) -> int | None:
    return conn.execute(
        select(t.clients.c.organisation_id)
        .select_from(t.episodes.join(t.clients, t.clients.c.id == t.episodes.c.client_id))
        .where(t.episodes.c.id == episode_id)
    ).scalar()


def agreed_goals(conn: Connection, episode_id: int) -> list[str]:
    """The episode's agreed goals in the client's words, oldest first, at most five (GBO slots)."""
    rows = conn.execute(
        select(t.goals.c.text)
        .where(t.goals.c.episode_id == episode_id, t.goals.c.status == "agreed")
        .order_by(t.goals.c.id)
        .limit(GBO_GOALS)
    ).scalars()
    return [str(r) for r in rows]


def client_instrument(conn: Connection, episode_id: int, instrument_id: str) -> Instrument:
    """The measure as a client of this episode is shown it; FormError where it may not be."""
    try:
        instrument = load_instrument(instrument_id)
    except InstrumentError:
        raise FormError({"instrument": f"{instrument_id[:40]!r} is not a known measure"}) from None
    if instrument.kind == "goals":
        return _goal_form(conn, episode_id, instrument)
    if instrument.wording_ships:
        return instrument
    row = _stored(conn, _episode_organisation(conn, episode_id), instrument.id)
    if row is None:
        found = offer(conn, _episode_organisation(conn, episode_id), instrument.id)
        raise FormError({"instrument": f"{found.reason} {found.how or ''}".strip()})
    return apply_wording(instrument, row.wording)  # type: ignore[attr-defined]


def _goal_form(conn: Connection, episode_id: int, instrument: Instrument) -> Instrument:
    """GBO with one question per agreed goal, each in the client's own words."""
    goals = agreed_goals(conn, episode_id)
    if not goals:
        raise FormError(
            {
                "instrument": "Not offered yet: the goal-based outcomes ask about each agreed "
                "goal in the client's own words, and this episode has no agreed goal yet."
            }
        )
    audit.record(conn, Actor.system(), "read", "goals", episode_id)
    items = tuple(
        item.model_copy(update={"local_text": goals[n]}) if n < len(goals) else item
        for n, item in enumerate(instrument.items)
    )
    asked = tuple(item.id for item in instrument.items[: len(goals)])
    return instrument.model_copy(update={"items": items, "asked": asked})


def upload_wording(
    conn: Connection,
    viewer: Viewer,
    instrument_id: str,
    filename: str,
    content: bytes,
    licence_holder: str,
    licence_date: str,
) -> int:
    """Store a clinic's licensed wording once checked whole; every refusal names its field."""
    errors: dict[str, str] = {}
    instrument = _licensed_instrument(instrument_id, errors)
    holder = " ".join(licence_holder.split())
    if not holder:
        errors["licence_holder"] = "say who holds the licence (a person or the clinic)"
    elif len(holder) > 200:
        errors["licence_holder"] = f"the name has {len(holder)} characters; at most 200"
    since = _licence_date(licence_date, errors)
    wording = None
    if not content:
        errors["file"] = "choose the wording file (.json or .csv) to upload"
    elif len(content) > MAX_FILE_BYTES:
        errors["file"] = f"the file has {len(content)} bytes; at most {MAX_FILE_BYTES}"
    elif instrument is not None:
        try:
            wording = read_wording(instrument, filename, content)
        except InstrumentError as exc:
            errors["file"] = str(exc)
    if errors or instrument is None or wording is None or since is None:
        raise FormError(errors)
    return _save(conn, viewer, instrument.id, wording, holder, since)


def _licensed_instrument(instrument_id: str, errors: dict[str, str]) -> Instrument | None:
    needs = [i for i in INSTRUMENT_IDS if not load_instrument(i).wording_ships]
    if instrument_id not in needs:
        errors["instrument"] = (
            f"{instrument_id[:40]!r} takes no licensed wording; allowed: {', '.join(needs)}"
        )
        return None
    return load_instrument(instrument_id)


def _licence_date(value: str, errors: dict[str, str]) -> date | None:
    try:
        since = date.fromisoformat(value.strip())
    except ValueError:
        errors["licence_date"] = f"{value[:20]!r} is not a date; use YYYY-MM-DD"
        return None
    if since > utc_now().date():
        errors["licence_date"] = f"{since.isoformat()} is in the future; a licence already held"
        return None
    return since


def _save(
    conn: Connection,
    viewer: Viewer,
    instrument_id: str,
    wording: dict[str, object],
    holder: str,
    since: date,
) -> int:
    table = t.instrument_wordings
    values = {
        "wording": wording,
        "licence_holder": holder,
        "licence_date": since,
        "uploaded_by": viewer.user_id,
        "created_at": utc_now(),
    }
    row = _stored(conn, viewer.organisation_id, instrument_id)
    if row is None:
        row_id = insert_id(
            conn,
            table,
            organisation_id=viewer.organisation_id,
            instrument_id=instrument_id,
            **values,
        )
    else:
        row_id = int(row.id)  # type: ignore[attr-defined]
        conn.execute(update(table).where(table.c.id == row_id).values(**values))
    audit.record(conn, viewer.actor, "upload", "instrument_wording", row_id)
    return row_id
