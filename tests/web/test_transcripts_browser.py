"""Transcript feedback in real Chromium, from an empty database.

`alliance user add` makes the admin; in the browser the admin adds a supervisor and a therapist;
the therapist adds a client, records a session, uploads a WebVTT and a plain-text transcript,
says who is who, waits for the codes, reads the profile and the coded lines, corrects one code
and shares the profile; the supervisor, who saw nothing before, now sees it; the therapist
deletes the text and the profile remains. Screenshots go to test-artifacts/transcripts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance.cli import main
from tests.conftest import read_utc_clock
from tests.web.server import LiveServer, chromium, live_server
from tests.web.test_first_run_browser import ARGS, CHROMIUM, add_user, sign_in_first_time, sign_out

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "transcripts"
FILES = Path(__file__).resolve().parent / "transcript_files"

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


def staff(page: Page, server: LiveServer) -> tuple[str, str]:
    """The admin from the CLI, then a supervisor and their therapist from the admin's page."""
    result = CliRunner().invoke(
        main, ["user", "add", "ada", "--role", "admin", "--name", "Ada Admin", "--db", server.db]
    )
    assert result.exit_code == 0, result.output
    one_time = re.search(r"One-time password: (\S+)", result.output)
    assert one_time is not None
    sign_in_first_time(page, server.url, "ada", one_time.group(1), "admin passphrase 2026")
    sam = add_user(page, "sam", "Sam Supervisor", "supervisor")
    tess = add_user(page, "tess", "Tess Therapist", "therapist", "Sam Supervisor")
    sign_out(page)
    return sam, tess


def new_session(page: Page, today: str) -> str:
    page.locator("#new-client").click()
    form = page.locator("#client-form")
    form.get_by_label("Consent to treatment given on").fill(today)
    form.get_by_role("button", name="Add the client and open the episode").click()
    session_form = page.locator("form[action$='/sessions']")
    session_form.get_by_label("Date").fill(today)
    session_form.get_by_role("button", name="Record session").click()
    expect(page).to_have_url(re.compile(r"/sessions/\d+$"))
    return page.url


def upload(page: Page, name: str, keep: bool = True) -> None:
    form = page.locator("#transcript-form")
    form.get_by_label("Transcript file").set_input_files(str(FILES / name))
    if keep:
        form.get_by_label("Keep the text").check()
    form.get_by_role("button", name="Upload transcript").click()
    expect(page.locator(".flash.ok")).to_contain_text("say who is who")


def code_it(page: Page, roles: dict[str, str]) -> str:
    """Map the names found, start coding and wait (the page reloads itself) for the profile."""
    form = page.locator("form[id^='speakers-form-']").first
    tid = (form.get_attribute("id") or "").rsplit("-", 1)[-1]
    for name, role in roles.items():
        form.get_by_label(re.compile(rf"^{re.escape(name)} \(first on line")).select_option(role)
    form.get_by_role("button", name="Code the transcript").click()
    expect(page.locator(f"#profile-{tid}")).to_be_visible(timeout=60_000)
    return tid


