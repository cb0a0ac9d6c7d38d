"""Tell the therapist, and the duty contact if one is set, at once when a risk item is endorsed.

The email says only that a risk item was endorsed and to open Alliance: never the answer, the
measure or its score (the client's answer stays in the record, behind the access rule).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from alliance.store import tables as t
from alliance.store.base import insert_id, utc_now


def notify_risk(conn: Connection, episode_id: int, now: datetime | None = None) -> list[int]:
    """Queue the risk notification (therapist, duty contact) in the caller's transaction."""
    now = now or utc_now()
    therapist = conn.execute(
        select(t.users.c.email)
        .join(t.episodes, t.episodes.c.therapist_id == t.users.c.id)
        .where(t.episodes.c.id == episode_id)
    ).first()
    email = therapist.email if therapist is not None else None
    ids = []
    # The duty contact's address is a setting; the sender reads it when it sends.
    for to_role, recipient in (("therapist", email), ("duty", None)):
        ids.append(
            insert_id(
                conn,
                t.outbox_messages,
                episode_id=episode_id,
                kind="risk",
                channel="email",
                to_role=to_role,
                recipient=recipient,
                state="queued",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return ids
