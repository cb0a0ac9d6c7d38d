"""Client links: one form, one administration, an expiry, and only a hash of the token stored.

The token is 16 random bytes (128 bits) from `secrets`, URL-safe; the database keeps its sha256,
so a copy of the database cannot open any form.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import Connection, select, update

from alliance.errors import FormError
from alliance.instruments import Instrument
from alliance.services import risk, wording
from alliance.services.measures import (
    Source,
    known_instrument,
    parse_answers,
    session_of,
    store_administration,
)
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import as_utc, insert_id, utc_now
from alliance.store.writer import GroupCommitWriter

TOKEN_BYTES = 16


class LinkGoneError(LookupError):
    """The link is unknown, used or expired; the message says which, never whose."""


@dataclass(frozen=True)
class NewLink:
    link_id: int
    token: str
    expires_at: datetime
    instrument_id: str


@dataclass(frozen=True)
class OpenLink:
    link_id: int
    episode_id: int
    session_id: int | None
    instrument: Instrument


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_link(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int | None,
    instrument_id: str,
    ttl_minutes: int,
    now: datetime | None = None,
) -> NewLink:
    """A new single-use link to one measure for one session of one episode."""
    Access(conn, viewer).episode(episode_id, write=True)
    if session_id is not None:
        session_of(conn, episode_id, session_id)
    instrument = known_instrument(instrument_id)
    # A measure whose wording the clinic has not added (or a GBO without agreed goals) is refused.
    wording.client_instrument(conn, episode_id, instrument.id)
    now = now or utc_now()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    expires_at = now + timedelta(minutes=ttl_minutes)
    link_id = insert_id(
        conn,
        t.client_links,
        token_hash=token_hash(token),
        episode_id=episode_id,
        session_id=session_id,
        instrument_id=instrument.id,
        expires_at=expires_at,
        created_by=viewer.user_id,
        created_at=now,
    )
    audit.record(conn, viewer.actor, "create", "client_link", link_id)
    return NewLink(link_id, token, expires_at, instrument.id)


def _usable(row: object, now: datetime) -> None:
    if row is None:
        raise LinkGoneError("this link is not known; ask your therapist for a new one")
    if row.used_at is not None:  # type: ignore[attr-defined]
        raise LinkGoneError("this link was already used; ask your therapist for a new one")
    if as_utc(row.expires_at) <= now:  # type: ignore[attr-defined]
        raise LinkGoneError("this link has expired; ask your therapist for a new one")


def open_link(
    conn: Connection, *, token: str | None = None, link_id: int | None = None
) -> OpenLink:
    """The form a link opens, or LinkGoneError."""
    where = (
        t.client_links.c.token_hash == token_hash(token)
        if token is not None
        else t.client_links.c.id == link_id
    )
    row = conn.execute(select(t.client_links).where(where)).first()
    _usable(row, utc_now())
    assert row is not None
    try:
        instrument = wording.client_instrument(conn, row.episode_id, row.instrument_id)
    except FormError:
        raise LinkGoneError("this form cannot be shown yet; ask your therapist") from None
    return OpenLink(row.id, row.episode_id, row.session_id, instrument)


def submit(
    conn: Connection,
    form: Mapping[str, str],
    *,
    source: Source,
    ip: str | None,
    token: str | None = None,
    link_id: int | None = None,
) -> int:
    """Store the client's answers once; a second submission or a late one is refused."""
    link = open_link(conn, token=token, link_id=link_id)
    answers = parse_answers(link.instrument, form)
    now = utc_now()
    # Claim the link first, guarded on used_at/expires_at, so two racing submissions store one.
    claimed = conn.execute(
        update(t.client_links)
        .where(
            t.client_links.c.id == link.link_id,
            t.client_links.c.used_at.is_(None),
            t.client_links.c.expires_at > now,
        )
        .values(used_at=now)
    ).rowcount
    if claimed != 1:
        raise LinkGoneError("this link was already used; ask your therapist for a new one")
    admin_id = store_administration(
        conn,
        episode_id=link.episode_id,
        session_id=link.session_id,
        instrument=link.instrument,
        answers=answers,
        source=source,
        entered_by=None,
        ip=ip,
    )
    conn.execute(
        update(t.client_links)
        .where(t.client_links.c.id == link.link_id)
        .values(administration_id=admin_id)
    )
    risk.risk_endorsed(conn, admin_id)
    return admin_id


async def submit_batched(
    writer: GroupCommitWriter,
    form: Mapping[str, str],
    *,
    source: Source,
    ip: str | None,
    token: str | None = None,
    link_id: int | None = None,
) -> int:
    """As `submit`, through the group-commit writer: returns once the commit holding it returned.

    Many clients submitting at once share one fsync; a refused submission (LinkGoneError,
    FormError) is raised here and changes nothing, whatever else was in its batch.
    """
    work = partial(submit, form=dict(form), source=source, ip=ip, token=token, link_id=link_id)
    return await writer.run_async(work)


def reject_unknown_fields(form: Mapping[str, str], instrument: Instrument) -> None:
    allowed = {f"item_{i.id}" for i in instrument.items}
    extra = sorted(k for k in form if k not in allowed and k != "csrf_token")
    if extra:
        raise FormError({"form": f"unexpected fields: {', '.join(e[:20] for e in extra[:5])}"})
