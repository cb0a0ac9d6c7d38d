"""Attach a transcript's session profile to a session, and keep human code corrections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, insert, select

from alliance.store.audit import record
from alliance.store.base import Actor, NotFoundError, utc_now
from alliance.store.tables import code_corrections, sessions, transcript_profiles
from alliance.transcripts.corrections import Correction


def attach_profile(
    engine: Engine,
    session_id: int,
    profile: dict[str, Any],
    *,
    model_version: str,
    corrections: Sequence[Correction] = (),
    actor: Actor | None = None,
) -> int:
    """Store a profile (and any corrections) for a session in one transaction; returns its id."""
    who = actor or Actor(user_id=None, ip=None)
    with engine.begin() as conn:
        found = conn.execute(select(sessions.c.id).where(sessions.c.id == session_id)).first()
        if found is None:
            raise NotFoundError("session", session_id)
        now = utc_now()
        pid = conn.execute(
            insert(transcript_profiles).values(
                session_id=session_id,
                profile=profile,
                model_version=model_version[:60],
                created_by=who.user_id,
                created_at=now,
            )
        ).inserted_primary_key
        assert pid is not None
        profile_id = int(pid[0])
        for c in corrections:
            conn.execute(
                insert(code_corrections).values(
                    transcript_profile_id=profile_id,
                    session_id=session_id,
                    utterance_index=c.line,
                    speaker=c.speaker,
                    original_code=c.was or "",
                    corrected_code=c.code,
                    corrected_by=who.user_id,
                    at=now,
                )
            )
        record(conn, who, "transcript_profile.attach", "session", session_id)
    return profile_id


def profiles_for(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    """Stored profiles of a session, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(transcript_profiles)
            .where(transcript_profiles.c.session_id == session_id)
            .order_by(transcript_profiles.c.id.desc())
        ).mappings()
        return [dict(r) for r in rows]


def corrections_for(engine: Engine, session_id: int) -> list[dict[str, Any]]:
    """Stored code corrections of a session."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(code_corrections).where(code_corrections.c.session_id == session_id)
        ).mappings()
        return [dict(r) for r in rows]
