"""Reading administrations as the long score frame the analytics take."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection, Text, cast, select

from alliance.store import tables as t

FRAME_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "episode_id": pl.Int64,
    "client_id": pl.Int64,
    "therapist_id": pl.Int64,
    "session": pl.Int64,
    "date": pl.Date,
    "instrument": pl.String,
    "total": pl.Float64,
    "flags": pl.String,
    "administration_id": pl.Int64,
}
KEYS = ["episode_id", "instrument", "session"]


def score_frame(conn: Connection, episode_ids: Sequence[int]) -> pl.DataFrame:
    """One row per scored administration of these episodes, tied to its session number.

    `flags` stays the stored JSON text (decoding thousands of lists per page load is the
    slow part); `risk` is derived from it, which is all the analytics read.
    """
    if not episode_ids:
        return pl.DataFrame(schema=FRAME_SCHEMA).with_columns(pl.lit(False).alias("risk"))
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
            cast(a.c.flags, Text),
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
    frame = pl.DataFrame([tuple(r) for r in rows], schema=FRAME_SCHEMA, orient="row").with_columns(
        pl.col("flags").fill_null("[]")
    )
    # One score per instrument and session: a later entry (e.g. a correction) replaces an earlier.
    frame = frame.unique(subset=KEYS, keep="last", maintain_order=True)
    return frame.with_columns(pl.col("flags").str.contains('"risk:', literal=True).alias("risk"))


def flags_of(frame_row_flags: str | None) -> list[str]:
    """The flags of one row, decoded for display."""
    import json

    if not frame_row_flags:
        return []
    return [str(f) for f in json.loads(frame_row_flags)]
