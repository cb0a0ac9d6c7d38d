"""An admin's password reset leaves a trace the account's owner and their supervisor see.

An admin is shown the one-time password, so for a while the admin could sign in as the user and
read clinical data outside break glass. The reset is therefore kept as a row: the first sign-in
after it is audited as `reset_sign_in` naming the admin, every event of a sign-in made while it
is unconfirmed is audited with the `_after_reset` suffix, the user sees a banner on every page
until they confirm the reset was theirs, and their supervisor sees it on the supervision page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from alliance.errors import FormError
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import as_utc, insert_id, utc_now

# How long a supervisor keeps seeing a supervisee's reset, confirmed or not.
SUPERVISOR_DAYS = 30


@dataclass(frozen=True)
class ResetNotice:
    """A reset as shown to the account's owner or their supervisor."""

    id: int
    username: str
    display_name: str
    reset_by: str
    reset_at: datetime
    signed_in_at: datetime | None
    acknowledged_at: datetime | None


def record(conn: Connection, admin: Viewer, user_id: int, now: datetime | None = None) -> int:
    """Keep the reset an admin just made; any earlier unconfirmed one is folded into it."""
    return insert_id(
        conn,
        t.password_resets,
        user_id=user_id,
        reset_by=admin.user_id,
        reset_at=now or utc_now(),
    )


def _notices(conn: Connection, *where: object) -> list[ResetNotice]:
    r, owner, admin = t.password_resets, t.users.alias("owner"), t.users.alias("admin")
    rows = conn.execute(
        select(
            r.c.id,
            owner.c.username,
            owner.c.display_name,
            admin.c.display_name.label("reset_by"),
            r.c.reset_at,
            r.c.signed_in_at,
            r.c.acknowledged_at,
        )
        .join(owner, owner.c.id == r.c.user_id)
        .join(admin, admin.c.id == r.c.reset_by)
        .where(*where)  # type: ignore[arg-type]
        .order_by(r.c.id.desc())
    ).all()
    return [
        ResetNotice(
            row.id,
            row.username,
            row.display_name,
            row.reset_by,
            as_utc(row.reset_at),
            as_utc(row.signed_in_at) if row.signed_in_at else None,
            as_utc(row.acknowledged_at) if row.acknowledged_at else None,
        )
        for row in rows
    ]


def for_owner(conn: Connection, viewer: Viewer) -> ResetNotice | None:
    """The newest reset of the viewer's account they have not confirmed, if any."""
    r = t.password_resets
    found = _notices(conn, r.c.user_id == viewer.user_id, r.c.acknowledged_at.is_(None))
    return found[0] if found else None


def acknowledge(conn: Connection, viewer: Viewer) -> None:
    """The owner confirms the reset(s) were asked for; later sign-ins are no longer marked."""
    r = t.password_resets
    done = conn.execute(
        update(r)
        .where(r.c.user_id == viewer.user_id, r.c.acknowledged_at.is_(None))
        .values(acknowledged_at=utc_now())
    ).rowcount
    if not done:
        raise FormError({"reset": "there is no password reset to confirm"})
    audit.record(conn, viewer.actor, "confirm_reset", "user", viewer.user_id)


def for_supervisor(
    conn: Connection, viewer: Viewer, now: datetime | None = None
) -> list[ResetNotice]:
    """Resets of this supervisor's supervisees in the last SUPERVISOR_DAYS, newest first."""
    since = (now or utc_now()) - timedelta(days=SUPERVISOR_DAYS)
    r = t.password_resets
    supervised = select(t.users.c.id).where(t.users.c.supervisor_id == viewer.user_id)
    return _notices(conn, r.c.user_id.in_(supervised), r.c.reset_at >= since)
