"""A risk item endorsed on a client's form: crisis information at once, a therapist's notice.

The client's next page shows the clinic's own crisis text and numbers (a safe default that points
to local emergency services until an admin sets them). The treating therapist sees a banner on
every page until they acknowledge it; it says only that a risk item was endorsed and where the
chart is, never the answer. `risk_endorsed` is called by `measures.store_administration`, the one
place a form is stored, for a form the client answered alone; it also queues the email to the
therapist and the duty contact (`notify.notify_risk`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from alliance.errors import FormError, NotVisibleError
from alliance.services.notify import notify_risk
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import Actor, insert_id, utc_now

# PHQ-9 item 9 and CORE-10's risk item are flagged "risk:<measure>:<item>" by the scoring.
RISK_PREFIX = "risk:"
DEFAULT_CRISIS_TEXT = (
    "If you are in danger now, or think you might act on thoughts of harming yourself, call "
    "your local emergency number (for example 112 in Europe, 999 in the UK, 911 in the US and "
    "Canada, 000 in Australia) or go to the nearest emergency department. You do not have to "
    "wait for your next session."
)
MAX_TEXT = 2000
MAX_NUMBERS = 10
_NUMBER = re.compile(r"^\+?[0-9][0-9 ()\-]{1,30}$")


@dataclass(frozen=True)
class CrisisInfo:
    """What a client is shown after a risk answer: text, and numbers to call as (label, number)."""

    text: str
    numbers: tuple[tuple[str, str], ...]
    is_default: bool


@dataclass(frozen=True)
class RiskNotice:
    """One unacknowledged notice: which episode's chart to open; never the answer."""

    notice_id: int
    episode_id: int
    client_code: str


def crisis_info(conn: Connection, organisation_id: int | None) -> CrisisInfo:
    row = conn.execute(
        select(t.crisis_info).where(t.crisis_info.c.organisation_id == organisation_id)
    ).first()
    if row is None:
        return CrisisInfo(DEFAULT_CRISIS_TEXT, (), True)
    numbers = tuple((str(n[0]), str(n[1])) for n in row.numbers)
    return CrisisInfo(row.text, numbers, False)


def parse_numbers(text: str) -> tuple[tuple[str, str], ...]:
    """Lines of "who: number", e.g. "Duty line: +44 20 7946 0000"; FormError names the line."""
    numbers: list[tuple[str, str]] = []
    for n, line in enumerate((raw.strip() for raw in text.splitlines()), start=1):
        if not line:
            continue
        label, sep, number = line.rpartition(":")
        label, number = label.strip(), number.strip()
        if not sep or not label or not _NUMBER.match(number):
            raise FormError(
                {
                    "numbers": f"line {n} {line[:40]!r} is not 'who: number'; allowed: a name, "
                    "a colon, then digits, spaces, +, ( ) or -"
                }
            )
        if len(label) > 100:
            raise FormError(
                {"numbers": f"line {n}: the name has {len(label)} characters; at most 100"}
            )
        numbers.append((label, number))
    if len(numbers) > MAX_NUMBERS:
        raise FormError({"numbers": f"{len(numbers)} numbers given; at most {MAX_NUMBERS}"})
    return tuple(numbers)


def set_crisis_info(conn: Connection, viewer: Viewer, text: str, numbers_text: str) -> None:
    """An admin sets the clinic's crisis text and numbers (audited), both checked first."""
    clean = text.strip()
    if not clean:
        raise FormError({"text": "write what a client should do in a crisis; it cannot be empty"})
    if len(clean) > MAX_TEXT:
        raise FormError({"text": f"the text has {len(clean)} characters; at most {MAX_TEXT}"})
    numbers = [list(pair) for pair in parse_numbers(numbers_text)]
    table = t.crisis_info
    found = conn.execute(
        select(table.c.id).where(table.c.organisation_id == viewer.organisation_id)
    ).scalar()
    values = {
        "text": clean,
        "numbers": numbers,
        "updated_by": viewer.user_id,
        "updated_at": utc_now(),
    }
    if found is None:
        found = insert_id(conn, table, organisation_id=viewer.organisation_id, **values)
    else:
        conn.execute(update(table).where(table.c.id == found).values(**values))
    audit.record(conn, viewer.actor, "update", "crisis_info", found)


