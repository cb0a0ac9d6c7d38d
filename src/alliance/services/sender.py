"""The background sender: claims each due message once, sends it, retries, plans reminders.

Two senders may run at once (the web app and `alliance outbox run --once` from cron): a message
is claimed by `UPDATE ... WHERE id = ? AND state = 'queued'` in its own committed transaction,
so only one of them sends it. A sender killed while sending leaves the row 'sending'; after
STALE_CLAIM it is queued again (a gateway that never answered may then see it twice, the one
case where at-least-once wins over losing the message).

Retries wait 1, 2, 4, … minutes (at most an hour) until the retry window since the message was
queued is spent; then the message is marked failed with the gateway's last answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, Integer, Row, func, select, update

from alliance.config import Settings, parse_quiet_hours
from alliance.services import mail_settings
from alliance.services.gateways import GatewayError, MailServer, send_email, send_sms
from alliance.services.outbox import unseal
from alliance.store import tables as t
from alliance.store.base import as_utc, count_rows, insert_id, utc_now

STALE_CLAIM = timedelta(minutes=10)
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
BATCH = 100
m = t.outbox_messages


@dataclass
class RunSummary:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    reminders: int = 0
    answers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Draft:
    to: str
    subject: str
    body: str


def backoff(attempts: int) -> timedelta:
    """The wait after the n-th failed attempt: 1, 2, 4, … minutes, at most an hour."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 16)), LONGEST_WAIT)


def morning_after(now: datetime, settings: Settings) -> datetime:
    """`now`, or the end of the quiet hours (the clinic's night) when `now` falls in them."""
    start, end = parse_quiet_hours(settings.quiet_hours)
    zone = ZoneInfo(settings.clinic_timezone)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    night = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not night:
        return now
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, zone).astimezone(now.tzinfo)


def clinic_name(conn: Connection, settings: Settings) -> str:
    if settings.clinic_name:
        return settings.clinic_name
    name = conn.execute(
        select(t.organisations.c.name).order_by(t.organisations.c.id).limit(1)
    ).scalar_one_or_none()
    return str(name or "Your clinic")


def _expiry(expires_at: datetime, settings: Settings) -> str:
    local = as_utc(expires_at).astimezone(ZoneInfo(settings.clinic_timezone))
    return f"{local:%d %B %Y at %H:%M} ({settings.clinic_timezone})"


def _client_draft(
    conn: Connection, row: Row[Any], settings: Settings, key: str, now: datetime
) -> Draft | str:
    """What an invitation or reminder says, or why it is not sent (a reason to record)."""
    link = conn.execute(select(t.client_links).where(t.client_links.c.id == row.link_id)).first()
    if link is None or link.used_at is not None:
        return "not sent: the check-in is done"
    if as_utc(link.expires_at) <= now:
        return "not sent: the link has expired"
    url = unseal(key, row.sealed_link or "")
    if url is None:
        return "not sent: the link was sealed with another secret key"
    clinic = clinic_name(conn, settings)
    expiry = _expiry(link.expires_at, settings)
    lead = (
        f"A reminder from {clinic}: your check-in is still open."
        if row.kind == "reminder"
        else f"Your check-in from {clinic} is ready."
    )
    if row.channel == "sms":
        return Draft(row.recipient, "", f"{lead} {url} (works once, until {expiry})")
    body = (
        f"Hello,\n\n{lead} Open it here:\n\n{url}\n\n"
        f"The link works once and expires on {expiry}.\n\n"
        "If you did not expect this message, you can ignore it.\n"
    )
    return Draft(row.recipient, f"{clinic}: your check-in is ready", body)


