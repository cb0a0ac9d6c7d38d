"""Alerts shown to clinicians: one card per client and problem, with acknowledgements stored.

The cards come from the analytics (`alliance.analytics.alerts`): a card gathers the open,
unacknowledged signals of one problem (risk, outcome, alliance) of one episode. It clears
itself when its condition clears, and a closed episode shows none (`close_with_episode`
records that, to be called when an episode is closed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
from sqlalchemy import Connection, Text, cast, insert, select

from alliance.analytics.alerts import PROBLEM_OF, merged_next_steps, open_cards
from alliance.analytics.etr import EtrModel
from alliance.analytics.frame import UNSCORED_RISK_SCHEMA
from alliance.analytics.signals import SEVERITY_ORDER, signals_frame
from alliance.errors import FormError
from alliance.instruments import load_instrument
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import utc_now

SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
TITLES = {
    "risk_item": "Risk item endorsed",
    "reliable_deterioration": "Reliable deterioration",
    "not_on_track": "Not on track",
    "no_change": "No reliable improvement",
    "rupture": "Alliance rupture",
    "alliance_low": "Alliance low",
    "alliance_drop": "Alliance drop",
    "alliance_decline": "Alliance slowly declining",
    "repair": "Rupture repaired",
}
# Repairs are good news: shown on the chart, not counted as alerts that need acting on.
NOT_ALERTS = frozenset({"repair"})
CLOSED_NOTE = "Closed with the episode"


@dataclass(frozen=True)
class AlertView:
    """One card: the headline signal, every signal of the problem, merged next steps."""

    key: str
    episode_id: int
    kind: str
    severity: str
    title: str
    instrument: str
    session: int
    detail: str
    score: float | None
    reference: float | None
    next_steps: list[str] = field(default_factory=list)
    acknowledged: bool = False
    problem: str = ""
    # Every signal on the card (the headline first): its key, and its evidence in words.
    keys: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def rank(self) -> int:
        return SEVERITY_RANK.get(self.severity, len(SEVERITY_RANK))

    @property
    def is_risk(self) -> bool:
        return self.problem == "risk" or self.kind == "risk_item"


def etr_models(conn: Connection, organisation_id: int | None) -> dict[str, EtrModel]:
    """The clinic's latest fitted models per instrument (only these may decide an alert).

    The models that ship were fitted on synthetic episodes and never decide one, so they are
    not offered here.
    """
    models: dict[str, EtrModel] = {}
    rows = conn.execute(
        select(t.etr_models.c.instrument_id, t.etr_models.c.params)
        .where(
            (t.etr_models.c.organisation_id == organisation_id)
            | t.etr_models.c.organisation_id.is_(None)
        )
        .order_by(t.etr_models.c.fitted_at, t.etr_models.c.id)
    ).all()
    for row in rows:
        params = row.params
        if isinstance(params, dict) and "coefficients" in params:
            models.update(read_models_dict(params))
    return models


def read_models_dict(params: dict[str, object]) -> dict[str, EtrModel]:
    model = EtrModel.from_dict(dict(params))
    return {model.instrument: model}


def acknowledged_keys(conn: Connection, episode_ids: Sequence[int]) -> set[str]:
    if not episode_ids:
        return set()
    rows = conn.execute(
        select(t.signal_acknowledgements.c.signal_key).where(
            t.signal_acknowledgements.c.episode_id.in_(list(episode_ids))
        )
    ).scalars()
    return set(rows)


def repair_notes(conn: Connection, episode_ids: Sequence[int]) -> dict[int, list[int]]:
    """The session numbers of the therapist's repair notes, per episode, in order.

    A relational note of kind "repair" records that the therapist worked on a rupture with the
    client (3RS resolution strategies, Eubanks, Muran & Safran 2015). A note tied to a session
    counts at that session; one written outside a session counts at the last session held on or
    before the day it was written (none before the first session).
    """
    if not episode_ids:
        return {}
    n, s = t.relational_notes, t.sessions
    notes = conn.execute(
        select(n.c.episode_id, n.c.session_id, n.c.created_at)
        .where(n.c.episode_id.in_(list(episode_ids)), n.c.kind == "repair")
        .order_by(n.c.id)
    ).all()
    if not notes:
        return {}
    held = conn.execute(
        select(s.c.id, s.c.episode_id, s.c.number, s.c.held_on)
        .where(s.c.episode_id.in_(sorted({r.episode_id for r in notes})))
        .order_by(s.c.number)
    ).all()
    number_of = {r.id: int(r.number) for r in held}
    out: dict[int, list[int]] = {}
    for note in notes:
        number = number_of.get(note.session_id) if note.session_id is not None else None
        if number is None:
            day = note.created_at.date()
            before = [
                r.number for r in held if r.episode_id == note.episode_id and r.held_on <= day
            ]
            number = int(before[-1]) if before else None
        if number is not None:
            out.setdefault(int(note.episode_id), []).append(number)
    return {e: sorted(v) for e, v in out.items()}


def noted_repair(notes: Sequence[int], start_session: int) -> int | None:
    """The first session, at or after the rupture began, with a therapist's repair note."""
    return next((n for n in notes if n >= start_session), None)


