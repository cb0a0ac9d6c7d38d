"""An entry in an episode's record (a boundary event, a relational note, a worksheet).

Each is written the same way: into an open episode that the actor writes, linked to one of its
own sessions if any, stamped with who wrote it and when, and its creation audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table

from alliance.store import audit
from alliance.store.access import open_for_entry
from alliance.store.base import Actor, insert_id


def add_entry(
    conn: Connection,
    actor: Actor,
    table: Table,
    episode_id: int,
    entry: str,
    object_type: str,
    /,
    *,
    session_id: int | None,
    now: datetime,
    **values: object,
) -> int:
    """Write one entry (`entry` names it in refusals, `object_type` in the audit); its id."""
    open_for_entry(conn, actor, episode_id, entry, session_id=session_id)
    entry_id = insert_id(
        conn,
        table,
        episode_id=episode_id,
        session_id=session_id,
        created_by=actor.user_id,
        created_at=now,
        **values,
    )
    audit.record(conn, actor, "create", object_type, entry_id, now=now)
    return entry_id