def _risk_draft(row: Row[Any], settings: Settings) -> Draft | str:
    to = settings.duty_email if row.to_role == "duty" else row.recipient
    if to is None:
        if row.to_role == "duty":
            return "not sent: no duty contact is set (ALLIANCE_DUTY_EMAIL)"
        return "failed: the therapist has no email address; add one on the user's admin page"
    where = settings.public_url
    opening = "Open Alliance to see it" + (f": {where}/episodes/{row.episode_id}" if where else ".")
    body = f"A risk item was endorsed on a form in Alliance.\n\n{opening}\n"
    return Draft(to, "Alliance: a risk item was endorsed — open Alliance", body)


def _finish(conn: Connection, message_id: int, **values: object) -> None:
    conn.execute(update(m).where(m.c.id == message_id).values(claimed_at=None, **values))


def _claim(engine: Engine, message_id: int, now: datetime) -> bool:
    with engine.begin() as conn:
        claimed = conn.execute(
            update(m)
            .where(m.c.id == message_id, m.c.state == "queued", m.c.next_attempt_at <= now)
            .values(state="sending", claimed_at=now, attempts=m.c.attempts + 1)
        ).rowcount
    return claimed == 1


def _draft(
    engine: Engine, message_id: int, settings: Settings, key: str, now: datetime
) -> tuple[Row[Any], Draft | str]:
    with engine.connect() as conn:
        row = conn.execute(select(m).where(m.c.id == message_id)).one()
        if row.kind == "risk":
            return row, _risk_draft(row, settings)
        return row, _client_draft(conn, row, settings, key, now)


def _deliver(settings: Settings, mail: MailServer | None, channel: str, draft: Draft) -> str:
    if channel == "sms":
        return send_sms(settings, draft.to, draft.body)
    return send_email(mail, draft.to, draft.subject, draft.body)


def _after_failure(
    row: Row[Any], error: GatewayError, settings: Settings, now: datetime
) -> dict[str, object]:
    """Queued again after the backoff, or failed once the retry window is spent."""
    window_ends = as_utc(row.created_at) + timedelta(minutes=settings.retry_window_minutes)
    retry_at = now + backoff(row.attempts)  # the row counts this attempt already
    if error.retry and retry_at <= window_ends:
        return {"state": "queued", "next_attempt_at": retry_at, "last_answer": error.reason}
    why = error.reason if not error.retry else f"{error.reason} (retried until the window closed)"
    return {"state": "failed", "last_answer": why[:300]}


def send_one(
    engine: Engine,
    message_id: int,
    settings: Settings,
    key: str,
    now: datetime,
    mail: MailServer | GatewayError | None,
) -> str:
    """Claim, send and record one due message; what became of it (a RunSummary field).

    `mail` is the pass's mail server (mail_settings.mail_server), or why it cannot be used.
    """
    if not _claim(engine, message_id, now):
        return "skipped"
    row, draft = _draft(engine, message_id, settings, key, now)
    if isinstance(mail, GatewayError):  # the stored mail password cannot be opened
        if row.channel == "email":
            draft = f"failed: {mail.reason}"
        mail = None
    if isinstance(draft, str):
        state = "failed" if draft.startswith("failed") else "cancelled"
        with engine.begin() as conn:
            _finish(conn, message_id, state=state, last_answer=draft)
        return state if state == "failed" else "cancelled"
    try:
        answer = _deliver(settings, mail, row.channel, draft)
    except GatewayError as error:
        values = _after_failure(row, error, settings, now)
        with engine.begin() as conn:
            _finish(conn, message_id, **values)
        return "retried" if values["state"] == "queued" else "failed"
    with engine.begin() as conn:
        _finish(conn, message_id, state="sent", sent_at=now, last_answer=answer)
        if row.link_id is not None and row.to_role == "client":
            # The check-in's state on the session page moves from due to sent.
            conn.execute(
                update(t.client_links)
                .where(t.client_links.c.id == row.link_id, t.client_links.c.sent_at.is_(None))
                .values(sent_at=now)
            )
    return "sent"


