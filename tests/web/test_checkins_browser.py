"""Check-ins in real Chromium, from an empty database, as a new clinic would use them.

`alliance user add` makes the first admin; then everything is the browser: the admin sets the
schedule (PHQ-9 every 4th session, GAD-7 at sessions 1, 4, 8 and 12, both before; CORE-10
every session, after), the therapist adds a client, opens the episode and records sessions 1
to 4; session 4's page shows its two check-ins; the client opens the first link on a phone
(390 x 844) and answers the PHQ-9 and the GAD-7 in one go, with progress, then the CORE-10
through the second link; the therapist sees every score on the chart. Only measures whose
wording Alliance ships are used. Screenshots go to test-artifacts/checkins/.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from alliance.instruments import load_instrument
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

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
shot = shooter(Path(__file__).resolve().parents[2] / "test-artifacts" / "checkins")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

if not CHROMIUM.exists():
    if os.environ.get("ALLIANCE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing but ALLIANCE_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} is not installed: browser tests skipped", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402

SCHEDULE = {"phq9": "every:4", "gad7": "1,4,8,12 before", "core10": "every after"}
# Answers chosen by item (all scored by the instrument's own key below); no risk item endorsed.
ANSWERS = {
    "phq9": [1, 2, 1, 1, 0, 1, 1, 0, 0],
    "gad7": [1, 1, 2, 0, 1, 1, 0],
    "core10": [1, 1, 2, 1, 1, 0, 1, 1, 2, 1],
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("checkins"), demo=False) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, ARGS) as launched:
        yield launched


def admin_sets_the_schedule(page: Page, server: LiveServer) -> str:
    """The admin's first sign-in: a therapist account, then the schedule; the therapist's OTP."""
    sign_in_first_time(page, server.url, "ada", first_admin(server), "admin passphrase 2026")
    otp = create_therapist(page)
    page.goto(f"{server.url}/admin/schedules")
    # A bad rule first: refused with the field named, nothing saved.
    page.get_by_label("Measure").select_option("phq9")
    page.get_by_label("Sessions").fill("every fourth week")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".field-error")).to_contain_text("is not a rule")
    expect(page.locator("#schedules")).to_contain_text("No schedule yet.")
    save_schedule(page, server.url, SCHEDULE)
    for shown in ("PHQ-9", "every:4", "GAD-7", "1,4,8,12 before", "CORE-10", "every after"):
        expect(page.locator("#schedules")).to_contain_text(shown)
    shot(page, "01-admin-schedule")
    page.get_by_role("button", name="Sign out").click()
    return otp


def therapist_records_four_sessions(page: Page, server: LiveServer, otp: str) -> str:
    """A new client and episode, sessions 1-4 today; the URL of session 4's page."""
    sign_in_first_time(page, server.url, "tess", otp, "therapist passphrase 1")
    episode_url = add_client(page)
    expect(page.locator("#episode-schedule")).to_contain_text("every:4")
    shot(page, "02-episode-schedule")
    return record_sessions(page, episode_url, 4)


def client_answers_on_a_phone(browser: Browser, link: str, measures: list[str], tag: str) -> None:
    client = answer_on_a_phone(browser, link, measures, ANSWERS, shot, tag)
    shot(client, f"{tag}-thanks-phone")
    # Once every measure is answered the link is used.
    client.goto(link)
    expect(client.locator(".flash.error")).to_contain_text("already used")
    client.context.close()


def test_the_schedule_makes_check_ins_a_client_answers_through_one_link(
    server: LiveServer, browser: Browser
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    otp = admin_sets_the_schedule(page, server)
    session_url = therapist_records_four_sessions(page, server, otp)

    checkins = page.locator("#checkins .checkins > li")
    expect(checkins).to_have_count(2)
    expect(checkins.nth(0)).to_contain_text("Before the session: PHQ-9, GAD-7")
    expect(checkins.nth(0)).to_contain_text("Due")
    expect(checkins.nth(1)).to_contain_text("After the session: CORE-10")
    page.locator("#checkins summary").first.click()
    expect(page.locator("#checkins .checkin-qr svg").first).to_be_visible()
    expect(page.get_by_role("button", name="Copy link").first).to_be_visible()
    shot(page, "03-session-4-check-ins")
    before, after = (page.locator(".checkin-url").nth(i).input_value() for i in range(2))
    assert before.startswith(f"{server.url}/f/")
    assert before != after

    client_answers_on_a_phone(browser, before, ["phq9", "gad7"], "04-before")
    client_answers_on_a_phone(browser, after, ["core10"], "05-after")

    page.goto(session_url)
    expect(page.locator("#checkins [data-state='done']")).to_have_count(2)
    expect(page.locator("#checkins")).to_contain_text("PHQ-9 (answered), GAD-7 (answered)")
    expect(page.locator("#session-scores")).to_contain_text(f"PHQ-9: {total(ANSWERS, 'phq9'):g}")
    shot(page, "06-session-4-done")
    page.get_by_role("link", name="Chart and alerts").click()
    expect(page.locator("#client-chart[data-rendered='1'] svg")).to_be_visible()
    for instrument_id in ANSWERS:
        label = load_instrument(instrument_id).short_name
        assert {"session": 4, "total": total(ANSWERS, instrument_id)} in points(page, label), label
    shot(page, "07-chart-every-score")
    context.close()
