"""Check-ins reach the client by email, in real Chromium, from an empty database.

A real SMTP server (aiosmtpd, with a login) runs on 127.0.0.1. `alliance user add` makes the
first admin; the rest is the browser: the admin makes a therapist account with an email for
risk notifications, sets the schedule (PHQ-9 every 4th session and GAD-7 at 1, 4, 8 and 12,
before; CORE-10 after every session) and types the mail server (a wrong password first: refused
beside the field, nothing kept). The therapist adds a client who agreed to be contacted and
records sessions 1 to 4; session 4's page shows its two check-ins, and their invitations arrive
at the SMTP server. The client opens the emailed link on a 390 x 844 phone and answers the PHQ-9
(question 9 = 2) and the GAD-7 in one go: the crisis information is shown at once, and the
therapist's email says a risk item was endorsed, never the answer. The after-session check-in
is left unanswered: its reminder comes; the answered one gets none. The client answers it from
the reminder, and the therapist sees every score on the chart. Screenshots go to
test-artifacts/mail-journey/.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path

import pytest

from alliance.instruments import load_instrument
from alliance.services.risk import DEFAULT_CRISIS_TEXT
from tests.web.gateways import Mailbox, smtp_server
from tests.web.journeys import (
    add_client,
    answer_on_a_phone,
    create_therapist,
    first_admin,
    points,
    record_sessions,
    save_schedule,
    shooter,
    sign_in_first_time,
    total,
)
from tests.web.server import LiveServer, chromium, live_server
from tests.web.test_messages import text_of

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
shot = shooter(Path(__file__).resolve().parents[2] / "test-artifacts" / "mail-journey")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

if not CHROMIUM.exists():
    if os.environ.get("ALLIANCE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing but ALLIANCE_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} is not installed: browser tests skipped", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

LOGIN = ("clinic-mail", "mail server pass 2026")
CLIENT = "robin.example@example.org"
THERAPIST = "tess@riverside.example.org"
SCHEDULE = {"phq9": "every:4", "gad7": "1,4,8,12 before", "core10": "every after"}
# Question 9 of the PHQ-9 (thoughts of self-harm) answered 2, "more than half the days".
ANSWERS = {
    "phq9": [1, 2, 1, 1, 0, 1, 1, 0, 2],
    "gad7": [1, 1, 2, 0, 1, 1, 0],
    "core10": [1, 1, 2, 1, 1, 0, 1, 1, 2, 1],
}
# A reminder 21.6 s after the invitation: long enough to answer one check-in first.
REMINDER_AFTER_HOURS = 0.006


def daytime_quiet_hours() -> str:
    """Quiet hours that start two hours from now, so the test's reminder is never held back."""
    start = datetime.now(UTC) + timedelta(hours=2)
    return f"{start:%H:%M}-{start + timedelta(hours=1):%H:%M}"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with smtp_server(login=LOGIN) as box:
        yield box


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[LiveServer]:
    with live_server(
        tmp_path_factory.mktemp("mail-journey"),
        demo=False,
        clinic_name="Riverside Practice",
        outbox_poll_seconds=0.5,
        reminder_after_hours=REMINDER_AFTER_HOURS,
        reminder_max=1,
        quiet_hours=daytime_quiet_hours(),
    ) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, ARGS) as launched:
        yield launched


def wait_for(mailbox: Mailbox, to: str, *has: str, seconds: float = 30) -> Message:
    """The first email to `to` whose text holds each of `has`, waiting for the sender."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for mail in mailbox.to(to):
            if all(part in text_of(mail) for part in has):
                return mail
        time.sleep(0.2)
    raise AssertionError(f"no email to {to} holding {has!r} within {seconds} s")


def emailed_link(mail: Message) -> str:
    found = re.search(r"https?://\S+/f/\S+", text_of(mail))
    assert found, text_of(mail)
    return found.group(0)


def admin_sets_up_the_clinic(page: Page, server: LiveServer, mailbox: Mailbox) -> str:
    """A therapist account with an email, the schedule, the mail server; the therapist's OTP."""
    sign_in_first_time(page, server.url, "ada", first_admin(server), "admin passphrase 2026")
    otp = create_therapist(page)
    page.goto(f"{server.url}/admin/users")
    page.locator("tr", has_text="tess").get_by_role("link", name="Edit").click()
    page.get_by_label("Email (for risk notifications)").fill(THERAPIST)
    page.get_by_role("button", name="Save").click()
    page.locator("tr", has_text="tess").get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Email (for risk notifications)")).to_have_value(THERAPIST)

    save_schedule(page, server.url, SCHEDULE)

    page.get_by_role("link", name="Messages").click()
    expect(page.locator("#mail-stored")).to_contain_text("No mail server yet")
    mail_form = page.locator("#mail-server-form")
    mail_form.get_by_label("Host").fill(mailbox.host)
    mail_form.get_by_label("Security").select_option("starttls")
    mail_form.get_by_label("Port").fill(str(mailbox.port))
    mail_form.get_by_label("User").fill(LOGIN[0])
    mail_form.get_by_label("Password").fill("not the password")
    mail_form.get_by_label("Sender address").fill("checkins@riverside.example.org")
    mail_form.get_by_role("button", name="Check and save").click()
    expect(page.locator("#mail-server-errors")).to_contain_text(
        "Error: the mail server was not saved"
    )
    expect(page.locator("#server-password-error")).to_contain_text("refused the login")
    expect(page.locator("#mail-stored")).to_contain_text("No mail server yet")
    expect(page.locator("#server-host")).to_have_value(mailbox.host)
    expect(page.locator("#server-password")).to_have_value("")
    shot(page, "01-admin-mail-refused-login")
    page.locator("#server-password").fill(LOGIN[1])
    page.get_by_role("button", name="Check and save").click()
    expect(page.locator(".flash.ok")).to_contain_text("Mail server saved: connected and logged in")
    expect(page.locator("#mail-stored")).to_contain_text(f"{mailbox.host}:{mailbox.port}")
    assert LOGIN[1] not in page.content()
    shot(page, "02-admin-mail-saved")
    assert mailbox.received == []  # checking the server sent nothing
    page.get_by_role("button", name="Sign out").click()
    return otp


