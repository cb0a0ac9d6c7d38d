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

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from alliance.cli import main
from alliance.instruments import load_instrument, score
from tests.conftest import read_utc_clock
from tests.web.server import LiveServer, chromium, live_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "checkins"
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


def total(instrument_id: str) -> float:
    answers = {str(n): float(v) for n, v in enumerate(ANSWERS[instrument_id], start=1)}
    result = score(load_instrument(instrument_id), answers).total
    assert result is not None
    return float(result)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("checkins"), demo=False) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, ARGS) as launched:
        yield launched


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in_first_time(page: Page, url: str, username: str, one_time: str, new: str) -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(one_time)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Current (one-time) password").fill(one_time)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Save password").click()


def first_admin(server: LiveServer) -> str:
    result = CliRunner().invoke(
        main, ["user", "add", "ada", "--role", "admin", "--name", "Ada Admin", "--db", server.db]
    )
    assert result.exit_code == 0, result.output
    one_time = re.search(r"One-time password: (\S+)", result.output)
    assert one_time is not None
    return one_time.group(1)


def admin_sets_the_schedule(page: Page, server: LiveServer) -> str:
    """The admin's first sign-in: a therapist account, then the schedule; the therapist's OTP."""
    sign_in_first_time(page, server.url, "ada", first_admin(server), "admin passphrase 2026")
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("Username").fill("tess")
    form.get_by_label("Display name").fill("Tess Therapist")
    form.get_by_label("Role").select_option("therapist")
    form.get_by_role("button", name="Create account").click()
    otp = page.locator("#otp").inner_text()
    page.goto(f"{server.url}/admin/schedules")
    # A bad rule first: refused with the field named, nothing saved.
    page.get_by_label("Measure").select_option("phq9")
    page.get_by_label("Sessions").fill("every fourth week")
    page.get_by_role("button", name="Save rule").click()
    expect(page.locator(".field-error")).to_contain_text("is not a rule")
    expect(page.locator("#schedules")).to_contain_text("No schedule yet.")
    for instrument, rule in SCHEDULE.items():
        page.get_by_label("Measure").select_option(instrument)
        page.get_by_label("Sessions").fill(rule)
        page.get_by_role("button", name="Save rule").click()
        expect(page.locator(".flash.ok")).to_contain_text("Schedule saved")
    for shown in ("PHQ-9", "every:4", "GAD-7", "1,4,8,12 before", "CORE-10", "every after"):
        expect(page.locator("#schedules")).to_contain_text(shown)
    shot(page, "01-admin-schedule")
    page.get_by_role("button", name="Sign out").click()
    return otp


def therapist_records_four_sessions(page: Page, server: LiveServer, otp: str) -> str:
    """A new client and episode, sessions 1-4 today; the URL of session 4's page."""
    today = read_utc_clock().today.isoformat()
    sign_in_first_time(page, server.url, "tess", otp, "therapist passphrase 1")
    page.locator("#new-client").click()
    form = page.locator("#client-form")
    form.get_by_label("Name").fill("Robin Example")
    form.get_by_label("Consent to treatment given on").fill(today)
    form.get_by_role("button", name="Add the client and open the episode").click()
    expect(page.locator(".flash.ok")).to_contain_text("added and their episode opened")
    expect(page.locator("#episode-schedule")).to_contain_text("every:4")
    shot(page, "02-episode-schedule")
    episode_url = page.url
    for number in range(1, 5):
        page.goto(episode_url)
        sessions = page.locator("form[action$='/sessions']")
        sessions.get_by_label("Date").fill(today)
        sessions.get_by_role("button", name="Record session").click()
        expect(page.locator("h2").first).to_contain_text(f"Session {number}")
    return page.url


def answer(client: Page, instrument_id: str) -> None:
    for item, value in enumerate(ANSWERS[instrument_id], start=1):
        client.locator(f"#item{item}-{value}").check()


def client_answers_on_a_phone(browser: Browser, link: str, measures: list[str], tag: str) -> None:
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    client = phone.new_page()
    client.goto(link)
    for n, instrument_id in enumerate(measures, start=1):
        name = load_instrument(instrument_id).name
        expect(client.locator("h1")).to_have_text(name)
        if len(measures) > 1:
            expect(client.locator("#checkin-progress")).to_contain_text(
                f"Questionnaire {n} of {len(measures)}"
            )
        answer(client, instrument_id)
        shot(client, f"{tag}-{n}-{instrument_id}-phone")
        client.locator(".submit-row button").click()
    expect(client.locator("h1")).to_have_text("Thank you")
    shot(client, f"{tag}-thanks-phone")
    # Once every measure is answered the link is used.
    client.goto(link)
    expect(client.locator(".flash.error")).to_contain_text("already used")
    phone.close()


def points(page: Page, label: str) -> list[dict[str, Any]]:
    text = page.locator("script[type='application/vnd.vegalite+json']").text_content() or "{}"
    for row in json.loads(text).get("vconcat", []):
        if row.get("title") == label:
            for layer in row["layer"]:
                if layer["mark"].get("type") == "line" and "point" in layer["mark"]:
                    return list(layer["data"]["values"])
    return []


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
    expect(page.locator("#session-scores")).to_contain_text(f"PHQ-9: {total('phq9'):g}")
    shot(page, "06-session-4-done")
    page.get_by_role("link", name="Chart and alerts").click()
    expect(page.locator("#client-chart[data-rendered='1'] svg")).to_be_visible()
    for instrument_id in ANSWERS:
        label = load_instrument(instrument_id).short_name
        assert {"session": 4, "total": total(instrument_id)} in points(page, label), label
    shot(page, "07-chart-every-score")
    context.close()
