"""Invitations, reminders and risk notifications through real gateways on loopback.

The SMTP server (aiosmtpd) and the SMS gateway (http.server) are started by each test; the
sender is driven with moments read from the UTC clock fixture, moved on by hand.
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from alliance.config import Settings, load_settings
from alliance.services.sender import run_once
from alliance.store import people
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.web import create_app
from tests.conftest import UtcClock
from tests.web.clinic import Clinic
from tests.web.conftest import send_csrf_token, sign_in
from tests.web.gateways import Mailbox, sms_gateway, smtp_server

KEY = "k" * 32
CLIENT_EMAIL = "jo.client@example.org"
CLIENT_PHONE = "+4915112345678"


def settings_for(database_url: str, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "secret_key": KEY,
        "link_ttl_minutes": 3 * 24 * 60,
        "outbox_poll_seconds": 3600,
        "clinic_name": "Riverside Practice",
        "mail_from": "checkins@riverside.example.org",
        **extra,
    }
    return load_settings(**values)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def app_for(settings: Settings, engine: Engine, clinic: Clinic) -> TestClient:
    client = TestClient(create_app(settings, engine=engine))
    client.__enter__()
    send_csrf_token(client)
    sign_in(client, clinic.usernames["therapist"])
    return client


def client_of(engine: Engine, episode_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(t.episodes.c.client_id).where(t.episodes.c.id == episode_id)
            ).scalar_one()
        )


def with_contact(engine: Engine, client: TestClient, clinic: Clinic, *, consent: bool) -> None:
    client_id = client_of(engine, clinic.rupture_episode)
    with engine.begin() as conn:
        people.set_client_identity(
            conn,
            Actor.system(),
            client_id,
            name=None,
            contact=None,
            email=CLIENT_EMAIL,
            phone=CLIENT_PHONE,
        )
    if consent:
        answer = client.post(f"/clients/{client_id}/contact_consent", data={"consent": "yes"})
        assert answer.status_code == 200
        assert "agreed" in answer.text


def session_url(clinic: Clinic) -> str:
    return f"/episodes/{clinic.rupture_episode}/sessions/{clinic.rupture_sessions[-1]}"


def send_new_link(client: TestClient, clinic: Clinic, channel: str, instrument: str = "srs") -> Any:
    page = client.post(f"{session_url(clinic)}/link", data={"instrument": instrument}).text
    link_id = re.search(r'name="link_id" value="(\d+)"', page)
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert link_id
    assert token
    answer = client.post(
        f"{session_url(clinic)}/send",
        data={"link_id": link_id[1], "token": token[1], "channel": channel},
    )
    return answer, token[1]


def after_queueing(clock: UtcClock) -> datetime:
    """The clock fixture's moment, moved past the real moment the test queues its messages."""
    return clock.now + timedelta(minutes=1)


def text_of(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.outbox_messages).order_by(t.outbox_messages.c.id)))


