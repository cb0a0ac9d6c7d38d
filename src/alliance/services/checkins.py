"""Check-ins: what the schedule makes due at a session, and each check-in's state and link.

The clinic's rule for a measure (`instrument_schedules`, set on /admin/schedules) holds for
every episode unless the episode has its own (`episode_schedules`); see
`alliance.instruments.schedule` for what a rule means. Recording a session creates one
check-in for the measures due before it and one for those due after it, each with one link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, delete, select, update

from alliance.config import Settings
from alliance.domain import DomainError
from alliance.errors import FormError
from alliance.instruments import INSTRUMENT_IDS, Instrument, load_instrument
from alliance.instruments.schedule import SessionRule, Timing, parse_rule
from alliance.services import clinical, wording
from alliance.services.links import NewLink, insert_checkin, link_token
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Access, Viewer
from alliance.store.base import as_utc, insert_id, utc_now

State = Literal["due", "sent", "opened", "done", "expired"]
# A session the client did not come to has nothing to answer about it.
NOT_HELD = ("cancelled", "no_show")
# PCOMS gives the ORS at the very start of a session and the SRS right at its end (Miller,
# Duncan et al. 2003; Duncan et al. 2003), so they come first in their check-in; the other
# measures follow in the registry's order.
PCOMS = ("ors", "srs")
ORDER = sorted(INSTRUMENT_IDS, key=lambda i: (i not in PCOMS, INSTRUMENT_IDS.index(i)))


@dataclass(frozen=True)
class ScheduledMeasure:
    """One measure's rule for an episode: the clinic's, the episode's own, and which holds."""

    instrument_id: str
    short_name: str
    clinic_rule: str | None
    episode_rule: str | None
    kind: str = "outcome"

    @property
    def rule(self) -> str | None:
        return self.episode_rule or self.clinic_rule

    @property
    def timing(self) -> Timing | None:
        """Before or after the session, under the rule that holds (None when not given)."""
        if self.rule is None or parse_rule(self.rule).kind == "never":
            return None
        return parse_rule(self.rule).timing_for(self.kind)


@dataclass(frozen=True)
class CheckinMeasure:
    instrument_id: str
    short_name: str
    answered: bool
    administration_id: int | None


@dataclass(frozen=True)
class Checkin:
    """A check-in as the session page (and a message beside it) shows it."""

    id: int
    timing: str
    measures: tuple[CheckinMeasure, ...]
    state: State
    link_id: int
    expires_at: datetime
    sent_at: datetime | None
    opened_at: datetime | None
    used_at: datetime | None
    token: str | None

    @property
    def answered(self) -> int:
        return sum(m.answered for m in self.measures)


def state_of(link: Any, now: datetime) -> State:
    """A check-in's state from its link's times, read against one `now`."""
    if link.used_at is not None:
        return "done"
    if as_utc(link.expires_at) <= now:
        return "expired"
    if link.opened_at is not None:
        return "opened"
    if link.sent_at is not None:
        return "sent"
    return "due"


def _clinic_rules(conn: Connection, organisation_id: int | None) -> dict[str, str]:
    table = t.instrument_schedules
    rows = conn.execute(
        select(table.c.instrument_id, table.c.session_rule).where(
            table.c.organisation_id == organisation_id, table.c.active.is_(True)
        )
    ).all()
    return {r.instrument_id: r.session_rule for r in rows}


def _episode_rules(conn: Connection, episode_id: int) -> dict[str, str]:
    table = t.episode_schedules
    rows = conn.execute(
        select(table.c.instrument_id, table.c.session_rule).where(table.c.episode_id == episode_id)
    ).all()
    return {r.instrument_id: r.session_rule for r in rows}


def episode_schedule(conn: Connection, viewer: Viewer, episode_id: int) -> list[ScheduledMeasure]:
    """Every measure with the clinic's rule and the episode's own, for the episode page."""
    Access(conn, viewer).episode(episode_id)
    clinic = _clinic_rules(conn, viewer.organisation_id)
    own = _episode_rules(conn, episode_id)
    shown = [load_instrument(i) for i in ORDER]
    return [
        ScheduledMeasure(i.id, i.short_name, clinic.get(i.id), own.get(i.id), i.kind) for i in shown
    ]