def _with_repair_notes(table: pl.DataFrame, notes: dict[int, list[int]]) -> pl.DataFrame:
    """A rupture the therapist has noted working on is addressed: its card closes, as an
    acknowledgement would close it (the chart still shows it, with the note's session)."""
    if not notes or table.height == 0:
        return table
    addressed = [
        row["key"]
        for row in table.filter(pl.col("kind") == "rupture").iter_rows(named=True)
        if noted_repair(notes.get(int(row["episode_id"]), []), int(row["session"])) is not None
    ]
    if not addressed:
        return table
    keys = pl.Series(addressed, dtype=pl.String).implode()
    return table.with_columns(pl.col("acknowledged") | pl.col("key").is_in(keys))


def unscored_risk(conn: Connection, episode_ids: Sequence[int]) -> pl.DataFrame:
    """Forms stored although they could not be scored, with a risk item endorsed.

    They are left out of the score frame (no total), but their risk item still raises the most
    urgent alert.
    """
    a, s, e = t.administrations, t.sessions, t.episodes
    rows = conn.execute(
        select(a.c.episode_id, e.c.client_id, e.c.therapist_id, s.c.number, a.c.instrument_id)
        .join(s, s.c.id == a.c.session_id)
        .join(e, e.c.id == a.c.episode_id)
        .where(
            a.c.episode_id.in_(list(episode_ids)),
            a.c.validity == "invalid",
            cast(a.c.flags, Text).contains('"risk:'),
        )
        .order_by(a.c.episode_id, s.c.number, a.c.id)
    ).all()
    return pl.DataFrame(
        [tuple(str(v) if i < 3 else v for i, v in enumerate(r)) for r in rows],
        schema=UNSCORED_RISK_SCHEMA,
        orient="row",
    )


def _closed(conn: Connection, episode_ids: Sequence[int]) -> set[int]:
    e = t.episodes
    return set(
        conn.execute(
            select(e.c.id).where(e.c.id.in_(list(episode_ids)), e.c.closed_on.is_not(None))
        ).scalars()
    )


def alerts_for(
    conn: Connection,
    frame: pl.DataFrame,
    models: dict[str, EtrModel] | None = None,
    episode_ids: Sequence[int] | None = None,
) -> dict[int, list[AlertView]]:
    """Every open card per episode, most urgent first; closed episodes have none.

    `episode_ids` adds episodes with no scored form yet (a form that could not be scored can
    still carry a risk item).
    """
    ids = sorted(
        {int(i) for i in (frame["episode_id"].unique().to_list() if frame.height else [])}
        | {int(i) for i in (episode_ids or [])}
    )
    if not ids:
        return {}
    open_ids = [i for i in ids if i not in _closed(conn, ids)]
    if not open_ids:
        return {}
    scored = frame.filter(pl.col("episode_id").is_in(open_ids)) if frame.height else frame
    table = signals_frame(
        scored.drop("flags", strict=False),
        models=models if models is not None else etr_models(conn, None),
        acknowledged=acknowledged_keys(conn, open_ids),
        unscored_risk=unscored_risk(conn, open_ids),
    )
    return _cards(_with_repair_notes(table, repair_notes(conn, open_ids)))


