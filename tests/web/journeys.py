"""Steps a new clinic takes in Chromium, shared by the journey tests: the first admin's account
from `alliance user add`, a therapist account, the schedule, a client and their sessions, a
client answering a check-in on a phone, the chart's points. Playwright is imported only by the
browser tests that use these (each skips itself when Chromium is missing)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from click.testing import CliRunner

from alliance.cli import main
from alliance.instruments import load_instrument, score
from tests.conftest import read_utc_clock
from tests.web.server import LiveServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

Answers = Mapping[str, Sequence[int]]
Shot = Callable[["Page", str], None]


def shooter(folder: Path) -> Shot:
    """A function that saves a full-page screenshot under `folder` by name."""

    def shot(page: Page, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return shot


def total(answers: Answers, instrument_id: str) -> float:
    """The total the instrument's own key gives these answers (items numbered from 1)."""
    given = {str(n): float(v) for n, v in enumerate(answers[instrument_id], start=1)}
    result = score(load_instrument(instrument_id), given).total
    assert result is not None
    return float(result)


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
    """`alliance user add ada --role admin` on the server's database; the one-time password."""
    result = CliRunner().invoke(
        main, ["user", "add", "ada", "--role", "admin", "--name", "Ada Admin", "--db", server.db]
    )
    assert result.exit_code == 0, result.output
    one_time = re.search(r"One-time password: (\S+)", result.output)
    assert one_time is not None
    return one_time.group(1)


def create_therapist(page: Page) -> str:
    """On the admin's Users page: the account tess; its one-time password."""
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("Username").fill("tess")
    form.get_by_label("Display name").fill("Tess Therapist")
    form.get_by_label("Role").select_option("therapist")
    form.get_by_role("button", name="Create account").click()
    return page.locator("#otp").inner_text()


def save_schedule(page: Page, url: str, schedule: Mapping[str, str]) -> None:
    from playwright.sync_api import expect

    page.goto(f"{url}/admin/schedules")
    for instrument, rule in schedule.items():
        page.get_by_label("Measure").select_option(instrument)
        page.get_by_label("Sessions").fill(rule)
        page.get_by_role("button", name="Save rule").click()
        expect(page.locator(".flash.ok")).to_contain_text("Schedule saved")


def add_client(page: Page, email: str | None = None) -> str:
    """A new client (contact consent given with an email) and their episode; its URL."""
    from playwright.sync_api import expect

    page.locator("#new-client").click()
    form = page.locator("#client-form")
    form.get_by_label("Name").fill("Robin Example")
    if email is not None:
        form.get_by_label("E-mail").fill(email)
        form.get_by_label("The client agrees to be sent check-ins").check()
    form.get_by_label("Consent to treatment given on").fill(read_utc_clock().today.isoformat())
    form.get_by_role("button", name="Add the client and open the episode").click()
    expect(page.locator(".flash.ok")).to_contain_text("added and their episode opened")
    return page.url


def record_sessions(page: Page, episode_url: str, count: int) -> str:
    """Sessions 1 to `count`, each held today; the URL of the last one's page."""
    from playwright.sync_api import expect

    today = read_utc_clock().today.isoformat()
    for number in range(1, count + 1):
        page.goto(episode_url)
        sessions = page.locator("form[action$='/sessions']")
        sessions.get_by_label("Date").fill(today)
        sessions.get_by_role("button", name="Record session").click()
        expect(page.locator("h2").first).to_contain_text(f"Session {number}")
    return page.url


def answer_on_a_phone(
    browser: Browser, link: str, measures: list[str], answers: Answers, shot: Shot, tag: str
) -> Page:
    """Every measure behind one link answered on a 390 x 844 phone, with the progress shown;
    the page after the last is sent (its context is the caller's to close)."""
    from playwright.sync_api import expect

    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    client = phone.new_page()
    client.goto(link)
    for n, instrument_id in enumerate(measures, start=1):
        expect(client.locator("h1")).to_have_text(load_instrument(instrument_id).name)
        if len(measures) > 1:
            expect(client.locator("#checkin-progress")).to_contain_text(
                f"Questionnaire {n} of {len(measures)}"
            )
        for item, value in enumerate(answers[instrument_id], start=1):
            client.locator(f"#item{item}-{value}").check()
        shot(client, f"{tag}-{n}-{instrument_id}-phone")
        client.locator(".submit-row button").click()
    expect(client.locator("h1")).to_have_text("Thank you")
    return client


def points(page: Page, label: str) -> list[dict[str, Any]]:
    """The score line's points of one instrument's row in the chart page's spec."""
    text = page.locator("script[type='application/vnd.vegalite+json']").text_content() or "{}"
    for row in json.loads(text).get("vconcat", []):
        if row.get("title") == label:
            for layer in row["layer"]:
                if layer["mark"].get("type") == "line" and "point" in layer["mark"]:
                    return list(layer["data"]["values"])
    return []