def risk_endorsed(conn: Connection, administration_id: int) -> int | None:
    """Record a notice for the treating therapist when this stored form endorses a risk item."""
    a, e = t.administrations, t.episodes
    row = conn.execute(
        select(a.c.flags, a.c.episode_id, e.c.therapist_id)
        .select_from(a.join(e, e.c.id == a.c.episode_id))
        .where(a.c.id == administration_id)
    ).first()
    if row is None or not any(str(f).startswith(RISK_PREFIX) for f in row.flags or []):
        return None
    notice_id = insert_id(
        conn,
        t.risk_notices,
        episode_id=row.episode_id,
        administration_id=administration_id,
        therapist_id=row.therapist_id,
        created_at=utc_now(),
    )
    audit.record(conn, Actor.system(), "create", "risk_notice", notice_id)
    notify_risk(conn, row.episode_id)
    return notice_id


def crisis_after_link(
    conn: Connection, link_token_hash: str | None, link_id: int | None
) -> CrisisInfo | None:
    """The crisis information to show once a form of this link endorsed a risk item, else None.

    A check-in's link runs several forms: a risk item on any form answered so far counts, so
    the page after it (the next measure, or the thank-you) leads with what to do now.
    """
    cl, cm, rn, c, e = t.client_links, t.checkin_measures, t.risk_notices, t.clients, t.episodes
    where = (
        cl.c.token_hash == link_token_hash if link_token_hash is not None else cl.c.id == link_id
    )
    link = conn.execute(
        select(cl.c.administration_id, cl.c.checkin_id, c.c.organisation_id)
        .select_from(cl.join(e, e.c.id == cl.c.episode_id).join(c, c.c.id == e.c.client_id))
        .where(where)
    ).first()
    if link is None:
        return None
    forms = {link.administration_id} - {None}
    if link.checkin_id is not None:
        forms |= set(
            conn.execute(
                select(cm.c.administration_id).where(
                    cm.c.checkin_id == link.checkin_id, cm.c.administration_id.is_not(None)
                )
            ).scalars()
        )
    if not forms:
        return None
    endorsed = conn.execute(
        select(rn.c.id).where(rn.c.administration_id.in_(sorted(forms))).limit(1)
    ).first()
    return None if endorsed is None else crisis_info(conn, link.organisation_id)


def open_notices(conn: Connection, viewer: Viewer) -> list[RiskNotice]:
    """The therapist's unacknowledged notices on episodes they still treat, newest first."""
    if viewer.role != "therapist":
        return []
    rn, e, c = t.risk_notices, t.episodes, t.clients
    rows = conn.execute(
        select(rn.c.id, rn.c.episode_id, c.c.code)
        .select_from(rn.join(e, e.c.id == rn.c.episode_id).join(c, c.c.id == e.c.client_id))
        .where(
            rn.c.therapist_id == viewer.user_id,
            e.c.therapist_id == viewer.user_id,
            rn.c.acknowledged_at.is_(None),
        )
        .order_by(rn.c.created_at.desc(), rn.c.id.desc())
    ).all()
    return [RiskNotice(r.id, r.episode_id, r.code) for r in rows]


def acknowledge(conn: Connection, viewer: Viewer, notice_id: int) -> int:
    """The therapist has seen the notice; returns the episode whose chart to open (audited)."""
    rn = t.risk_notices
    row = conn.execute(select(rn).where(rn.c.id == notice_id)).first()
    if row is None or row.therapist_id != viewer.user_id:
        raise NotVisibleError("risk notice")
    Access(conn, viewer).episode(row.episode_id, write=True)
    if row.acknowledged_at is None:
        conn.execute(
            update(rn)
            .where(rn.c.id == notice_id)
            .values(acknowledged_at=utc_now(), acknowledged_by=viewer.user_id)
        )
        audit.record(conn, viewer.actor, "acknowledge", "risk_notice", notice_id)
    return int(row.episode_id)