def _cards(table: pl.DataFrame) -> dict[int, list[AlertView]]:
    out: dict[int, list[AlertView]] = {}
    if table.height == 0:
        return out
    headline = {
        row["key"]: row for row in table.select("key", "value", "reference").iter_rows(named=True)
    }
    for card in open_cards(table).iter_rows(named=True):
        first = headline[card["key"]]
        names = list(dict.fromkeys(load_instrument(i).short_name for i in card["instruments"]))
        view = AlertView(
            key=card["key"],
            episode_id=int(card["episode_id"]),
            kind=card["kind"],
            severity=card["severity"],
            title=f"{TITLES.get(card['kind'], card['kind'])} · {', '.join(names)}",
            instrument=card["instrument"],
            session=max(card["last_sessions"]),
            detail=card["detail"],
            score=_number(first["value"]),
            reference=_number(first["reference"]),
            next_steps=merged_next_steps(card["kinds"]),
            problem=card["problem"],
            keys=list(card["keys"]),
            evidence=[
                _evidence(kind, start, end, detail)
                for kind, start, end, detail in zip(
                    card["kinds"],
                    card["sessions"],
                    card["last_sessions"],
                    card["details"],
                    strict=True,
                )
            ],
            sources=list(dict.fromkeys(card["sources"])),
        )
        out.setdefault(view.episode_id, []).append(view)
    for views in out.values():
        views.sort(key=lambda v: (v.rank, -v.session))
    return out


def _evidence(kind: str, start: int, end: int, detail: str) -> str:
    when = f"session {start}" if start == end else f"sessions {start} to {end}"
    return f"{TITLES.get(kind, kind)}, {when}: {detail}"


def _number(value: float | None) -> float | None:
    return None if value is None or value != value else float(value)


def _open_cards(conn: Connection, episode_id: int) -> list[AlertView]:
    """The open cards of one episode."""
    from alliance.services.scores import score_frame

    frame = score_frame(conn, [episode_id])
    return alerts_for(conn, frame, episode_ids=[episode_id]).get(episode_id, [])


def _record(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    keys: Sequence[str],
    note: str | None,
    at: datetime,
) -> None:
    if not keys:
        return
    conn.execute(
        insert(t.signal_acknowledgements),
        [
            {
                "episode_id": episode_id,
                "signal_key": key,
                "user_id": viewer.user_id,
                "at": at,
                "note": note,
            }
            for key in keys
        ],
    )
    audit.record(conn, viewer.actor, "acknowledge", "signal", episode_id)


def acknowledge(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    signal_key: str,
    note: str | None,
    now: datetime | None = None,
) -> None:
    """Record that the treating therapist has seen an alert card (and what they will do).

    `signal_key` is any signal of the card; every signal on it is acknowledged.
    """
    Access(conn, viewer).episode(episode_id, write=True)
    card = next((c for c in _open_cards(conn, episode_id) if signal_key in c.keys), None)
    if card is None:
        raise FormError(
            {"signal_key": "this alert is not open on this episode (already acknowledged?)"}
        )
    clean_note = (note or "").strip() or None
    if clean_note is not None and len(clean_note) > 1000:
        raise FormError({"note": f"the note has {len(clean_note)} characters; at most 1000"})
    _record(conn, viewer, episode_id, card.keys, clean_note, now or utc_now())


def close_with_episode(
    conn: Connection, viewer: Viewer, episode_id: int, now: datetime | None = None
) -> int:
    """Close every open alert of an episode being closed; returns how many signals it closed.

    Call it from the episode's close, in the same transaction: the alerts are recorded as
    acknowledged with the note "Closed with the episode", by whoever closed it.
    """
    Access(conn, viewer).episode(episode_id, write=True)
    from alliance.services.scores import score_frame

    frame = score_frame(conn, [episode_id])
    table = signals_frame(
        frame.drop("flags", strict=False),
        models=etr_models(conn, None),
        acknowledged=acknowledged_keys(conn, [episode_id]),
        unscored_risk=unscored_risk(conn, [episode_id]),
    )
    kinds = table["kind"].cast(pl.String)
    keys = table.filter(kinds.is_in(list(PROBLEM_OF)) & pl.col("open") & ~pl.col("acknowledged"))[
        "key"
    ].to_list()
    _record(conn, viewer, episode_id, keys, CLOSED_NOTE, now or utc_now())
    return len(keys)
