"""Client links: one link runs a check-in's measures in order, expires, and is stored hashed.

The token is 128 bits, URL-safe: an HMAC of a random nonce under the server's key (or, without
a key, 16 random bytes from `secrets`). The database keeps the nonce and the token's sha256, so
a copy of the database cannot open any form. A link is used (`used_at`) once every measure of
its check-in is answered; until then the client may come back to the rest before it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, select, update

from alliance.errors import FormError
from alliance.instruments import Instrument
from alliance.services import wording
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
NONCE_BYTES = 16


class LinkGoneError(LookupError):
    """The link is unknown, used or expired; the message says which, never whose."""


class AlreadyAnsweredError(LookupError):
    """The measure a form was for is already answered: the client is shown the next one."""


@dataclass(frozen=True)
class NewLink:
    link_id: int
    token: str
    expires_at: datetime
    instrument_id: str
    checkin_id: int | None = None


@dataclass(frozen=True)
class Step:
    """One measure of a link, in its place: `position` counts from 0."""

    position: int
    instrument: Instrument
    answered: bool


@dataclass(frozen=True)
class OpenLink:
    link_id: int
    episode_id: int
    session_id: int | None
    checkin_id: int | None
    steps: tuple[Step, ...]
    opened: bool = True

    @property
    def step(self) -> Step:
        """The first measure not yet answered (the client answers them in order)."""
        return next(s for s in self.steps if not s.answered)

    @property
    def instrument(self) -> Instrument:
        return self.step.instrument

    @property
    def answered(self) -> int:
        return sum(s.answered for s in self.steps)


@dataclass(frozen=True)
class Submitted:
    administration_id: int
    done: bool


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_token(key: str, nonce: str) -> str:
    """The token of a link, derived from the server's key and the link's stored nonce.

    The database keeps the nonce and the token's hash: the server can show a link again (on
    the session page, in a reminder) while a copy of the database alone opens nothing.
    """
    digest = hmac.new(key.encode("utf-8"), f"client-link:{nonce}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:TOKEN_BYTES]).decode().rstrip("=")


def link_url(base: str, token: str) -> str:
    """A link's address under `base`: the clinic's public_url, or the address a page used."""
    return f"{base.rstrip('/')}/f/{token}"


def _mint(key: str | None) -> tuple[str | None, str]:
    if key is None:
        return None, secrets.token_urlsafe(TOKEN_BYTES)
    nonce = secrets.token_hex(NONCE_BYTES)
    return nonce, link_token(key, nonce)


def insert_checkin(
    conn: Connection,
    viewer: Viewer,
    where: tuple[int, int | None],
    timing: str,
    instruments: list[Instrument],
    ttl_minutes: int,
    *,
    key: str | None,
    now: datetime,
) -> NewLink:
    """A check-in of `instruments`, in this order, for (episode, session), and its one link."""
    episode_id, session_id = where
    checkin_id = insert_id(
        conn,
        t.checkins,
        episode_id=episode_id,
        session_id=session_id,
        timing=timing,
        created_by=viewer.user_id,
        created_at=now,
    )
    conn.execute(
        t.checkin_measures.insert(),
        [
            {"checkin_id": checkin_id, "position": n, "instrument_id": i.id}
            for n, i in enumerate(instruments)
        ],
    )
    nonce, token = _mint(key)
    expires_at = now + timedelta(minutes=ttl_minutes)
    link_id = insert_id(
        conn,
        t.client_links,
        token_hash=token_hash(token),
        nonce=nonce,
        episode_id=episode_id,
        session_id=session_id,
        checkin_id=checkin_id,
        expires_at=expires_at,
        created_by=viewer.user_id,
        created_at=now,
    )
    audit.record(conn, viewer.actor, "create", "checkin", checkin_id)
    audit.record(conn, viewer.actor, "create", "client_link", link_id)
    return NewLink(link_id, token, expires_at, instruments[0].id, checkin_id)


def create_link(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int | None,
    instrument_id: str,
    ttl_minutes: int,
    now: datetime | None = None,
    *,
    key: str | None = None,
) -> NewLink:
    """A new single-use link to one measure: a check-in of that one measure."""
    Access(conn, viewer).episode(episode_id, write=True)
    if session_id is not None:
        session_of(conn, episode_id, session_id)
    instrument = known_instrument(instrument_id)
    # A measure whose wording the clinic has not added (or a GBO without agreed goals) is refused.
    wording.client_instrument(conn, episode_id, instrument.id)
    return insert_checkin(
        conn,
        viewer,
        (episode_id, session_id),
        "any",
        [instrument],
        ttl_minutes,
        key=key,
        now=now or utc_now(),
    )


def _usable(row: object, now: datetime) -> None:
    if row is None:
        raise LinkGoneError("this link is not known; ask your therapist for a new one")
    if row.used_at is not None:  # type: ignore[attr-defined]
        raise LinkGoneError("this link was already used; ask your therapist for a new one")
    if as_utc(row.expires_at) <= now:  # type: ignore[attr-defined]
        raise LinkGoneError("this link has expired; ask your therapist for a new one")


def _client_form(conn: Connection, episode_id: int, instrument_id: str) -> Instrument:
    """The measure in the clinic's licensed wording (GBO: the agreed goals), or LinkGoneError."""
    try:
        return wording.client_instrument(conn, episode_id, instrument_id)
    except FormError:
        raise LinkGoneError("this form cannot be shown yet; ask your therapist") from None