def set_episode_rule(
    conn: Connection, viewer: Viewer, episode_id: int, instrument_id: str, session_rule: str
) -> None:
    """Give an episode its own rule for a measure; a blank rule goes back to the clinic's."""
    Access(conn, viewer).episode(episode_id, write=True)
    if instrument_id not in INSTRUMENT_IDS:
        allowed = ", ".join(INSTRUMENT_IDS)
        raise FormError({"instrument": f"{instrument_id[:40]!r} is not one of {allowed}"})
    table = t.episode_schedules
    mine = (table.c.episode_id == episode_id) & (table.c.instrument_id == instrument_id)
    if not session_rule.strip():
        conn.execute(delete(table).where(mine))
        audit.record(conn, viewer.actor, "clear", "episode_schedule", episode_id)
        return
    try:
        rule = parse_rule(session_rule).text
    except DomainError as exc:
        raise FormError({"session_rule": f"{exc.detail}; use {exc.rule}"}) from None
    if conn.execute(update(table).where(mine).values(session_rule=rule)).rowcount == 0:
        insert_id(
            conn,
            table,
            episode_id=episode_id,
            instrument_id=instrument_id,
            session_rule=rule,
            created_by=viewer.user_id,
            created_at=utc_now(),
        )
    audit.record(conn, viewer.actor, "set", "episode_schedule", episode_id)


def due_measures(rules: dict[str, SessionRule], number: int) -> dict[Timing, list[Instrument]]:
    """The measures due before and after session `number`, each list in `ORDER`."""
    due: dict[Timing, list[Instrument]] = {"before": [], "after": []}
    for instrument_id in ORDER:
        rule = rules.get(instrument_id)
        if rule is not None and rule.due(number):
            instrument = load_instrument(instrument_id)
            due[rule.timing_for(instrument.kind)].append(instrument)
    return due


def _rules_for(
    conn: Connection, organisation_id: int | None, episode_id: int
) -> dict[str, SessionRule]:
    merged = _clinic_rules(conn, organisation_id) | _episode_rules(conn, episode_id)
    return {i: parse_rule(text) for i, text in merged.items()}


def _offered(conn: Connection, episode_id: int, measures: list[Instrument]) -> list[Instrument]:
    offered = []
    for instrument in measures:
        try:
            offered.append(wording.client_instrument(conn, episode_id, instrument.id))
        except FormError:
            continue
    return offered


def create_for_session(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    *,
    ttl_minutes: int,
    key: str | None,
    now: datetime | None = None,
) -> list[NewLink]:
    """The check-ins the schedule makes due at a recorded session: before first, then after."""
    Access(conn, viewer).episode(episode_id, write=True)
    session = conn.execute(
        select(t.sessions.c.number, t.sessions.c.attendance).where(
            t.sessions.c.id == session_id, t.sessions.c.episode_id == episode_id
        )
    ).one()
    if session.attendance in NOT_HELD:
        return []
    due = due_measures(_rules_for(conn, viewer.organisation_id, episode_id), session.number)
    # A measure the clinic may not show clients yet (no licensed wording; a GBO without agreed
    # goals) is left out; the session page says why it is not offered.
    due = {timing: _offered(conn, episode_id, measures) for timing, measures in due.items()}
    now = now or utc_now()
    return [
        insert_checkin(
            conn,
            viewer,
            (episode_id, session_id),
            timing,
            due[timing],
            ttl_minutes,
            key=key,
            now=now,
        )
        for timing in ("before", "after")
        if due[timing]
    ]


