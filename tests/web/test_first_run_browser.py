"""A new clinic from an empty database (no demo), in real Chromium, as its people would use it.

`alliance init` and `alliance user add` make the first admin; then everything is the browser:
the admin adds a supervisor and a therapist; the therapist changes the one-time password, adds
a client, opens the episode with consent and a goal, records a session, enters a paper PHQ-9,
raises a boundary incident, closes the episode (confirming), finds it among the closed episodes
and reads the A4 report's text; the supervisor responds to the incident and resolves it.
Screenshots of each page go to test-artifacts/first-run/.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import select

from alliance.cli import main
from alliance.store import tables as t
from tests.conftest import read_utc_clock
from tests.web.server import LiveServer, chromium, live_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "first-run"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]

if not CHROMIUM.exists():
    if os.environ.get("ALLIANCE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing but ALLIANCE_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} is not installed: browser tests skipped", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tmp_path_factory.mktemp("empty"), demo=False) as live:
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
    expect(page).to_have_url(re.compile(r"/account/password$"))
    page.get_by_label("Current (one-time) password").fill(one_time)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("New password again").fill(new)
    page.get_by_role("button", name="Save password").click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()


def add_user(page: Page, username: str, name: str, role: str, supervisor: str = "") -> str:
    form = page.locator("form[action='/admin/users']")
    form.get_by_label("Username").fill(username)
    form.get_by_label("Display name").fill(name)
    form.get_by_label("Role").select_option(role)
    if supervisor:
        form.get_by_label("Supervisor").select_option(label=supervisor)
    form.get_by_role("button", name="Create account").click()
    return page.locator("#otp").inner_text()


def test_a_new_clinic_runs_from_an_empty_database(server: LiveServer, browser: Browser) -> None:
    today = read_utc_clock().today.isoformat()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()

    # Before any account exists the app says how to make the first one.
    page.goto(f"{server.url}/login")
    expect(page.locator("#first-run")).to_contain_text("alliance user add")
    shot(page, "01-no-account-yet")
    result = CliRunner().invoke(
        main, ["user", "add", "ada", "--role", "admin", "--name", "Ada Admin", "--db", server.db]
    )
    assert result.exit_code == 0, result.output
    one_time = re.search(r"One-time password: (\S+)", result.output)
    assert one_time is not None

    # The admin signs in, chooses a password, adds a supervisor and a therapist.
    sign_in_first_time(page, server.url, "ada", one_time.group(1), "admin passphrase 2026")
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    sam_otp = add_user(page, "sam", "Sam Supervisor", "supervisor")
    tess_otp = add_user(page, "tess", "Tess Therapist", "therapist", "Sam Supervisor")
    expect(page.locator("#users")).to_contain_text("Tess Therapist")
    shot(page, "02-admin-users")
    sign_out(page)

    # The therapist: first sign-in, an empty caseload, a new client with consent and a goal.
    sign_in_first_time(page, server.url, "tess", tess_otp, "therapist passphrase 1")
    expect(page).to_have_url(re.compile(r"/caseload$"))
    expect(page.locator("#caseload")).to_contain_text("No open episodes.")
    shot(page, "03-empty-caseload")
    page.locator("#new-client").click()
    form = page.locator("#client-form")
    # A refusal first: no consent date. The page keeps what was typed and names the field.
    form.get_by_label("Name").fill("Robin Example")
    form.get_by_role("button", name="Add the client and open the episode").click()
    expect(page.locator("#client-consent_date-error")).to_contain_text("A date is required")
    shot(page, "04-new-client-refused")
    form = page.locator("#client-form")
    form.get_by_label("Consent to treatment given on").fill(today)
    form.get_by_label("First goals").fill("Sleep through most nights")
    form.get_by_role("button", name="Add the client and open the episode").click()
    expect(page.locator(".flash.ok")).to_contain_text("added and their episode opened")
    code = page.locator("h1").inner_text().removeprefix("Client ").split()[0]
    assert re.fullmatch(r"C-[A-Z0-9]{8}", code)
    expect(page.locator("#consent-h")).to_be_visible()
    shot(page, "05-episode-opened")

    goal_form = page.locator("form[action$='/goals']")
    goal_form.get_by_label("Goal, in the client's words").fill("Walk to the shop on my own")
    goal_form.get_by_role("button", name="Add goal").click()
    expect(page.locator(".flash.ok")).to_contain_text("Goal added")

    session_form = page.locator("form[action$='/sessions']")
    session_form.get_by_label("Date").fill(today)
    session_form.get_by_role("button", name="Record session").click()
    expect(page).to_have_url(re.compile(r"/sessions/\d+$"))
    page.locator("#paper-choice").select_option("phq9")
    page.get_by_role("button", name="Show items").click()
    paper = page.locator("#paper-form")
    for item, answer in enumerate([2, 2, 1, 2, 1, 1, 1, 0, 0], start=1):
        paper.locator(f"#item{item}-{answer}").check()
    shot(page, "06-paper-phq9")
    paper.get_by_role("button", name="Save scores").click()
    expect(page.locator("#session-scores")).to_contain_text("PHQ-9: 10")
    shot(page, "07-session-scored")

    page.get_by_role("link", name="Episode", exact=True).click()
    incident = page.locator("#incident-form")
    incident.get_by_label("What happened").fill("Client asked to meet for coffee")
    incident.get_by_label("Date").fill(today)
    incident.get_by_role("button").click()
    expect(page.locator(".flash.ok")).to_contain_text("Incident reported")

    close = page.locator("#close-form")
    close.get_by_label("Closing date").fill(today)
    close.get_by_label("Why the episode ended").select_option("planned")
    close.get_by_label("Closing summary").fill("Sleeping well; goals met")
    close.get_by_role("button", name="Close the episode").click()
    expect(page.locator("#close-confirm")).to_contain_text("Planned ending")
    shot(page, "08-close-confirm")
    page.get_by_role("button", name="Yes, close the episode").click()
    expect(page.locator("#closing-summary")).to_contain_text("Sleeping well; goals met")

    page.get_by_role("link", name="Closed episodes").first.click()
    page.get_by_label("Client code contains").fill(code[2:6])
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#closed")).to_contain_text(code)
    shot(page, "09-closed-episodes")
    page.get_by_role("link", name=code).click()
    page.get_by_role("link", name="Progress report").click()
    expect(page.locator("#report-measures")).to_contain_text("PHQ-9")
    shot(page, "10-report")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF (A4)").click()
    reader = PdfReader(BytesIO(Path(download.value.path()).read_bytes()))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    text = " ".join(" ".join((p.extract_text() or "").split()) for p in reader.pages)
    for expected in (code, "Tess Therapist", "PHQ-9", "Sleeping well; goals met", "Planned"):
        assert expected in text, expected
    sign_out(page)

    # The supervisor responds to the incident and resolves it; the therapist reads the answer.
    sign_in_first_time(page, server.url, "sam", sam_otp, "supervisor passphrase 1")
    expect(page.locator("#open-incidents")).to_contain_text("Client asked to meet for coffee")
    shot(page, "11-supervision")
    with server.engine.connect() as conn:
        incident_id = conn.execute(select(t.boundary_incidents.c.id)).scalar_one()
    page.goto(f"{server.url}/incidents/{incident_id}")
    page.locator("#respond-form").get_by_label("Your response").fill("Let us discuss on Friday")
    page.locator("#respond-form").get_by_role("button").click()
    page.locator("#resolve-form").get_by_role("button").click()
    expect(page.locator("#incident-state")).to_have_text("Resolved")
    shot(page, "12-incident-resolved")
    sign_out(page)
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill("tess")
    page.get_by_label("Password").fill("therapist passphrase 1")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Closed episodes").first.click()
    page.get_by_role("link", name=code).click()
    expect(page.locator("#incidents")).to_contain_text("Let us discuss on Friday")
    shot(page, "13-therapist-reads-the-response")
    context.close()