def test_it_emails_the_invitation_with_the_link_and_no_clinical_content(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    settings = settings_for(database_url, smtp_url=mailbox.url())
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    answer, token = send_new_link(client, clinic, "email")
    assert answer.status_code == 200
    assert "queued" in answer.text
    summary = run_once(engine, settings, KEY, now=after_queueing(utc_clock))
    assert summary.sent == 1
    [mail] = mailbox.to(CLIENT_EMAIL)
    assert mail["Subject"] == "Riverside Practice: your check-in is ready"
    body = text_of(mail)
    assert f"http://testserver/f/{token}" in body
    assert "expires on" in body
    for clinical in ("SRS", "Session Rating", "RUPT-001", "score", "PHQ"):
        assert clinical not in body
    # The emailed link opens the form; the session page lists the message, address masked.
    assert client.get(f"/f/{token}").status_code == 200
    page = client.get(session_url(clinic)).text
    assert "j***@example.org" in page
    assert CLIENT_EMAIL not in page
    assert "Invitation by email" in page
    assert "Sent" in page
    assert "250 Message accepted" in page
    # The link is kept sealed, never as it was sent.
    [row] = outbox(engine)
    assert token not in (row.sealed_link or "")


def test_it_refuses_a_client_without_contact_consent_and_queues_nothing(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox
) -> None:
    client = app_for(settings_for(database_url, smtp_url=mailbox.url()), engine, clinic)
    with_contact(engine, client, clinic, consent=False)
    answer, _ = send_new_link(client, clinic, "email")
    assert answer.status_code == 400
    assert "Error: nothing was sent" in answer.text
    assert "has not agreed to be contacted" in answer.text
    assert outbox(engine) == []


def test_it_reminds_once_by_day_defers_at_night_and_never_once_done_or_expired(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    start = after_queueing(utc_clock)
    due = start + timedelta(hours=25)
    # The night lies 3 to 5 hours after the reminder falls due, in the clinic's time zone (UTC).
    night = f"{due + timedelta(hours=3):%H}:00-{due + timedelta(hours=5):%H}:00"
    settings = settings_for(
        database_url,
        smtp_url=mailbox.url(),
        reminder_after_hours=24,
        reminder_max=1,
        quiet_hours=night,
    )
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    send_new_link(client, clinic, "email")
    run_once(engine, settings, KEY, now=start)
    assert run_once(engine, settings, KEY, now=start + timedelta(hours=23)).reminders == 0
    summary = run_once(engine, settings, KEY, now=due)
    assert (summary.reminders, summary.sent) == (1, 1)
    reminder = text_of(mailbox.to(CLIENT_EMAIL)[-1])
    assert "A reminder from Riverside Practice: your check-in is still open" in reminder
    # At most reminder_max; a link then answered gets nothing more.
    assert run_once(engine, settings, KEY, now=due + timedelta(hours=25)).reminders == 0
    assert len(mailbox.to(CLIENT_EMAIL)) == 2


def test_it_waits_for_the_morning_and_drops_a_reminder_once_done(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    start = after_queueing(utc_clock)
    due = start + timedelta(hours=25)
    night = f"{due - timedelta(hours=1):%H}:00-{due + timedelta(hours=2):%H}:00"
    settings = settings_for(database_url, smtp_url=mailbox.url(), reminder_max=2, quiet_hours=night)
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    _, token = send_new_link(client, clinic, "email")
    run_once(engine, settings, KEY, now=start)
    summary = run_once(engine, settings, KEY, now=due)
    assert (summary.reminders, summary.sent) == (1, 0)
    queued = outbox(engine)[-1]
    morning = (due + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    assert queued.kind == "reminder"
    assert queued.state == "queued"
    assert queued.next_attempt_at.replace(tzinfo=morning.tzinfo) == morning
    # The client answers before the morning: the reminder is not sent, and says why.
    answered = client.post(f"/f/{token}", data={f"item_{i}": "9" for i in range(1, 5)})
    assert answered.status_code in (200, 303)
    run_once(engine, settings, KEY, now=morning + timedelta(minutes=1))
    assert len(mailbox.to(CLIENT_EMAIL)) == 1
    last = outbox(engine)[-1]
    assert (last.state, last.last_answer) == ("cancelled", "not sent: the check-in is done")
    assert run_once(engine, settings, KEY, now=morning + timedelta(hours=30)).reminders == 0


def test_it_never_reminds_after_the_link_expired(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    settings = settings_for(
        database_url, smtp_url=mailbox.url(), link_ttl_minutes=20 * 60, quiet_hours="00:00-00:01"
    )
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    send_new_link(client, clinic, "email")
    run_once(engine, settings, KEY, now=after_queueing(utc_clock))
    assert (
        run_once(
            engine, settings, KEY, now=after_queueing(utc_clock) + timedelta(hours=25)
        ).reminders
        == 0
    )
    assert len(mailbox.to(CLIENT_EMAIL)) == 1


def test_it_emails_the_therapist_and_duty_contact_when_a_risk_item_is_endorsed(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    settings = settings_for(
        database_url, smtp_url=mailbox.url(), duty_email="duty@riverside.example.org"
    )
    with engine.begin() as conn:
        conn.execute(
            t.users.update()
            .where(t.users.c.id == clinic.therapist_id)
            .values(email="tess@riverside.example.org")
        )
    client = app_for(settings, engine, clinic)
    page = client.post(f"{session_url(clinic)}/link", data={"instrument": "phq9"}).text
    token = re.search(r'name="token" value="([^"]+)"', page)
    assert token
    answers = {f"item_{i}": "1" for i in range(1, 9)} | {"item_9": "2"}
    assert client.post(f"/f/{token[1]}", data=answers).status_code in (200, 303)
    run_once(engine, settings, KEY, now=after_queueing(utc_clock))
    for address in ("tess@riverside.example.org", "duty@riverside.example.org"):
        [mail] = mailbox.to(address)
        assert "a risk item was endorsed" in mail["Subject"]
        body = text_of(mail)
        # The whole message: no measure, no answer, no score, no client code.
        assert body.replace("\r\n", "\n").strip() == (
            "A risk item was endorsed on a form in Alliance.\n\nOpen Alliance to see it."
        )
    page = client.get(session_url(clinic)).text
    assert "Risk notification by email" in page
    assert "t***@riverside.example.org" in page


def test_it_sends_the_text_message_as_the_template_says_with_the_auth_header(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    with sms_gateway() as gateway:
        settings = settings_for(
            database_url,
            sms_url=gateway.url,
            sms_body='{"messages": [{"destination": "{to}", "content": "{body}"}], "v": 2}',
            sms_auth_header="Authorization: Bearer gw-secret",
        )
        client = app_for(settings, engine, clinic)
        with_contact(engine, client, clinic, consent=True)
        _, token = send_new_link(client, clinic, "sms")
        assert run_once(engine, settings, KEY, now=after_queueing(utc_clock)).sent == 1
    [body] = gateway.bodies
    assert body["v"] == 2
    [message] = body["messages"]
    assert message["destination"] == CLIENT_PHONE
    assert message["content"].startswith("Your check-in from Riverside Practice is ready.")
    assert f"http://testserver/f/{token}" in message["content"]
    assert gateway.headers[0]["Authorization"] == "Bearer gw-secret"
    assert 'HTTP 200 {"id": "msg-1"}' in html.unescape(client.get(session_url(clinic)).text)


def test_it_retries_a_gateway_answering_500_with_a_doubling_wait(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    now = after_queueing(utc_clock)
    with sms_gateway([500, 500]) as gateway:
        settings = settings_for(database_url, sms_url=gateway.url)
        client = app_for(settings, engine, clinic)
        with_contact(engine, client, clinic, consent=True)
        send_new_link(client, clinic, "sms")
        assert run_once(engine, settings, KEY, now=now).retried == 1
        [row] = outbox(engine)
        assert (row.state, row.attempts) == ("queued", 1)
        assert "HTTP 500 provider unavailable" in row.last_answer
        assert run_once(engine, settings, KEY, now=now + timedelta(seconds=50)).retried == 0
        assert run_once(engine, settings, KEY, now=now + timedelta(seconds=61)).retried == 1
        # The second wait is twice the first: two minutes.
        assert run_once(engine, settings, KEY, now=now + timedelta(minutes=2)).sent == 0
        assert run_once(engine, settings, KEY, now=now + timedelta(minutes=3, seconds=2)).sent == 1
    assert len(gateway.bodies) == 3
    [row] = outbox(engine)
    assert (row.state, row.attempts) == ("sent", 3)


def test_it_marks_failed_with_the_reason_when_the_gateway_is_down_all_window(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    from tests.web.server import free_port

    settings = settings_for(
        database_url, sms_url=f"http://127.0.0.1:{free_port()}/send", retry_window_minutes=10
    )
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    send_new_link(client, clinic, "sms")
    outcomes = [
        run_once(engine, settings, KEY, now=after_queueing(utc_clock) + timedelta(minutes=m))
        for m in (0, 1, 3, 7, 15)
    ]
    # Waits of 1, 2 and 4 minutes; the next (8) would end past the 10-minute window.
    assert [o.retried for o in outcomes] == [1, 1, 1, 0, 0]
    assert [o.failed for o in outcomes] == [0, 0, 0, 1, 0]
    [row] = outbox(engine)
    assert row.state == "failed"
    assert "cannot reach the SMS gateway 127.0.0.1" in row.last_answer
    assert "connection refused" in row.last_answer
    page = client.get(session_url(clinic)).text
    assert "Failed" in page
    assert "retried until the window closed" in page


def test_it_sends_each_message_once_with_two_senders_at_once(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    settings = settings_for(database_url, smtp_url=mailbox.url())
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    for _ in range(6):
        send_new_link(client, clinic, "email")
    barrier = threading.Barrier(2)

    def sender() -> None:
        barrier.wait()
        run_once(engine, settings, KEY, now=after_queueing(utc_clock))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mailbox.received) == 6
    assert {row.state for row in outbox(engine)} == {"sent"}


def test_it_shows_the_admin_the_mail_settings_and_sends_a_test(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    with smtp_server(login=("clinic", "s3cret-pass")) as box:
        settings = settings_for(database_url, smtp_url=box.url("clinic", "s3cret-pass"))
        client = TestClient(create_app(settings, engine=engine))
        client.__enter__()
        send_csrf_token(client)
        sign_in(client, clinic.usernames["admin"])
        page = client.get("/admin/mail").text
        assert f"127.0.0.1:{box.port}, STARTTLS, user clinic (password hidden)" in page
        assert "s3cret-pass" not in page
        sent = client.post("/admin/mail/test", data={"address": "admin@example.org"})
        assert sent.status_code == 200
        assert "Sent. The gateway answered: 250 Message accepted" in sent.text
        assert len(box.to("admin@example.org")) == 1
        # A therapist's email for risk notifications, set on the user page.
        edit = client.post(
            f"/admin/users/{clinic.therapist_id}",
            data={"display_name": "Tess", "role": "therapist", "email": "tess@example.org"},
        )
        assert edit.status_code == 200
        assert 'value="tess@example.org"' in client.get(f"/admin/users/{clinic.therapist_id}").text
        bad = client.post(
            f"/admin/users/{clinic.therapist_id}",
            data={"display_name": "Tess", "role": "therapist", "email": "tess-at-example"},
        )
        assert bad.status_code == 400
        assert "not an e-mail address" in bad.text
    refused = client.post("/admin/mail/test", data={"address": "admin@example.org"})
    assert refused.status_code == 400
    assert "Error: the test was not sent. cannot reach the mail server" in refused.text


def test_it_records_contact_consent_when_the_client_is_added_and_lets_it_be_withdrawn(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    client = app_for(settings_for(database_url), engine, clinic)
    added = client.post(
        "/clients",
        data={
            "email": "sam.new@example.org",
            "consent_date": utc_clock.today.isoformat(),
            "contact_consent": "yes",
        },
    )
    assert added.status_code == 200
    with engine.connect() as conn:
        row = conn.execute(
            select(t.client_identities).where(t.client_identities.c.email == "sam.new@example.org")
        ).one()
    assert row.contact_consent_at is not None
    page = client.get(f"/clients/{row.client_id}").text
    assert "Check-ins by email or text" in page
    assert "Withdraw consent to be contacted" in page
    withdrawn = client.post(f"/clients/{row.client_id}/contact_consent", data={"consent": "no"})
    assert "not agreed: nothing is sent" in withdrawn.text
    refused = client.post(f"/clients/{row.client_id}/contact_consent", data={"consent": "maybe"})
    assert refused.status_code == 400
    assert "Error: &#39;maybe&#39; is not one of yes, no" in refused.text


def test_recording_a_session_emails_its_check_in_to_a_client_who_agreed(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox, utc_clock: UtcClock
) -> None:
    # PHQ-9 every session, before it: recording a session makes one check-in, and a client who
    # agreed to be contacted, with an email address, is sent it with no one pressing Send.
    settings = settings_for(database_url, smtp_url=mailbox.url())
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=True)
    client.post("/logout")
    sign_in(client, "admin")
    saved = client.post("/admin/schedules", data={"instrument": "phq9", "session_rule": "every"})
    assert saved.status_code == 200
    client.post("/logout")
    sign_in(client, clinic.usernames["therapist"])
    made = client.post(
        f"/episodes/{clinic.rupture_episode}/sessions",
        data={"held_on": clinic.today.isoformat(), "attendance": "attended"},
    )
    assert made.status_code == 200
    [queued] = outbox(engine)
    assert (queued.kind, queued.channel, queued.state) == ("invitation", "email", "queued")
    assert run_once(engine, settings, KEY, now=after_queueing(utc_clock)).sent == 1
    [mail] = mailbox.to(CLIENT_EMAIL)
    token = re.search(r"http://testserver/f/([A-Za-z0-9_-]+)", text_of(mail))
    assert token
    form = client.get(f"/f/{token[1]}")
    assert form.status_code == 200
    assert "PHQ-9" in form.text or "Patient Health Questionnaire" in form.text
    # The check-in now reads "Sent" on the session page.
    page = client.get(str(made.url.path)).text
    assert 'data-state="opened"' in page or 'data-state="sent"' in page


def test_recording_a_session_sends_nothing_without_contact_consent(
    engine: Engine, clinic: Clinic, database_url: str, mailbox: Mailbox
) -> None:
    settings = settings_for(database_url, smtp_url=mailbox.url())
    client = app_for(settings, engine, clinic)
    with_contact(engine, client, clinic, consent=False)
    client.post("/logout")
    sign_in(client, "admin")
    client.post("/admin/schedules", data={"instrument": "phq9", "session_rule": "every"})
    client.post("/logout")
    sign_in(client, clinic.usernames["therapist"])
    made = client.post(
        f"/episodes/{clinic.rupture_episode}/sessions",
        data={"held_on": clinic.today.isoformat(), "attendance": "attended"},
    )
    assert made.status_code == 200
    assert outbox(engine) == []
