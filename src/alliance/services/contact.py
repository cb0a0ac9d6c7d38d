"""The client's consent to be contacted by email or text message between sessions.

Recorded with its time on the client's identity (kept apart from the clinical record); only a
client who agreed is sent invitations and reminders (GDPR art. 6(1)(a) and 7: consent given
for this purpose and withdrawable at any time).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from alliance.errors import FormError
from alliance.services.practice import client_detail
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import as_utc, utc_now


def contact_consent(conn: Connection, viewer: Viewer, client_id: int) -> datetime | None:
    """When the client agreed to be contacted, or None."""
    client_detail(conn, viewer, client_id)
    at = conn.execute(
        select(t.client_identities.c.contact_consent_at).where(
            t.client_identities.c.client_id == client_id
        )
    ).scalar_one_or_none()
    return as_utc(at) if at is not None else None


def set_contact_consent(
    conn: Connection, viewer: Viewer, client_id: int, answer: str, now: datetime | None = None
) -> bool:
    """Record ("yes") or withdraw ("no") the client's consent to be contacted (audited)."""
    client_detail(conn, viewer, client_id)
    if viewer.role != "therapist":
        raise FormError({"consent": "only the client's therapist records their consent"})
    if answer not in ("yes", "no"):
        raise FormError({"consent": f"{answer[:10]!r} is not one of yes, no"})
    now = now or utc_now()
    at = now if answer == "yes" else None
    i = t.client_identities
    found = conn.execute(select(i.c.client_id).where(i.c.client_id == client_id)).first()
    if found is None:
        conn.execute(insert(i).values(client_id=client_id, updated_at=now, contact_consent_at=at))
    else:
        conn.execute(
            update(i)
            .where(i.c.client_id == client_id)
            .values(contact_consent_at=at, updated_at=now)
        )
    Access(conn, viewer).record("contact_consent_" + answer, "client", client_id)
    return at is not None
