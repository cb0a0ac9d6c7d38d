"""The whole journey in real Chromium: therapist, a client on a phone, the therapist again."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import func, select

from alliance.analytics.ruptures import detect_ruptures
from alliance.store import tables as t
from tests.conftest import UtcClock
from tests.web.server import LiveServer, chromium, live_demo_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
NEW_PASSWORD = "a calm new password 42"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

if not CHROMIUM.exists():
    if os.environ.get("ALLIANCE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing but ALLIANCE_REQUIRE_BROWSER=1")
    pytest.skip(f"{CHROMIUM} is not installed: browser tests skipped", allow_module_level=True)

from playwright.sync_api import Browser, Page, expect  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_demo_server(tmp_path_factory.mktemp("demo")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, ARGS) as launched:
        yield launched


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def rupture_case(server: LiveServer) -> tuple[int, str, str]:
    """An open episode whose SRS shows a rupture: (episode id, client code, therapist username)."""
    with server.engine.connect() as conn:
        rows = conn.execute(
            select(
                t.administrations.c.episode_id,
                t.episodes.c.client_id,
                t.episodes.c.therapist_id,
                t.sessions.c.number,
                t.administrations.c.instrument_id,
                t.administrations.c.total,
            )
            .join(t.sessions, t.sessions.c.id == t.administrations.c.session_id)
            .join(t.episodes, t.episodes.c.id == t.administrations.c.episode_id)
            .where(t.episodes.c.closed_on.is_(None), t.administrations.c.instrument_id == "srs")
        ).all()
        frame = pl.DataFrame(
            [tuple(r) for r in rows],
            schema=["episode_id", "client_id", "therapist_id", "session", "instrument", "total"],
            orient="row",
        )
        # A rupture still open (not back within reach): a repaired one has cleared its alert.
        ruptures = detect_ruptures(frame).filter(pl.col("open"))
        assert ruptures.height, "the demo data has no open episode with an open rupture"
        episode_id = int(ruptures["episode_id"][0])
        row = conn.execute(
            select(t.clients.c.code, t.users.c.username)
            .join(t.episodes, t.episodes.c.client_id == t.clients.c.id)
            .join(t.users, t.users.c.id == t.episodes.c.therapist_id)
            .where(t.episodes.c.id == episode_id)
        ).one()
    return episode_id, row.code, row.username


def count(server: LiveServer, table: Any, *where: Any) -> int:
    with server.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def embedded_spec(page: Page) -> dict[str, Any]:
    text = page.locator("script[type='application/vnd.vegalite+json']").text_content() or "{}"
    return dict(json.loads(text))


def points(spec: dict[str, Any], instrument_label: str) -> list[dict[str, Any]]:
    """The line points of one row of the chart spec."""
    for row in spec.get("vconcat", []):
        if row.get("title") == instrument_label:
            for layer in row["layer"]:
                if layer["mark"].get("type") == "line" and "point" in layer["mark"]:
                    return list(layer["data"]["values"])
    return []


def test_it_walks_the_therapist_and_client_journey(
    server: LiveServer, browser: Browser, utc_clock: UtcClock
) -> None:
    # The server refuses dates after its UTC today; the browser's own date may be a day off.
    today = utc_clock.today.isoformat()
    episode_id, code, username = rupture_case(server)
    password = next(a.password for a in server.accounts if a.username == username)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.url}/login")
    shot(page, "01-login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    # A one-time password must be replaced first.
    expect(page).to_have_url(re.compile(r"/account/password$"))
    page.get_by_label("Current (one-time) password").fill(password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save password").click()

    # Caseload, then the client with a rupture and the rupture on the chart.
    expect(page).to_have_url(re.compile(r"/caseload$"))
    expect(page.locator("#caseload")).to_contain_text(code)
    shot(page, "02-caseload")
    page.get_by_role("link", name=code, exact=True).click()
    expect(page.locator("#client-chart[data-rendered='1'] svg")).to_be_visible()
    expect(page.locator("#ruptures")).to_contain_text("rupture at session")
    spec = embedded_spec(page)
    assert "triangle-down" in json.dumps(spec)
    shot(page, "03-chart")

    # Acknowledge the first open alert.
    acks = count(
        server, t.signal_acknowledgements, t.signal_acknowledgements.c.episode_id == episode_id
    )
    first_alert = page.locator("[data-alert]").first
    first_alert.get_by_label("What you will do (optional)").fill("Discuss at next session")
    first_alert.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".flash.ok")).to_contain_text("Alert acknowledged")
    # The card's every signal is acknowledged with it (a rupture and its low rating, say).
    assert (
        count(
            server, t.signal_acknowledgements, t.signal_acknowledgements.c.episode_id == episode_id
        )
        > acks
    )

    # Episode page: move a stage, add a goal, log a boundary crossing with its rationale.
    page.get_by_role("link", name="Episode", exact=True).click()
    moves = count(server, t.stage_transitions, t.stage_transitions.c.episode_id == episode_id)
    stage_form = page.locator("form[action$='/stage']")
    stage = page.locator("#stage-h").inner_text().split(":")[-1].strip()
    order = ["commitment", "process", "change", "termination"]
    target = order[order.index(stage) - 1] if stage in ("change", "termination") else "process"
    if stage == "process":
        target = "change"
    stage_form.get_by_label("Move to").select_option(target)
    stage_form.get_by_label("Reason (needed for a step back)").fill("Relapse after a life event")
    stage_form.get_by_role("button", name="Move stage").click()
    expect(page.locator(".flash.ok")).to_contain_text("Stage moved")
    expect(page.locator("#stage-h")).to_contain_text(target)
    assert (
        count(server, t.stage_transitions, t.stage_transitions.c.episode_id == episode_id)
        == moves + 1
    )

    goal_form = page.locator("form[action$='/goals']")
    goal_form.get_by_label("Goal, in the client's words").fill("Walk to the shop on my own")
    goal_form.get_by_role("button", name="Add goal").click()
    expect(page.locator("#goals")).to_contain_text("Walk to the shop on my own")

    crossing = page.locator("form[action$='/boundaries']")
    crossing.get_by_label("Kind").select_option("crossing")
    crossing.get_by_label("What happened or was agreed").fill("Exposure walk outside the office")
    crossing.get_by_label("Date").fill(today)
    crossing.get_by_label("How it serves the client's welfare").fill("Practice where fear happens")
    crossing.get_by_label("The goal of the technique").fill("Graded exposure, step 3")
    crossing.get_by_label("Link to the treatment plan").fill("Plan goal 2: leave home alone")
    crossing.get_by_role("button", name="Log entry").click()
    expect(page.locator("#boundaries")).to_contain_text("Exposure walk outside the office")
    shot(page, "04-episode")

    # A new session today, then a measure link for it.
    sessions_form = page.locator("form[action$='/sessions']")
    sessions_form.get_by_label("Date").fill(today)
    sessions_form.get_by_role("button", name="Record session").click()
    expect(page).to_have_url(re.compile(r"/sessions/\d+$"))
    session_number = int(re.findall(r"Session (\d+)", page.locator("h2").first.inner_text())[0])
    link_form = page.locator("form[action$='/link']")
    link_form.get_by_label("Measure").select_option("srs")
    link_form.get_by_role("button", name="Create link").click()
    expect(page.locator(".qr svg")).to_be_visible()
    link_url = page.locator("#link-url").get_attribute("href")
    assert link_url
    assert "/f/" in link_url
    shot(page, "05-session-link")

    # The client, on a phone, answers with the keyboard only.
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    client = phone.new_page()
    client.goto(link_url)
    expect(client.locator("legend").first).to_be_visible()
    # Every line starts unanswered: no thumb, no value, a visible note.
    expect(client.locator(".vas.unanswered")).to_have_count(4)
    for i in range(1, 5):
        expect(client.locator(f"#state{i}")).to_contain_text("Not answered yet")
        expect(client.locator(f"#item{i}")).to_have_value("")
    shot(client, "06-client-form-phone")
    sliders = client.locator("input[type=range]")
    assert sliders.count() == 4
    client.keyboard.press("Tab")  # skip link
    for _ in range(3):
        client.keyboard.press("Tab")
        # The keyboard types the number; the slider, for touch, is passed over.
        focused = client.evaluate("document.activeElement.type")
        assert focused == "number"
        client.keyboard.type("7")
    expect(client.locator("#state1")).to_have_text("Your answer: 7.0")
    # The fourth line is passed over with Tab: focus alone does not answer it.
    client.keyboard.press("Tab")
    assert client.evaluate("document.activeElement.type") == "number"
    expect(client.locator("#state4")).to_contain_text("Not answered yet")
    shot(client, "06a-client-form-three-answered")
    stored = count(server, t.administrations)
    client.keyboard.press("Tab")
    assert client.evaluate("document.activeElement.tagName") == "BUTTON"
    client.keyboard.press("Enter")
    # Refused: focus moves to the error summary, whose one link leads to the unanswered line.
    expect(client.locator("#error-summary")).to_be_focused()
    expect(client.locator("#q4 #err-4")).to_contain_text("Please give an answer")
    expect(client.locator(".field-error")).to_have_count(1)
    assert count(server, t.administrations) == stored
    assert [sliders.nth(i).input_value() for i in range(3)] == ["7", "7", "7"]
    expect(client.locator(".vas.unanswered")).to_have_count(1)
    shot(client, "06b-client-form-unanswered-error")
    client.keyboard.press("Tab")
    client.keyboard.press("Enter")
    assert client.evaluate("document.activeElement.id") == "item4"
    client.keyboard.type("7")
    assert [sliders.nth(i).input_value() for i in range(4)] == ["7", "7", "7", "7"]
    expect(client.locator(".vas.unanswered")).to_have_count(0)
    client.keyboard.press("Tab")
    assert client.evaluate("document.activeElement.tagName") == "BUTTON"
    client.keyboard.press("Enter")
    expect(client.locator("h1")).to_have_text("Thank you")
    shot(client, "07-client-thanks")

    # The therapist sees the new point; the link no longer works.
    page.goto(f"{server.url}/episodes/{episode_id}")
    expect(page.locator("#client-chart[data-rendered='1'] svg")).to_be_visible()
    srs_points = points(embedded_spec(page), "SRS")
    assert {"session": session_number, "total": 28.0} in srs_points
    shot(page, "08-chart-with-new-point")
    client.goto(link_url)
    expect(client.locator("h1")).to_have_text("This link no longer works")
    expect(client.locator(".flash.error")).to_contain_text("already used")
    shot(client, "09-link-used")
    phone.close()

    worksheets_and_closing(server, page, episode_id, username, today)
    context.close()


def worksheets_and_closing(
    server: LiveServer, page: Page, episode_id: int, username: str, today: str
) -> None:
    """Miracle Question -> proposed goals -> one agreed; a plan with a gap, then whole; closing."""
    page.goto(f"{server.url}/episodes/{episode_id}/details")
    miracle = page.locator("#miracle-form")
    miracle.get_by_role("button", name="Save the Miracle Question").click()
    expect(page.locator("#miracle_question-answers-error")).to_contain_text("at least one entry")
    shot(page, "10-miracle-question-error")
    page.locator("#miracle-form").get_by_label("What would be different").fill(
        "I would have breakfast with my kids\nI would answer the phone"
    )
    page.locator("#miracle-form").get_by_role("button", name="Save the Miracle Question").click()
    expect(page.locator(".flash.ok")).to_contain_text("Miracle Question saved")
    goal = page.locator("#goals > li", has_text="I would answer the phone")
    expect(goal.locator("[data-goal-status]")).to_have_text("proposed")
    goal.get_by_role("button", name="Mark agreed").click()
    expect(page.locator(".flash.ok")).to_contain_text("Goal updated")
    goal = page.locator("#goals > li", has_text="I would answer the phone")
    expect(goal.locator("[data-goal-status]")).to_have_text("agreed")
    shot(page, "11-goals-from-the-miracle-question")

    sheets = count(server, t.worksheets, t.worksheets.c.episode_id == episode_id)
    plan = page.locator("#relapse-form")
    plan.get_by_label("Warning signs").fill("Staying in bed\nNot answering messages")
    plan.get_by_label("Coping steps").fill("Morning walk\nBreathing exercise")
    plan.get_by_label("Who to call").fill("My sister")
    plan.get_by_role("button", name="Save the plan").click()
    expect(page.locator("#relapse_prevention-triggers-error")).to_contain_text("at least one")
    expect(page.locator("#relapse_prevention-warning_signs")).to_have_value(
        "Staying in bed\nNot answering messages"
    )
    assert count(server, t.worksheets, t.worksheets.c.episode_id == episode_id) == sheets
    page.locator("#relapse_prevention-triggers").scroll_into_view_if_needed()
    shot(page, "12-relapse-plan-error")
    page.locator("#relapse-form").get_by_label("Triggers").fill("Anniversaries")
    page.locator("#relapse-form").get_by_role("button", name="Save the plan").click()
    expect(page.locator(".flash.ok")).to_contain_text("Relapse-prevention plan saved")
    expect(page.locator("#worksheets")).to_contain_text("Morning walk; Breathing exercise")

    # Another open episode of this therapist, with no plan: closing warns, and says why.
    with server.engine.connect() as conn:
        other = conn.execute(
            select(t.episodes.c.id)
            .join(t.users, t.users.c.id == t.episodes.c.therapist_id)
            .where(
                t.users.c.username == username,
                t.episodes.c.closed_on.is_(None),
                t.episodes.c.id != episode_id,
                ~t.episodes.c.id.in_(
                    select(t.worksheets.c.episode_id).where(
                        t.worksheets.c.kind == "relapse_prevention"
                    )
                ),
            )
            .limit(1)
        ).scalar_one()
    page.goto(f"{server.url}/episodes/{other}/details")
    expect(page.locator("#closing-warning")).to_contain_text("No relapse-prevention plan yet")
    close = page.locator("#close-form")
    close.get_by_label("Closing date").fill(today)
    close.get_by_label("Why the episode ended").select_option("referred")
    close.get_by_label("Closing summary").fill("Ended early: moved away")
    close.get_by_role("button", name="Close the episode").click()
    page.get_by_role("button", name="Yes, close the episode").click()
    expect(page.locator("div.flash.warn[role=status]")).to_contain_text(
        "no relapse-prevention plan was recorded"
    )
    expect(page.locator("#closing-warning")).to_have_text(
        "Closed without a relapse-prevention plan."
    )
    expect(page.locator("#close-form")).to_have_count(0)
    shot(page, "13-closed-with-warning")


def test_it_completes_a_phq9_form_with_the_keyboard(server: LiveServer, browser: Browser) -> None:
    """Radio groups: Tab into the group, arrow keys choose, Space confirms, Enter submits."""
    from alliance.services import links
    from alliance.store.access import Viewer

    with server.engine.begin() as conn:
        episode = conn.execute(
            select(t.episodes.c.id, t.episodes.c.therapist_id).where(
                t.episodes.c.closed_on.is_(None)
            )
        ).first()
        assert episode is not None
        viewer = Viewer(episode.therapist_id, "x", "x", "therapist", None, None)
        new = links.create_link(conn, viewer, episode.id, None, "phq9", 30)
    before = count(server, t.administrations)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server.url}/f/{new.token}")
    page.keyboard.press("Tab")  # skip link
    for _ in range(9):
        page.keyboard.press("Tab")  # into the next radio group (first option)
        page.keyboard.press("ArrowDown")  # second option: "Several days" (1)
        page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Thank you")
    assert count(server, t.administrations) == before + 1
    with server.engine.connect() as conn:
        total = conn.execute(
            select(t.administrations.c.total).order_by(t.administrations.c.id.desc()).limit(1)
        ).scalar_one()
    assert total == 9.0
    context.close()