def record_session(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    held_on: str,
    attendance: str,
    *,
    ttl_minutes: int,
    key: str | None,
    invite: Invite | None = None,
) -> int:
    """Record a session and create the check-ins its schedule makes due (one transaction).

    `invite` (settings, base URL) sends each new check-in to a client who agreed to be
    contacted, by the outbox, in the same transaction.
    """
    session_id = clinical.record_session(conn, viewer, episode_id, held_on, attendance)
    new = create_for_session(conn, viewer, episode_id, session_id, ttl_minutes=ttl_minutes, key=key)
    if invite is not None and key is not None:
        from alliance.services import outbox

        outbox.invite_to_checkins(
            conn, viewer, invite.settings, key, episode_id, new, invite.base_url
        )
    return session_id


@dataclass(frozen=True)
class Invite:
    """Where a recorded session's check-ins are sent from: the settings and the base address."""

    settings: Settings
    base_url: str


def _measures(conn: Connection, checkin_ids: list[int]) -> dict[int, list[CheckinMeasure]]:
    rows = conn.execute(
        select(t.checkin_measures)
        .where(t.checkin_measures.c.checkin_id.in_(checkin_ids))
        .order_by(t.checkin_measures.c.checkin_id, t.checkin_measures.c.position)
    ).all()
    out: dict[int, list[CheckinMeasure]] = {i: [] for i in checkin_ids}
    for m in rows:
        name = load_instrument(m.instrument_id).short_name
        out[m.checkin_id].append(
            CheckinMeasure(m.instrument_id, name, m.answered_at is not None, m.administration_id)
        )
    return out


def session_checkins(
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    *,
    key: str | None,
    now: datetime | None = None,
) -> list[Checkin]:
    """A session's check-ins with their state and, where the key can derive it, the link token."""
    Access(conn, viewer).episode(episode_id)
    now = now or utc_now()
    links = t.client_links.c
    rows = conn.execute(
        select(
            t.checkins.c.id.label("checkin_id"),
            t.checkins.c.timing,
            links.id.label("link_id"),
            links.expires_at,
            links.sent_at,
            links.opened_at,
            links.used_at,
            links.nonce,
        )
        .join(t.client_links, t.client_links.c.checkin_id == t.checkins.c.id)
        .where(t.checkins.c.episode_id == episode_id, t.checkins.c.session_id == session_id)
        .order_by(t.checkins.c.id)
    ).all()
    measures = _measures(conn, [r.checkin_id for r in rows])
    found = [
        Checkin(
            id=r.checkin_id,
            timing=r.timing,
            measures=tuple(measures[r.checkin_id]),
            state=state_of(r, now),
            link_id=r.link_id,
            expires_at=as_utc(r.expires_at),
            sent_at=r.sent_at,
            opened_at=r.opened_at,
            used_at=r.used_at,
            token=link_token(key, r.nonce) if key and r.nonce else None,
        )
        for r in rows
    ]
    if found:
        audit.record(conn, viewer.actor, "read", "session_checkins", session_id)
    return found


def open_for_handover(
    conn: Connection, viewer: Viewer, episode_id: int, session_id: int, checkin_id: int
) -> int:
    """The link of a session's check-in, to lock a tablet to; refused once done or expired."""
    Access(conn, viewer).episode(episode_id, write=True)
    link = conn.execute(
        select(t.client_links)
        .join(t.checkins, t.checkins.c.id == t.client_links.c.checkin_id)
        .where(
            t.checkins.c.id == checkin_id,
            t.checkins.c.episode_id == episode_id,
            t.checkins.c.session_id == session_id,
        )
    ).first()
    if link is None:
        raise FormError({"checkin": f"check-in {checkin_id} is not one of this session's"})
    state = state_of(link, utc_now())
    if state in ("done", "expired"):
        raise FormError({"checkin": f"this check-in is {state}; a new link is needed"})
    audit.record(conn, viewer.actor, "hand_over", "checkin", checkin_id)
    return int(link.id)


def mark_sent(conn: Connection, link_id: int, at: datetime) -> None:
    """Note when a check-in's link was first sent (by email, SMS or handed over)."""
    conn.execute(
        update(t.client_links)
        .where(t.client_links.c.id == link_id, t.client_links.c.sent_at.is_(None))
        .values(sent_at=at)
    )