def therapist_records_four_sessions(page: Page, server: LiveServer, otp: str) -> str:
    """A client who agreed to be contacted, sessions 1-4 today; session 4's page URL."""
    sign_in_first_time(page, server.url, "tess", otp, "therapist passphrase 1")
    return record_sessions(page, add_client(page, email=CLIENT), 4)


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide in a 390 px viewport"


def test_check_ins_reach_the_client_by_email_with_reminders_and_risk_answered_at_once(
    server: LiveServer, browser: Browser, mailbox: Mailbox
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    otp = admin_sets_up_the_clinic(page, server, mailbox)
    session_url = therapist_records_four_sessions(page, server, otp)

    checkins = page.locator("#checkins .checkins > li")
    expect(checkins).to_have_count(2)
    expect(checkins.nth(0)).to_contain_text("Before the session: PHQ-9, GAD-7")
    expect(checkins.nth(1)).to_contain_text("After the session: CORE-10")
    before, after = (page.locator(".checkin-url").nth(i).input_value() for i in range(2))

    # Both invitations reach the SMTP server, with the link and nothing clinical.
    invitation = wait_for(mailbox, CLIENT, "is ready", before)
    wait_for(mailbox, CLIENT, "is ready", after)
    assert invitation["From"] == "checkins@riverside.example.org"
    assert invitation["Subject"] == "Riverside Practice: your check-in is ready"
    for clinical in ("PHQ", "GAD", "CORE", "Robin"):
        assert clinical not in text_of(invitation), clinical
    page.goto(session_url)
    expect(page.locator("#message-list")).to_contain_text("Invitation by email")
    expect(page.locator("#message-list")).to_contain_text("r***@example.org")
    shot(page, "03-session-4-check-ins-sent")

    # The client answers the before-session check-in from the email: crisis information at once.
    client = answer_on_a_phone(
        browser, emailed_link(invitation), ["phq9", "gad7"], ANSWERS, shot, "04-before"
    )
    expect(client.locator("#crisis")).to_contain_text("Support is available now")
    expect(client.locator("#crisis")).to_contain_text(DEFAULT_CRISIS_TEXT[:60])
    shot(client, "05-crisis-after-sending-phone")
    client.context.close()

    # The therapist is emailed at once: a risk item was endorsed, open Alliance; no answer.
    notice = wait_for(mailbox, THERAPIST, "A risk item was endorsed")
    phq9_total = str(int(total(ANSWERS, "phq9")))
    for leak in ("PHQ", "question 9", "item 9", "Robin", "more than half", phq9_total):
        assert leak not in text_of(notice), leak
        assert leak not in str(notice["Subject"]), leak
    page.goto(session_url)
    expect(page.locator("#risk-banner")).to_contain_text("A risk item was endorsed")

    # The unanswered check-in is reminded; the answered one is not.
    reminder = wait_for(mailbox, CLIENT, "A reminder from Riverside Practice", after, seconds=90)
    reminded = [
        m for m in mailbox.to(CLIENT) if "A reminder" in text_of(m) and before in text_of(m)
    ]
    assert reminded == [], "a reminder was sent for a check-in already done"
    client = answer_on_a_phone(
        browser, emailed_link(reminder), ["core10"], ANSWERS, shot, "06-after"
    )
    client.context.close()

    page.goto(session_url)
    expect(page.locator("#checkins [data-state='done']")).to_have_count(2)
    expect(page.locator("#message-list")).to_contain_text("Reminder by email")
    expect(page.locator("#message-list")).to_contain_text("Risk notification by email")
    shot(page, "07-session-4-done")
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scroll(page)
    shot(page, "08-session-4-phone-width")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_role("link", name="Chart and alerts").click()
    expect(page.locator("#client-chart[data-rendered='1'] svg")).to_be_visible()
    for instrument_id in ANSWERS:
        label = load_instrument(instrument_id).short_name
        assert {"session": 4, "total": total(ANSWERS, instrument_id)} in points(page, label), label
    shot(page, "09-chart-every-score")

    # Later passes of the sender send nothing more to the client for session 4.
    count = len([m for m in mailbox.to(CLIENT) if before in text_of(m) or after in text_of(m)])
    time.sleep(3)
    assert (
        len([m for m in mailbox.to(CLIENT) if before in text_of(m) or after in text_of(m)]) == count
    )
    context.close()
