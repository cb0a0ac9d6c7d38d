"""Administrations: a filled form, scored by alliance.instruments at the moment it is stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from alliance.domain import DomainError
from alliance.instruments import Score, score
from alliance.store import audit
from alliance.store.access import open_for_entry
from alliance.store.base import Actor, atomic, check_session_of, insert_id, utc_now
from alliance.store.tables import administrations

SOURCES = ("link", "tablet", "paper", "import")


def record_administration(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    instrument_id: str,
    answers: Mapping[str, float | int | None],
    *,
    session_id: int | None = None,
    source: str = "paper",
    now: datetime | None = None,
    scored: Score | None = None,
) -> tuple[int, Score]:
    """Score the answers (InstrumentError on a bad answer, nothing written) and store both.

    `scored` is the Score a caller already computed from these very answers (to validate a
    form); it is stored as given instead of scoring the same answers a second time.
    """
    now = now or utc_now()
    if source not in SOURCES:
        raise DomainError("administration.source", source, "one of " + ", ".join(SOURCES))
    if scored is not None and scored.instrument != instrument_id:
        raise DomainError("administration.scored", scored.instrument, f"a score of {instrument_id}")
    result = scored if scored is not None else score(instrument_id, answers)
    with atomic(conn):
        open_for_entry(conn, actor, episode_id, "administration")
        check_session_of(conn, session_id, episode_id)
        admin_id = insert_id(
            conn,
            administrations,
            episode_id=episode_id,
            session_id=session_id,
            instrument_id=result.instrument,
            answers={str(k): v for k, v in answers.items()},
            total=result.total,
            subscales=result.subscales,
            band=result.band,
            flags=result.flags,
            validity=result.validity,
            source=source,
            entered_by=actor.user_id,
            created_at=now,
        )
        audit.record(conn, actor, "create", "administration", admin_id, now=now)
    return admin_id, result
