"""The sign-in throttle in the database: a sliding window of attempts per address, shared.

The same rule as alliance.web.throttle.Throttle (at most `attempts` per `window_s` from one
address), kept in a table as Healthchecks keeps its rate limits, so several `alliance serve`
workers, or several servers on one PostgreSQL database, count one address's attempts together.
One row per attempt counted; rows a whole window old are deleted on every count, so forgetting
them changes no answer and the table holds only the last window's attempts.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, select, text

from alliance.store.base import as_utc, utc_now
from alliance.store.tables import sign_in_attempts as a

KEY_MAX = 100


def hit(
    conn: Connection, key: str, *, attempts: int, window_s: float, now: datetime | None = None
) -> float | None:
    """Count one attempt from `key`: None if allowed, else the seconds until the next one is.

    Runs inside the caller's write transaction. The key is locked while it is counted (an
    advisory lock on PostgreSQL, the single writer on SQLite), so two processes never both let
    in the last allowed attempt.
    """
    if attempts < 1 or window_s <= 0:
        raise ValueError(f"attempts {attempts}, window_s {window_s}: both must be above 0")
    now = now or utc_now()
    key = key[:KEY_MAX]
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(key)})
    conn.execute(delete(a).where(a.c.at <= now - timedelta(seconds=window_s)))
    seen = list(
        conn.execute(
            select(a.c.at).where(a.c.key == key).order_by(a.c.at.desc()).limit(attempts)
        ).scalars()
    )
    if len(seen) >= attempts:
        # The oldest of the last `attempts` must leave the window before another is let in.
        return max(0.0, (as_utc(seen[-1]) + timedelta(seconds=window_s) - now).total_seconds())
    conn.execute(insert(a).values(key=key, at=now))
    return None


def tracked(conn: Connection) -> int:
    """How many addresses were counted within the last window."""
    return int(conn.execute(select(func.count(a.c.key.distinct()))).scalar_one())


def _lock_key(key: str) -> int:
    """A signed 64-bit advisory-lock number for the key, the same in every process."""
    digest = hashlib.sha256(b"alliance-sign-in:" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
