"""The client's forms in real Chromium on a phone: errors, focus, contrast, zoom, a risk answer."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select, update

from alliance.services import links
from alliance.services.passwords import hash_password
from alliance.store import tables as t
from alliance.store.access import Viewer
from tests.web.server import LiveServer, chromium, live_demo_server
from tests.web.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser

from playwright.sync_api import Browser, Page, ViewportSize, expect  # noqa: E402

PHONE: ViewportSize = {"width": 390, "height": 844}
PASSWORD = "a calm test password 42"
# WCAG 2.1 contrast against white (luminance 1) of an "rgb(r, g, b)" computed colour.
CONTRAST_JS = """
(c) => {
  const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
    v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  const l = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (1.05) / (l + 0.05);
}
"""


# The colour as the browser computes it, for a colour written in a style sheet rule.
COMPUTED_JS = """
(c) => {
  const d = document.createElement("div"); d.style.color = c; document.body.append(d);
  const v = getComputedStyle(d).color; d.remove(); return v;
}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_demo_server(tmp_path_factory.mktemp("forms")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, ARGS) as launched:
        yield launched


def _open_episode(server: LiveServer) -> tuple[int, int]:
    """An open episode and its therapist's id."""
    with server.engine.connect() as conn:
        row = conn.execute(
            select(t.episodes.c.id, t.episodes.c.therapist_id)
            .where(t.episodes.c.closed_on.is_(None))
            .order_by(t.episodes.c.id)
        ).first()
    assert row is not None
    return int(row.id), int(row.therapist_id)


def _link(server: LiveServer, instrument: str) -> str:
    episode, therapist = _open_episode(server)
    with server.engine.begin() as conn:
        viewer = Viewer(therapist, "x", "x", "therapist", None, None)
        new = links.create_link(conn, viewer, episode, None, instrument, 30)
    return f"{server.url}/f/{new.token}"


def _phone(browser: Browser, url: str) -> Page:
    page = browser.new_context(viewport=PHONE).new_page()
    page.goto(url)
    return page


def test_it_moves_focus_to_an_error_summary_that_links_to_each_missing_question(
    server: LiveServer, browser: Browser
) -> None:
    page = _phone(browser, _link(server, "srs"))
    page.locator("#item1").fill("6")  # line 1 answered; lines 2 to 4 left
    page.get_by_role("button", name="Send my answers").click()
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("h2")).to_have_text(
        re.compile(r"^Error: 3 questions still need an answer")
    )
    assert page.title().startswith("Error:")
    hrefs = summary.locator("a").evaluate_all("(links) => links.map((a) => a.getAttribute('href'))")
    assert hrefs == ["#item2", "#item3", "#item4"]
    expect(page.locator("#err-2")).to_have_text(
        "Please give an answer: move the slider or type a number."
    )
    summary.locator("a").nth(1).click()
    expect(page.locator("#item3")).to_be_focused()
    page.context.close()


def test_it_shows_both_ends_and_the_instruction_and_never_the_hidden_middle(
    server: LiveServer, browser: Browser
) -> None:
    page = _phone(browser, _link(server, "srs"))
    expect(page.locator("#instructions")).to_contain_text("Test wording (not the licensed text)")
    slider = page.locator("#slide1")
    assert slider.get_attribute("aria-hidden") == "true"
    ends = page.locator("#ends1")
    expect(ends.locator(".low")).to_have_text("0 Test low end of relationship")
    expect(ends.locator(".high")).to_have_text("Test high end of relationship 10")
    expect(ends).to_be_visible()
    # What is typed moves the slider: the number field is the answer.
    page.locator("#item1").fill("4.9")
    assert slider.input_value() == "4.9"
    expect(page.locator(".vas.unanswered")).to_have_count(3)
    expect(page.locator("#state1")).to_have_text("Your answer: 4.9")
    page.locator("#item1").fill("12")
    expect(page.locator("#state1")).to_have_text("Please type a number from 0 to 10.")
    expect(page.locator(".vas.unanswered")).to_have_count(4)
    page.context.close()


def test_it_draws_the_focus_ring_and_the_slider_tracks_at_3_to_1_against_white(
    server: LiveServer, browser: Browser
) -> None:
    page = _phone(browser, _link(server, "srs"))
    button = page.get_by_role("button", name="Send my answers")
    button.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus: :focus-visible applies
    ring = button.evaluate("(el) => getComputedStyle(el).outlineColor")
    assert button.evaluate("(el) => getComputedStyle(el).outlineStyle") == "solid"
    assert page.evaluate(CONTRAST_JS, ring) >= 3
    tracks = page.evaluate(
        """() => [...document.styleSheets].flatMap((s) => [...s.cssRules])
          .filter((r) => r.selectorText && r.selectorText.includes('slider-runnable-track'))
          .map((r) => r.style.cssText)"""
    )
    assert len(tracks) == 2  # answered and unanswered
    for track in tracks:
        written = re.findall(r"rgb\([^)]*\)|#[0-9a-fA-F]{6}", track)
        assert written, f"no colour in the track rule {track!r}"
        colour = page.evaluate(COMPUTED_JS, written[0])
        assert page.evaluate(CONTRAST_JS, colour) >= 3
    page.context.close()


def test_it_does_not_scroll_sideways_at_200_percent_text_on_a_phone(
    server: LiveServer, browser: Browser
) -> None:
    page = _phone(browser, _link(server, "srs"))
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    page.get_by_role("button", name="Send my answers").click()  # the longer, refused page too
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    sizes = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert sizes[0] <= sizes[1], f"the page is {sizes[0]} px wide in {sizes[1]}"
    page.context.close()


def test_it_shows_crisis_text_and_the_therapist_a_banner_until_acknowledged(
    server: LiveServer, browser: Browser
) -> None:
    episode, therapist = _open_episode(server)
    page = _phone(browser, _link(server, "phq9"))
    for item in range(1, 9):
        page.locator(f"label[for='item{item}-0']").click()
    page.locator("label[for='item9-2']").click()
    page.get_by_role("button", name="Send my answers").click()
    crisis = page.locator("#crisis")
    expect(crisis).to_be_visible()
    expect(crisis).to_contain_text("call your local emergency number")
    page.context.close()
    with server.engine.begin() as conn:
        username = conn.execute(
            select(t.users.c.username).where(t.users.c.id == therapist)
        ).scalar_one()
        conn.execute(
            update(t.users)
            .where(t.users.c.id == therapist)
            .values(password_hash=hash_password(PASSWORD), must_change_password=False)
        )
    desk = browser.new_context().new_page()
    desk.goto(f"{server.url}/login")
    desk.get_by_label("Username").fill(username)
    desk.get_by_label("Password").fill(PASSWORD)
    desk.get_by_role("button", name="Sign in").click()
    banner = desk.locator("#risk-banner")
    expect(banner).to_contain_text("A risk item was endorsed")
    expect(banner).not_to_contain_text("better off dead")
    desk.goto(f"{server.url}/caseload/closed")
    expect(desk.locator("#risk-banner")).to_be_visible()
    banner.get_by_role("button", name="Acknowledge and open the chart").first.click()
    expect(desk).to_have_url(re.compile(rf"/episodes/{episode}$"))
    expect(desk.locator("#risk-banner")).to_have_count(0)
    desk.goto(f"{server.url}/caseload")
    expect(desk.locator("#risk-banner")).to_have_count(0)
    desk.context.close()