def _defer_reminders(conn: Connection, settings: Settings, now: datetime) -> int:
    """A reminder due in the clinic's night waits for the morning (no attempt counted)."""
    morning = morning_after(now, settings)
    if morning == now:
        return 0
    return int(
        conn.execute(
            update(m)
            .where(m.c.kind == "reminder", m.c.state == "queued", m.c.next_attempt_at <= now)
            .values(next_attempt_at=morning)
        ).rowcount
    )


def plan_reminders(conn: Connection, settings: Settings, now: datetime) -> int:
    """Queue a reminder for each link still open a while after its last message was sent."""
    if settings.reminder_max == 0:
        return 0
    links = t.client_links
    sent = (
        select(
            m.c.link_id,
            func.max(m.c.sent_at).label("last_sent"),
            func.sum((m.c.kind == "reminder").cast(Integer)).label("reminders"),
            func.sum(m.c.state.in_(("queued", "sending")).cast(Integer)).label("pending"),
        )
        .where(m.c.link_id.is_not(None), m.c.to_role == "client", m.c.state != "cancelled")
        .group_by(m.c.link_id)
        .subquery()
    )
    due = conn.execute(
        select(sent.c.link_id, links.c.expires_at)
        .join(links, links.c.id == sent.c.link_id)
        .where(
            links.c.used_at.is_(None),
            links.c.expires_at > now,
            sent.c.pending == 0,
            sent.c.reminders < settings.reminder_max,
            sent.c.last_sent <= now - timedelta(hours=settings.reminder_after_hours),
        )
    ).all()
    planned = 0
    for link_id, expires_at in due:
        send_at = morning_after(now, settings)
        if send_at >= as_utc(expires_at):
            continue  # never a reminder for a link that will have expired by the morning
        first = conn.execute(
            select(m)
            .where(m.c.link_id == link_id, m.c.kind == "invitation")
            .order_by(m.c.id.desc())
        ).first()
        if first is None:
            continue
        insert_id(
            conn,
            m,
            episode_id=first.episode_id,
            session_id=first.session_id,
            link_id=link_id,
            kind="reminder",
            channel=first.channel,
            to_role="client",
            recipient=first.recipient,
            sealed_link=first.sealed_link,
            state="queued",
            attempts=0,
            next_attempt_at=send_at,
            created_at=now,
        )
        planned += 1
    return planned


def _mail_for_the_pass(
    engine: Engine, settings: Settings, key: str
) -> MailServer | GatewayError | None:
    """The mail server, read and opened once for a pass's messages; or why it cannot be used."""
    with engine.connect() as conn:
        try:
            return mail_settings.mail_server(conn, settings, key)
        except GatewayError as error:
            return error


def run_once(
    engine: Engine, settings: Settings, key: str, now: datetime | None = None
) -> RunSummary:
    """One pass: free stale claims, plan reminders, send every message due now."""
    now = now or utc_now()
    summary = RunSummary()
    with engine.connect() as conn:
        # Read first: an idle outbox takes no write lock (SQLite has one writer at a time).
        live = count_rows(conn, m, m.c.state.in_(("queued", "sending", "sent")))
    if live:
        with engine.begin() as conn:
            conn.execute(
                update(m)
                .where(m.c.state == "sending", m.c.claimed_at < now - STALE_CLAIM)
                .values(state="queued", claimed_at=None)
            )
            summary.reminders = plan_reminders(conn, settings, now)
            summary.deferred = _defer_reminders(conn, settings, now)
    with engine.connect() as conn:
        due = (
            conn.execute(
                select(m.c.id)
                .where(m.c.state == "queued", m.c.next_attempt_at <= now)
                .order_by(m.c.next_attempt_at, m.c.id)
                .limit(BATCH)
            )
            .scalars()
            .all()
        )
    mail = _mail_for_the_pass(engine, settings, key) if due else None
    for message_id in due:
        outcome = send_one(engine, message_id, settings, key, now, mail)
        if outcome != "skipped":
            setattr(summary, outcome, getattr(summary, outcome) + 1)
    return summary
