"""Reading administrations as the long score frame the analytics take."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl
from sqlalchemy import Connection, select

from alliance.store import tables as t

FRAME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "episode_id": pl.Int64,
    "client_id": pl.Int64,
    "therapist_id": pl.Int64,
    "session": pl.Int64,
    "date": pl.Date,
    "instrument": pl.String,
    "total": pl.Float64,
    "flags": pl.List(pl.String),
    "administration_id": pl.Int64,
}


def score_frame(conn: Connection, episode_ids: Sequence[int]) -> pl.DataFrame:
    """One row per scored administration of these episodes, tied to its session number."""
    if not episode_ids:
        return pl.DataFrame(schema=FRAME_SCHEMA)
    a, s, e = t.administrations, t.sessions, t.episodes
    rows = conn.execute(
        select(
            a.c.episode_id,
            e.c.client_id,
            e.c.therapist_id,
            s.c.number,
            s.c.held_on,
            a.c.instrument_id,
            a.c.total,
            a.c.flags,
            a.c.id,
        )
        .join(s, s.c.id == a.c.session_id)
        .join(e, e.c.id == a.c.episode_id)
        .where(
            a.c.episode_id.in_(list(episode_ids)),
            a.c.total.is_not(None),
            a.c.validity != "invalid",
        )
        .order_by(a.c.episode_id, a.c.instrument_id, s.c.number, a.c.id)
    ).all()
    # One score per instrument and session: a later entry (e.g. a correction) replaces an earlier.
    latest: dict[tuple[int, str, int], tuple[object, ...]] = {}
    for r in rows:
        latest[(r.episode_id, r.instrument_id, r.number)] = (
            r.episode_id,
            r.client_id,
            r.therapist_id,
            r.number,
            r.held_on if isinstance(r.held_on, date) else None,
            r.instrument_id,
            float(r.total),
            [str(f) for f in (r.flags or [])],
            r.id,
        )
    return pl.DataFrame(list(latest.values()), schema=FRAME_SCHEMA, orient="row")
