"""The outbox: invitations and reminders to clients, risk notifications to therapists.

A message is a row, queued in the same transaction as what caused it, and sent later by the
background sender (`alliance.services.sender`), so nothing is lost when the server stops.
Only a client who agreed to be contacted, with an address for the channel, is sent anything.
What a message says carries no clinical content: the clinic's name, that a check-in is ready,
the link and when it expires. The link is sealed with the secret key before it is stored, so
the outbox, like `client_links`, gives a copy of the database no way into a form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, select

from alliance.config import Settings
from alliance.errors import FormError
from alliance.services import mail_settings, sealing
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import as_utc, insert_id, utc_now

if TYPE_CHECKING:
    from alliance.services.links import NewLink

LINK_PURPOSE = "outbox link"
CHANNELS = {"email": "email", "sms": "text message"}
# How pages name the stored values.
KIND_WORDS = {"invitation": "Invitation", "reminder": "Reminder", "risk": "Risk notification"}
STATE_WORDS = {
    "queued": "Queued",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "cancelled": "Not sent",
}


def seal(key: str, url: str) -> str:
    return sealing.seal(key, LINK_PURPOSE, url)


def unseal(key: str, sealed: str) -> str | None:
    """The link, or None when it was sealed with another key (the secret key was changed)."""
    return sealing.unseal(key, LINK_PURPOSE, sealed)


def mask(address: str | None) -> str:
    """j***@example.org, +44*******89: enough to tell which, not enough to read off a screen."""
    if not address:
        return "—"
    if "@" in address:
        user, _, domain = address.partition("@")
        return f"{user[:1]}***@{domain}"
    return address[:3] + "*" * max(len(address) - 5, 1) + address[-2:]


def link_url(base_url: str, token: str, settings: Settings) -> str:
    """The client's address of a link: the public URL when set, else the request's base."""
    public = settings.public_url
    return f"{str(public or base_url).rstrip('/')}/f/{token}"


def _gateway_ready(conn: Connection, settings: Settings, channel: str) -> None:
    if channel == "email" and not mail_settings.email_ready(conn, settings):
        raise FormError(
            {"channel": "email is not set up: an admin sets the mail server on /admin/mail"}
        )
    if channel == "sms" and settings.sms_url is None:
        raise FormError(
            {"channel": "text messages are not set up: the admin sets ALLIANCE_SMS_URL"}
        )


def _contact(conn: Connection, episode_id: int, channel: str) -> str:
    """The client's address for the channel; refused without contact consent or an address."""
    identity = conn.execute(
        select(t.client_identities)
        .join(t.episodes, t.episodes.c.client_id == t.client_identities.c.client_id)
        .where(t.episodes.c.id == episode_id)
    ).first()
    if identity is None or identity.contact_consent_at is None:
        raise FormError(
            {
                "channel": "the client has not agreed to be contacted; record their consent "
                "on the client's page first (nothing was sent)"
            }
        )
    address = identity.email if channel == "email" else identity.phone
    if not address:
        kind = "an email address" if channel == "email" else "a phone number"
        raise FormError({"channel": f"the client has no {kind}; add it on the client's page"})
    return str(address)


def queue_invitation(
    conn: Connection,
    viewer: Viewer,
    settings: Settings,
    key: str,
    *,
    episode_id: int,
    link_id: int,
    token: str,
    channel: str,
    base_url: str,
    now: datetime | None = None,
) -> int:
    """Queue "your check-in is ready" with the link, to the client by email or text message."""
    from alliance.services.links import token_hash

    Access(conn, viewer).episode(episode_id, write=True)
    if channel not in CHANNELS:
        raise FormError({"channel": f"{channel[:20]!r} is not one of email, sms"})
    link = conn.execute(
        select(t.client_links).where(
            t.client_links.c.id == link_id, t.client_links.c.episode_id == episode_id
        )
    ).first()
    if link is None or link.token_hash != token_hash(token):
        raise FormError({"link": "this link is not known; create a new one"})
    now = now or utc_now()
    if link.used_at is not None or as_utc(link.expires_at) <= now:
        raise FormError({"link": "this link was used or has expired; create a new one"})
    _gateway_ready(conn, settings, channel)
    recipient = _contact(conn, link.episode_id, channel)
    message_id = insert_id(
        conn,
        t.outbox_messages,
        episode_id=link.episode_id,
        session_id=link.session_id,
        link_id=link.id,
        kind="invitation",
        channel=channel,
        to_role="client",
        recipient=recipient,
        sealed_link=seal(key, link_url(base_url, token, settings)),
        state="queued",
        attempts=0,
        next_attempt_at=now,
        created_by=viewer.user_id,
        created_at=now,
    )
    audit.record(conn, viewer.actor, "queue", "outbox_message", message_id, now=now)
    return message_id


def automatic_channel(conn: Connection, settings: Settings, episode_id: int) -> str | None:
    """How a new check-in reaches the client by itself: email where the clinic has set it up
    and the client gave an address, else a text message; None without contact consent."""
    identity = conn.execute(
        select(t.client_identities)
        .join(t.episodes, t.episodes.c.client_id == t.client_identities.c.client_id)
        .where(t.episodes.c.id == episode_id)
    ).first()
    if identity is None or identity.contact_consent_at is None:
        return None
    if identity.email and mail_settings.email_ready(conn, settings):
        return "email"
    if settings.sms_url is not None and identity.phone:
        return "sms"
    return None


def invite_to_checkins(
    conn: Connection,
    viewer: Viewer,
    settings: Settings,
    key: str,
    episode_id: int,
    new_links: Sequence[NewLink],
    base_url: str,
) -> int:
    """Queue an invitation for each new check-in, when the client can be reached; how many."""
    channel = automatic_channel(conn, settings, episode_id) if new_links else None
    if channel is None:
        return 0
    for link in new_links:
        queue_invitation(
            conn,
            viewer,
            settings,
            key,
            episode_id=episode_id,
            link_id=link.link_id,
            token=link.token,
            channel=channel,
            base_url=base_url,
        )
    return len(new_links)


@dataclass(frozen=True)
class MessageRow:
    id: int
    kind: str
    channel: str
    to_role: str
    to: str
    link_id: int | None
    state: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime
    answer: str | None


def messages(
    conn: Connection, viewer: Viewer, episode_id: int, session_id: int | None = None
) -> list[MessageRow]:
    """Every message of an episode (or of one session), newest first, addresses masked."""
    access = Access(conn, viewer)
    access.episode(episode_id)
    m = t.outbox_messages
    query = select(m).where(m.c.episode_id == episode_id)
    if session_id is not None:
        query = query.where((m.c.session_id == session_id) | (m.c.session_id.is_(None)))
    rows = conn.execute(query.order_by(m.c.id.desc())).all()
    access.record("read_messages", "episode", episode_id)
    return [
        MessageRow(
            id=r.id,
            kind=r.kind,
            channel=r.channel,
            to_role=r.to_role,
            to=mask(r.recipient)
            if r.recipient
            else ("duty contact" if r.to_role == "duty" else "—"),
            link_id=r.link_id,
            state=r.state,
            attempts=r.attempts,
            created_at=as_utc(r.created_at),
            sent_at=as_utc(r.sent_at) if r.sent_at else None,
            next_attempt_at=as_utc(r.next_attempt_at),
            answer=r.last_answer,
        )
        for r in rows
    ]