def _steps(conn: Connection, row: Any) -> tuple[Step, ...]:
    if row.checkin_id is None:  # a link made before check-ins: its one measure
        return (Step(0, _client_form(conn, row.episode_id, row.instrument_id), False),)
    measures = conn.execute(
        select(t.checkin_measures)
        .where(t.checkin_measures.c.checkin_id == row.checkin_id)
        .order_by(t.checkin_measures.c.position)
    ).all()
    return tuple(
        Step(
            m.position,
            _client_form(conn, row.episode_id, m.instrument_id),
            m.answered_at is not None,
        )
        for m in measures
    )


def open_link(
    conn: Connection,
    *,
    token: str | None = None,
    link_id: int | None = None,
    now: datetime | None = None,
) -> OpenLink:
    """The measures a link opens, or LinkGoneError; reads only (`mark_opened` notes the first
    opening, in a write of its own, so showing a form never takes the write lock)."""
    where = (
        t.client_links.c.token_hash == token_hash(token)
        if token is not None
        else t.client_links.c.id == link_id
    )
    row = conn.execute(select(t.client_links).where(where)).first()
    now = now or utc_now()
    _usable(row, now)
    assert row is not None
    steps = _steps(conn, row)
    return OpenLink(
        row.id, row.episode_id, row.session_id, row.checkin_id, steps, row.opened_at is not None
    )


def mark_opened(conn: Connection, link_id: int, now: datetime | None = None) -> None:
    """Note a link's first opening (its check-in reads "opened" on the session page)."""
    conn.execute(
        update(t.client_links)
        .where(t.client_links.c.id == link_id, t.client_links.c.opened_at.is_(None))
        .values(opened_at=now or utc_now())
    )


def _claim(conn: Connection, link: OpenLink, step: Step, now: datetime) -> bool:
    """Claim the measure (and, for the last one, the link) before storing; True when done.

    Guarded on answered_at/used_at/expires_at, so two racing submissions store one.
    """
    last = link.answered == len(link.steps) - 1
    if link.checkin_id is not None:
        claimed = conn.execute(
            update(t.checkin_measures)
            .where(
                t.checkin_measures.c.checkin_id == link.checkin_id,
                t.checkin_measures.c.position == step.position,
                t.checkin_measures.c.answered_at.is_(None),
            )
            .values(answered_at=now)
        ).rowcount
        if claimed != 1:
            raise AlreadyAnsweredError("this measure was already answered")
    if last or link.checkin_id is None:
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
    return last


def _keep(
    conn: Connection, link: OpenLink, step: Step, admin_id: int, *, done: bool, now: datetime
) -> None:
    if link.checkin_id is None:
        conn.execute(
            update(t.client_links)
            .where(t.client_links.c.id == link.link_id)
            .values(administration_id=admin_id)
        )
        return
    conn.execute(
        update(t.checkin_measures)
        .where(
            t.checkin_measures.c.checkin_id == link.checkin_id,
            t.checkin_measures.c.position == step.position,
        )
        .values(administration_id=admin_id)
    )
    if done:
        conn.execute(
            update(t.checkins).where(t.checkins.c.id == link.checkin_id).values(completed_at=now)
        )
        # The used link names the form that completed it, as a one-measure link always has.
        conn.execute(
            update(t.client_links)
            .where(t.client_links.c.id == link.link_id)
            .values(administration_id=admin_id)
        )


def submit(
    conn: Connection,
    form: Mapping[str, str],
    *,
    source: Source,
    ip: str | None,
    token: str | None = None,
    link_id: int | None = None,
) -> Submitted:
    """Store the answers to the link's next measure; the link is used once all are answered.

    A form carries the position of the measure it shows (`measure`): a form sent again after
    its measure was answered is refused with AlreadyAnsweredError, never stored as the next.
    """
    link = open_link(conn, token=token, link_id=link_id)
    step = link.step
    if form.get("measure", str(step.position)) != str(step.position):
        raise AlreadyAnsweredError("this measure was already answered")
    answers = parse_answers(step.instrument, form)
    now = utc_now()
    if not link.opened:
        mark_opened(conn, link.link_id, now)
    done = _claim(conn, link, step, now)
    admin_id = store_administration(
        conn,
        episode_id=link.episode_id,
        session_id=link.session_id,
        instrument=step.instrument,
        answers=answers,
        source=source,
        entered_by=None,
        ip=ip,
    )
    _keep(conn, link, step, admin_id, done=done, now=now)
    return Submitted(admin_id, done or link.checkin_id is None)


async def submit_batched(
    writer: GroupCommitWriter,
    form: Mapping[str, str],
    *,
    source: Source,
    ip: str | None,
    token: str | None = None,
    link_id: int | None = None,
) -> Submitted:
    """As `submit`, through the group-commit writer: returns once the commit holding it returned.

    Many clients submitting at once share one fsync; a refused submission (LinkGoneError,
    FormError) is raised here and changes nothing, whatever else was in its batch.
    """
    work = partial(submit, form=dict(form), source=source, ip=ip, token=token, link_id=link_id)
    return await writer.run_async(work)


def reject_unknown_fields(form: Mapping[str, str], instrument: Instrument) -> None:
    allowed = {f"item_{i.id}" for i in instrument.items}
    extra = sorted(k for k in form if k not in allowed and k not in ("csrf_token", "measure"))
    if extra:
        raise FormError({"form": f"unexpected fields: {', '.join(e[:20] for e in extra[:5])}"})
