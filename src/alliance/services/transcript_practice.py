"""Practice over time from coded transcripts, and the corrections as training rows.

A supervisor sees only the sessions shared with them (alliance.services.transcripts).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from alliance.errors import FormError
from alliance.services.transcripts import owner_clause
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import Actor
from alliance.transcripts.corrections import Correction


@dataclass(frozen=True)
class TrendRow:
    """One coded session beside the client's own ratings of that session."""

    transcript_id: int
    episode_id: int
    session_id: int
    session_number: int
    held_on: Any
    client_code: str
    therapist: str
    metrics: dict[str, float | None]
    markers: int
    srs: float | None
    outcome: str | None
    outcome_total: float | None


def _ratings(conn: Connection, session_ids: list[int]) -> dict[int, dict[str, float | None]]:
    """Each session's totals by instrument (the last entered wins)."""
    out: dict[int, dict[str, float | None]] = {}
    if not session_ids:
        return out
    rows = conn.execute(
        select(
            t.administrations.c.session_id,
            t.administrations.c.instrument_id,
            t.administrations.c.total,
        )
        .where(t.administrations.c.session_id.in_(session_ids))
        .order_by(t.administrations.c.id)
    )
    for r in rows:
        out.setdefault(int(r.session_id), {})[str(r.instrument_id)] = r.total
    return out


def _trend_rows(conn: Connection, viewer: Viewer) -> list[Any]:
    joined = (
        t.session_transcripts.join(
            t.sessions, t.sessions.c.id == t.session_transcripts.c.session_id
        )
        .join(t.episodes, t.episodes.c.id == t.sessions.c.episode_id)
        .join(t.clients, t.clients.c.id == t.episodes.c.client_id)
        .join(t.users, t.users.c.id == t.session_transcripts.c.therapist_id)
        .join(
            t.transcript_profiles, t.transcript_profiles.c.id == t.session_transcripts.c.profile_id
        )
    )
    return list(
        conn.execute(
            select(
                t.session_transcripts.c.id,
                t.session_transcripts.c.session_id,
                t.sessions.c.episode_id,
                t.sessions.c.number,
                t.sessions.c.held_on,
                t.clients.c.code,
                t.users.c.display_name,
                t.transcript_profiles.c.profile,
            )
            .select_from(joined)
            .where(owner_clause(viewer), t.session_transcripts.c.status == "done")
            .order_by(t.sessions.c.held_on, t.session_transcripts.c.id)
        ).all()
    )


def practice_trends(conn: Connection, viewer: Viewer) -> list[TrendRow]:
    """A therapist's coded sessions over time; a supervisor's view holds shared ones only."""
    from alliance.instruments import list_instruments

    outcome_ids = [i.id for i in list_instruments() if i.kind == "outcome"]
    names = {i.id: i.short_name for i in list_instruments()}
    rows = _trend_rows(conn, viewer)
    ratings = _ratings(conn, [int(r.session_id) for r in rows])
    Access(conn, viewer).record("transcript.trends", "user", viewer.user_id)
    out: list[TrendRow] = []
    for r in rows:
        got = ratings.get(int(r.session_id), {})
        outcome = next((i for i in outcome_ids if i in got), None)
        profile = r.profile or {}
        markers = [
            m for m in profile.get("markers", []) if m["name"] != "advice_without_permission"
        ]
        out.append(
            TrendRow(
                transcript_id=r.id,
                episode_id=r.episode_id,
                session_id=r.session_id,
                session_number=r.number,
                held_on=r.held_on,
                client_code=r.code,
                therapist=r.display_name,
                metrics=dict(profile.get("metrics", {})),
                markers=len(markers),
                srs=got.get("srs"),
                outcome=names.get(outcome) if outcome else None,
                outcome_total=got.get(outcome) if outcome else None,
            )
        )
    return out


def training_corrections(conn: Connection, username: str) -> tuple[list[Correction], int]:
    """A therapist's corrections as training rows (`alliance transcript train --corrections`).

    A correction carries its words and the turns around it only while the text is kept; those
    whose text was deleted or never kept are counted and left out. Returns (rows, left out).
    """
    user = conn.execute(
        select(t.users.c.id).where(t.users.c.username == username, t.users.c.role == "therapist")
    ).first()
    if user is None:
        raise FormError({"user": f"no therapist is called {username[:40]!r}"})
    rows = conn.execute(
        select(
            t.code_corrections,
            t.session_transcripts.c.id.label("tid"),
            t.session_transcripts.c.coded,
        )
        .join(
            t.session_transcripts,
            t.session_transcripts.c.profile_id == t.code_corrections.c.transcript_profile_id,
        )
        .where(t.session_transcripts.c.therapist_id == user.id)
        .order_by(t.code_corrections.c.id)
    ).all()
    out: list[Correction] = []
    for r in rows:
        lines = [dict(c) for c in r.coded or []]
        k = next((i for i, c in enumerate(lines) if c["line"] == r.utterance_index), None)
        if k is None:
            continue
        out.append(
            Correction(
                source=f"session-transcript-{r.tid}",
                line=r.utterance_index,
                speaker="therapist" if r.speaker == "therapist" else "client",
                code=r.corrected_code,
                text=str(lines[k]["text"]),
                prev=str(lines[k - 1]["text"]) if k > 0 else "",
                next=str(lines[k + 1]["text"]) if k + 1 < len(lines) else "",
                was=r.original_code,
            )
        )
    audit.record(conn, Actor(int(user.id), None), "transcript.export_corrections", "user", user.id)
    return out, len(rows) - len(out)