def test_a_therapist_uploads_corrects_shares_and_deletes(
    server: LiveServer, browser: Browser
) -> None:
    today = read_utc_clock().today.isoformat()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sam_otp, tess_otp = staff(page, server)

    sign_in_first_time(page, server.url, "tess", tess_otp, "therapist passphrase 1")
    session_url = new_session(page, today)
    expect(page.locator("#transcript-file-hint")).to_contain_text("up to 2 MB")
    shot(page, "01-session-upload-form")

    # A file with no speakers is refused on the page, naming the line; nothing is kept.
    page.locator("#transcript-form").get_by_label("Transcript file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"We talked.\nShe was tired.\n"}
    )
    page.locator("#transcript-form").get_by_role("button", name="Upload transcript").click()
    expect(page.locator("#transcript-file-error")).to_contain_text("Line 1: no speaker names")
    expect(page.locator("#no-transcripts")).to_be_visible()
    shot(page, "02-refused-no-speakers")
    # A file over the limit is stopped in the page before it is sent.
    page.locator("#transcript-form").get_by_label("Transcript file").set_input_files(
        {"name": "long.txt", "mimeType": "text/plain", "buffer": b"T: hello\n" * 350_000}
    )
    page.locator("#transcript-form").get_by_role("button", name="Upload transcript").click()
    expect(page.locator(".size-error")).to_contain_text("the limit is 2 MB per transcript")
    expect(page.locator("#no-transcripts")).to_be_visible()

    upload(page, "session.vtt")
    expect(page.locator("form[id^='speakers-form-']")).to_contain_text("Dr Reyes")
    shot(page, "03-who-is-who")
    vtt = code_it(page, {"Dr Reyes": "therapist", "Sam": "client"})
    expect(page.locator(f"#coded-{vtt}")).to_contain_text("You should just stop buying beer.")
    expect(page.locator(f"#profile-{vtt}")).to_contain_text("Reflection-to-question ratio")
    shot(page, "04-vtt-profile")

    upload(page, "session.txt")
    txt = code_it(page, {"Counsellor": "therapist", "Client": "client"})
    expect(page.locator(f"#coded-{txt}")).to_contain_text("I walked every morning")
    shot(page, "05-text-profile")

    # Correct one code in place: line 13 of the VTT is a complex reflection.
    row = page.locator(f"#line-{vtt}-13")
    row.get_by_label("Code for line 13").select_option("reflection_complex")
    row.get_by_role("button", name="Correct").click()
    expect(page.locator(".flash.ok")).to_contain_text("corrected to Complex reflection")
    expect(page.locator(f"#line-{vtt}-13")).to_contain_text("corrected")
    shot(page, "06-corrected")
    sign_out(page)

    # The supervisor sees nothing before it is shared.
    sign_in_first_time(page, server.url, "sam", sam_otp, "supervisor passphrase 1")
    page.goto(session_url)
    expect(page.locator("#no-transcripts")).to_contain_text("No transcript for this session shared")
    page.get_by_role("link", name="Practice over time").click()
    expect(page.locator("#practice")).to_contain_text("No coded sessions yet shared with you")
    shot(page, "07-supervisor-before")
    sign_out(page)

    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill("tess")
    page.get_by_label("Password").fill("therapist passphrase 1")
    page.get_by_role("button", name="Sign in").click()
    page.goto(session_url)
    page.locator(f"#share-form-{vtt}").get_by_role(
        "button", name="Share with my supervisor"
    ).click()
    expect(page.locator(".flash.ok")).to_contain_text("Shared with your supervisor.")
    sign_out(page)

    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("supervisor passphrase 1")
    page.get_by_role("button", name="Sign in").click()
    page.goto(session_url)
    expect(page.locator(f"#profile-{vtt}")).to_be_visible()
    expect(page.locator(f"#profile-{txt}")).to_have_count(0)  # the other one is not shared
    expect(page.locator(f"#coded-{vtt}")).not_to_contain_text("Correct")
    shot(page, "08-supervisor-after")
    page.get_by_role("link", name="Practice over time").click()
    expect(page.locator("#practice tbody tr")).to_have_count(1)
    expect(page.locator("#practice")).to_contain_text("Tess Therapist")
    shot(page, "09-supervisor-practice")
    sign_out(page)

    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill("tess")
    page.get_by_label("Password").fill("therapist passphrase 1")
    page.get_by_role("button", name="Sign in").click()
    page.goto(session_url)
    delete = page.locator(f"#delete-form-{vtt}")
    delete.get_by_label("Delete the words of this transcript").check()
    delete.get_by_role("button", name="Delete the text").click()
    expect(page.locator(".flash.ok")).to_contain_text("the codes and the profile remain")
    expect(page.locator(f"#profile-{vtt}")).to_be_visible()
    expect(page.locator(f"#coded-{vtt}")).not_to_contain_text("You should just stop buying beer.")
    expect(page.locator(f"#coded-{vtt}")).to_contain_text("text not kept")
    shot(page, "10-text-deleted")
    page.get_by_role("link", name="Practice over time").click()
    expect(page.locator("#practice tbody tr")).to_have_count(2)
    shot(page, "11-practice-over-time")
    context.close()
