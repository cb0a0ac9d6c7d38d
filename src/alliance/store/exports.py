"""Read scores out of the store: the analytics score frame, CSV/Parquet export, stored models.

The export has the same long shape `alliance import` reads (client, episode, session, date,
measure, therapist, status, total, item_1..item_n), so a round trip is lossless for scores;
`status` is `dropout` for an episode closed as a drop-out, as the reader expects. The file is
readable by its owner only (0600) and its text cells cannot run as spreadsheet formulas
(alliance.files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import polars as pl
from sqlalchemy import Connection, Engine, select

from alliance.analytics.etr import EtrError, EtrModel
from alliance.analytics.frame import score_frame
from alliance.domain import ClosingReason
from alliance.files import private_file, write_csv
from alliance.store.tables import (
    administrations,
    clients,
    episodes,
    etr_models,
    sessions,
    signal_acknowledgements,
    users,
)

ExportFormat = Literal["csv", "parquet"]


def _rows(conn: Connection) -> list[dict[str, Any]]:
    query = (
        select(
            episodes.c.id.label("episode"),
            clients.c.code.label("client"),
            users.c.username.label("therapist"),
            episodes.c.stage,
            episodes.c.closed_on,
            episodes.c.closing_reason,
            sessions.c.number.label("session"),
            sessions.c.held_on.label("date"),
            administrations.c.instrument_id.label("measure"),
            administrations.c.total,
            administrations.c.answers,
            administrations.c.flags,
        )
        .select_from(
            administrations.join(episodes, administrations.c.episode_id == episodes.c.id)
            .join(clients, episodes.c.client_id == clients.c.id)
            .join(users, episodes.c.therapist_id == users.c.id)
            .join(sessions, administrations.c.session_id == sessions.c.id)
        )
        .where(administrations.c.total.is_not(None))
        .order_by(episodes.c.id, administrations.c.instrument_id, sessions.c.number)
    )
    return [dict(r) for r in conn.execute(query).mappings()]


def load_score_frame(engine: Engine) -> pl.DataFrame:
    """Every scored administration linked to a session, as the analytics score frame."""
    with engine.connect() as conn:
        rows = _rows(conn)
    # Several administrations of one measure in one session: the last one stands.
    frame = score_frame(
        {
            "episode_id": [str(r["episode"]) for r in rows],
            "client_id": [r["client"] for r in rows],
            "therapist_id": [r["therapist"] for r in rows],
            "session": [r["session"] for r in rows],
            "date": [r["date"] for r in rows],
            "instrument": [r["measure"] for r in rows],
            "total": [float(r["total"]) for r in rows],
            "closed": [r["closed_on"] is not None for r in rows],
            "dropout": [r["closing_reason"] == ClosingReason.DROPOUT.value for r in rows],
            "flags": [list(r["flags"] or []) for r in rows],
        }
    )
    return frame.unique(["episode_id", "instrument", "session"], keep="last", maintain_order=True)


def _status(row: dict[str, Any]) -> str:
    """The `status` the CSV reader takes: open, closed, or dropout for a drop-out closing."""
    if row["closed_on"] is None:
        return "open"
    return "dropout" if row["closing_reason"] == ClosingReason.DROPOUT.value else "closed"


def export_scores(engine: Engine, out: Path, fmt: ExportFormat) -> int:
    """Write every scored administration to `out` as CSV or Parquet; returns the row count."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format: {fmt!r} is not allowed; allowed: csv, parquet")
    with engine.connect() as conn:
        rows = _rows(conn)
    n_items = max((len(r["answers"] or {}) for r in rows), default=0)
    data: dict[str, list[Any]] = {
        "client": [r["client"] for r in rows],
        "episode": [str(r["episode"]) for r in rows],
        "session": [r["session"] for r in rows],
        "date": [r["date"] for r in rows],
        "measure": [r["measure"] for r in rows],
        "therapist": [r["therapist"] for r in rows],
        "status": [_status(r) for r in rows],
        "total": [float(r["total"]) for r in rows],
    }
    for number in range(1, n_items + 1):
        data[f"item_{number}"] = [(r["answers"] or {}).get(str(number)) for r in rows]
    schema: dict[str, Any] = {
        "client": pl.String,
        "episode": pl.String,
        "session": pl.Int64,
        "date": pl.Date,
        "measure": pl.String,
        "therapist": pl.String,
        "status": pl.String,
        "total": pl.Float64,
        **{f"item_{n}": pl.Float64 for n in range(1, n_items + 1)},
    }
    frame = pl.DataFrame(data, schema=schema)
    if fmt == "csv":
        # The one CSV writer: client codes and usernames that look like formulas are quoted.
        write_csv(out, frame.columns, frame.iter_rows())
    else:
        private_file(out)  # created 0600 before any data is in it
        frame.write_parquet(out)
    return frame.height


def load_etr_models(engine: Engine) -> dict[str, EtrModel]:
    """The newest stored model per instrument (empty when none was fitted)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(etr_models.c.instrument_id, etr_models.c.params).order_by(
                etr_models.c.fitted_at, etr_models.c.id
            )
        ).all()
    models: dict[str, EtrModel] = {}
    for instrument, params in rows:
        try:
            models[instrument] = EtrModel.from_dict(dict(params))
        except EtrError:
            continue
    return models


def acknowledged_keys(engine: Engine) -> set[str]:
    """Keys of every acknowledged signal."""
    with engine.connect() as conn:
        return {k for (k,) in conn.execute(select(signal_acknowledgements.c.signal_key))}
