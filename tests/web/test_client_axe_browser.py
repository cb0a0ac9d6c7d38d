"""Every page a client sees, in real Chromium on a phone (390 x 844): axe-core and checks by hand.

axe-core (WCAG 2.0 and 2.1, A and AA) must find nothing on each form a client can be sent, its
refused state, the check-in's progress, the crisis information, the thank-you pages and the
page of a link that no longer works. Then what a person checks by hand: focus goes to the error
summary, whose links lead to each missing question; every focus ring is 3:1 against white; no
page scrolls sideways with text at 200%; an untouched line gives assistive tech no value and
shows both its ends. axe.min.js comes from the axe-playwright-python package, never a network.
Screenshots go to test-artifacts/axe/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from alliance.instruments import INSTRUMENT_IDS, Instrument, load_instrument
from alliance.services import links, wording
from alliance.services.passwords import hash_password
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import utc_now
from tests.web.server import LiveServer, chromium, live_demo_server
from tests.web.test_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser

from playwright.sync_api import Browser, Page, ViewportSize, expect  # noqa: E402

PHONE: ViewportSize = {"width": 390, "height": 844}
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "axe"
AXE_JS = Path(str(files("axe_playwright_python").joinpath("axe.min.js")))
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PASSWORD = "a calm test password 42"
# Every measure a client can be sent: those whose wording ships, and on the demo the licensed
# ones in its made-up test wording (the same template, so the same checks).
MEASURES = list(INSTRUMENT_IDS)
LINES = [i for i in MEASURES if any(s.type == "vas" for s in load_instrument(i).scales.values())]

AXE_RUN = """
(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]})
  .then((r) => ({version: axe.version, violations: r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(" ")),
  }))}))
"""
# The focused element's outline as computed, and the colour it is drawn on: the background of
# the nearest ancestor that has one (white on every client page but for the dark header).
FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) { return null; }
  const s = getComputedStyle(el);
  let on = "rgb(255, 255, 255)";
  for (let up = el.parentElement; up; up = up.parentElement) {
    const bg = getComputedStyle(up).backgroundColor;
    if (!/^rgba\\(.*, 0\\)$/.test(bg) && bg !== "transparent") { on = bg; break; }
  }
  const href = el.getAttribute("href");
  return {
    name: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (href ? "[" + href + "]" : ""),
    style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor, on: on,
  };
}
"""
# WCAG 2.1 contrast ratio of two computed "rgb(r, g, b)" colours.
CONTRAST = """
([a, b]) => {
  const luminance = (c) => {
    const [r, g, b] = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
      v = v / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [high, low] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (high + 0.05) / (low + 0.05);
}
"""
WHITE = "rgb(255, 255, 255)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_demo_server(tmp_path_factory.mktemp("axe")) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium(CHROMIUM, ARGS) as launched:
        yield launched


def _episode(server: LiveServer) -> tuple[int, int]:
    """An open episode with agreed goals (so its GBO can be sent) and its therapist's id."""
    with server.engine.connect() as conn:
        row = conn.execute(
            select(t.episodes.c.id, t.episodes.c.therapist_id)
            .join(t.goals, t.goals.c.episode_id == t.episodes.c.id)
            .where(t.episodes.c.closed_on.is_(None), t.goals.c.status == "agreed")
            .order_by(t.episodes.c.id)
        ).first()
    assert row is not None, "the demo has no open episode with an agreed goal"
    return int(row.id), int(row.therapist_id)


def _link(server: LiveServer, measures: list[str], *, minutes: int = 30, ago: int = 0) -> str:
    """A check-in of `measures`, in order, behind one link (made `ago` minutes ago)."""
    episode, therapist = _episode(server)
    viewer = Viewer(therapist, "x", "x", "therapist", None, None)
    instruments = [load_instrument(i) for i in measures]
    with server.engine.begin() as conn:
        new = links.insert_checkin(
            conn,
            viewer,
            (episode, None),
            "any",
            instruments,
            minutes,
            key=None,
            now=utc_now() - timedelta(minutes=ago),
        )
    return f"{server.url}/f/{new.token}"


def _shown(server: LiveServer, measure: str) -> Instrument:
    """The measure as this episode's client is shown it (GBO: the agreed goals; the wording)."""
    episode, _ = _episode(server)
    with server.engine.begin() as conn:
        return wording.client_instrument(conn, episode, measure)


def _answer(page: Page, instrument: Instrument, *, risk: bool = False) -> None:
    """Answer every question on the page: the first choice, or a risk item endorsed."""
    endorsed = {r.item: r.at_least for r in instrument.risk_items} if risk else {}
    for item in instrument.form_items:
        scale = instrument.scale_of(item)
        if scale.type == "ordinal":
            code = int(endorsed.get(item.id, scale.options[0].code))
            page.locator(f"label[for='item{item.id}-{code}']").click()
        else:
            page.locator(f"#item{item.id}").fill(str(int(scale.high)))


def _send(page: Page) -> None:
    page.locator(".submit-row button").click()


def _form(page: Page, server: LiveServer, measure: str) -> None:
    page.goto(_link(server, [measure]))
    expect(page.locator("h1")).to_have_text(load_instrument(measure).name)


def _refused(page: Page, server: LiveServer, measure: str) -> None:
    _form(page, server, measure)
    _send(page)
    expect(page.locator("#error-summary")).to_be_visible()


def _progress(page: Page, server: LiveServer) -> None:
    page.goto(_link(server, ["phq9", "gad7", "core10"]))
    _answer(page, load_instrument("phq9"))
    _send(page)
    expect(page.locator("h1")).to_have_text(load_instrument("gad7").name)
    expect(page.locator("#checkin-progress")).to_contain_text("Questionnaire 2 of 3")


def _crisis_before_next(page: Page, server: LiveServer) -> None:
    page.goto(_link(server, ["phq9", "gad7"]))
    _answer(page, load_instrument("phq9"), risk=True)
    _send(page)
    expect(page.locator("#crisis")).to_be_visible()
    expect(page.locator("#checkin-progress")).to_contain_text("Questionnaire 2 of 2")


def _thanks(page: Page, server: LiveServer) -> str:
    link = _link(server, ["gad7"])
    page.goto(link)
    _answer(page, load_instrument("gad7"))
    _send(page)
    expect(page.locator("h1")).to_have_text("Thank you")
    expect(page.locator("#crisis")).to_have_count(0)
    return link


def _crisis_thanks(page: Page, server: LiveServer) -> None:
    page.goto(_link(server, ["phq9"]))
    _answer(page, load_instrument("phq9"), risk=True)
    _send(page)
    expect(page.locator("h1")).to_have_text("Thank you")
    expect(page.locator("#crisis")).to_be_visible()


def _used(page: Page, server: LiveServer) -> None:
    page.goto(_thanks(page, server))
    expect(page.locator(".flash.error")).to_contain_text("already used")


def _expired(page: Page, server: LiveServer) -> None:
    page.goto(_link(server, ["phq9"], minutes=30, ago=60))
    expect(page.locator(".flash.error")).to_contain_text("has expired")


def _unknown(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.url}/f/no-such-link")
    expect(page.locator(".flash.error")).to_contain_text("not known")


def _tablet(page: Page, server: LiveServer) -> None:
    """The therapist hands this browser over for a GAD-7; the client answers it."""
    episode, therapist = _episode(server)
    with server.engine.begin() as conn:
        username = conn.execute(
            select(t.users.c.username).where(t.users.c.id == therapist)
        ).scalar_one()
        conn.execute(
            update(t.users)
            .where(t.users.c.id == therapist)
            .values(password_hash=hash_password(PASSWORD), must_change_password=False)
        )
        session = conn.execute(
            select(t.sessions.c.id).where(t.sessions.c.episode_id == episode).limit(1)
        ).scalar_one()
    page.goto(f"{server.url}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"{server.url}/episodes/{episode}/sessions/{session}")
    handover = page.locator(f"form[action='/episodes/{episode}/sessions/{session}/tablet']")
    handover.get_by_label("Measure").select_option("gad7")
    handover.get_by_role("button").click()
    expect(page.locator("h1")).to_have_text(load_instrument("gad7").name)
    _answer(page, load_instrument("gad7"))
    _send(page)
    expect(page.locator("h1")).to_have_text("Thank you")


def _tablet_thanks(page: Page, server: LiveServer) -> None:
    _tablet(page, server)
    expect(page.get_by_role("link", name="Therapist: unlock")).to_be_visible()


def _tablet_unlock(page: Page, server: LiveServer) -> None:
    _tablet(page, server)
    page.get_by_role("link", name="Therapist: unlock").click()
    expect(page.locator("h1")).to_have_text("Therapist: unlock")


Opens = Callable[[Page, LiveServer], Any]
FORMS: dict[str, Opens] = {m: partial(_form, measure=m) for m in MEASURES}
REFUSED: dict[str, Opens] = {f"{m}-refused": partial(_refused, measure=m) for m in MEASURES}
OTHERS: dict[str, Opens] = {
    "checkin-2-of-3": _progress,
    "crisis-before-next": _crisis_before_next,
    "thanks": _thanks,
    "crisis-thanks": _crisis_thanks,
    "link-used": _used,
    "link-expired": _expired,
    "link-unknown": _unknown,
    "tablet-thanks": _tablet_thanks,
    "tablet-unlock": _tablet_unlock,
}
PAGES = FORMS | REFUSED | OTHERS


def _phone(browser: Browser) -> Page:
    # The app's Content-Security-Policy allows no inline script, which is how Playwright adds
    # axe.min.js from its file: bypass it in these test pages only (the app's own scripts are
    # served from 'self' either way).
    return browser.new_context(viewport=PHONE, bypass_csp=True).new_page()


def _shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _report(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["targets"])
        for v in violations
    )


@pytest.mark.parametrize("name", sorted(PAGES))
def test_it_passes_axe_wcag_21_aa_on_every_client_page(
    server: LiveServer, browser: Browser, name: str
) -> None:
    page = _phone(browser)
    PAGES[name](page, server)
    _shot(page, name)
    page.add_script_tag(path=str(AXE_JS))
    result = page.evaluate(AXE_RUN, WCAG_TAGS)
    assert re.fullmatch(r"4\.\d+\.\d+", result["version"])
    violations = result["violations"]
    assert violations == [], f"axe {result['version']} on {name}:\n{_report(violations)}"
    page.context.close()


@pytest.mark.parametrize("measure", MEASURES)
def test_it_focuses_an_error_summary_whose_links_lead_to_each_missing_question(
    server: LiveServer, browser: Browser, measure: str
) -> None:
    page = _phone(browser)
    _refused(page, server, measure)
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.locator("h2")).to_have_text(re.compile(r"^Error: "))
    assert page.title().startswith("Error: ")
    # Nothing was answered: every question asked is missing and has its link. An unrated goal
    # is an unused one, not a missing answer: the GBO asks for one rating, linking each goal.
    shown = _shown(server, measure)
    asked = [f"q{item.id}" for item in shown.form_items]
    missing = page.locator("fieldset.question.has-error").evaluate_all(
        "(sets) => sets.map((f) => f.id)"
    )
    assert missing == ([] if shown.kind == "goals" else asked)
    hrefs = summary.locator("a").evaluate_all("(a) => a.map((l) => l.getAttribute('href'))")
    questions = [page.locator(h).evaluate("(el) => el.closest('fieldset').id") for h in hrefs]
    assert questions == asked
    for href in hrefs:
        target = page.locator(href)
        # The link leads to a control of its own question that the keyboard can reach.
        assert target.evaluate("(el) => el.tabIndex >= 0 && el.offsetParent !== null")
        summary.locator(f"a[href='{href}']").click()
        expect(target).to_be_focused()
    page.context.close()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_it_draws_every_focus_ring_at_3_to_1_against_white(
    server: LiveServer, browser: Browser, name: str
) -> None:
    page = _phone(browser)
    PAGES[name](page, server)
    rings: list[dict[str, Any]] = []
    first = page.evaluate(FOCUSED)  # the error summary, focused by the page's script
    if first is not None:
        rings.append(first)
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if focused is None or any(r["name"] == focused["name"] for r in rings):
            break
        rings.append(focused)
    assert rings, f"the keyboard reached nothing on {name}"
    # Against white, where the page is white; the header's ring against the header it is on.
    weak = [
        f"{r['name']}: {r['style']} {r['width']}px {r['colour']} on {r['on']}"
        for r in rings
        if r["style"] in ("none", "auto")
        or r["width"] < 2
        or page.evaluate(CONTRAST, [r["colour"], r["on"]]) < 3
    ]
    assert weak == [], f"focus rings under 3:1 (or none) on {name}"
    assert any(r["on"] == WHITE for r in rings), f"no ring on white on {name}: {rings}"
    page.context.close()


@pytest.mark.parametrize("name", sorted(PAGES))
def test_it_does_not_scroll_sideways_with_text_at_200_percent(
    server: LiveServer, browser: Browser, name: str
) -> None:
    page = _phone(browser)
    PAGES[name](page, server)
    before = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    # Text only, as a phone's or browser's text-size setting does: the style sheet is in rem,
    # so a 200% root font size doubles every text size and leaves the 390 px viewport alone
    # (CSS zoom would scale the boxes as well: that is page zoom, a different check).
    page.evaluate("() => { document.documentElement.style.fontSize = '200%'; }")
    after = page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert after == 2 * before
    wide = page.evaluate(
        """() => [document.documentElement.scrollWidth, window.innerWidth,
          [...document.querySelectorAll("body *")].filter((el) =>
            el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0
              && getComputedStyle(el).overflowX === "visible"
            || el.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")).slice(0, 8)]"""
    )
    _shot(page, f"{name}-text-200")
    assert wide[1] == PHONE["width"]
    assert wide[0] <= wide[1], f"{name} is {wide[0]} px wide in {wide[1]}: {wide[2]}"
    page.context.close()


# Accessible values, by role, of the form's controls in Chromium's own accessibility tree.
def _values(page: Page) -> list[tuple[str, str, str]]:
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    cdp.detach()
    found = []
    for node in nodes:
        role = node.get("role", {}).get("value")
        if node.get("ignored") or role not in ("slider", "spinbutton", "textbox"):
            continue
        value = node.get("value", {}).get("value", "")
        found.append((str(role), str(node.get("name", {}).get("value", "")), str(value)))
    return found


@pytest.mark.parametrize("measure", LINES)
def test_it_gives_an_untouched_line_no_value_and_shows_both_ends(
    server: LiveServer, browser: Browser, measure: str
) -> None:
    instrument = _shown(server, measure)
    page = _phone(browser)
    _form(page, server, measure)
    items = instrument.form_items
    assert page.locator("[aria-valuenow]").count() == 0
    controls = _values(page)
    # One control per line reaches assistive tech, and none has a value yet.
    assert len(controls) == len(items), controls
    assert [value for _, _, value in controls] == [""] * len(items), controls
    for text in (100, 200):
        page.evaluate(f"() => {{ document.documentElement.style.fontSize = '{text}%'; }}")
        for item in items:
            scale = instrument.scale_of(item)
            for end, number, words in (
                ("low", scale.low, item.local_low_anchor or scale.low_anchor),
                ("high", scale.high, item.local_high_anchor or scale.high_anchor),
            ):
                shown = page.locator(f"#ends{item.id} .{end}")
                expect(shown).to_be_visible()
                expect(shown).to_contain_text(f"{number:g}")
                if words:
                    expect(shown).to_contain_text(words)
                box = shown.bounding_box()
                assert box is not None
                assert box["x"] >= 0
                assert box["x"] + box["width"] <= PHONE["width"]
    _shot(page, f"{measure}-line-ends-text-200")
    page.context.close()
    # Tapping the line answers it; that value, and only it, reaches assistive tech. Chromium's
    # accessibility tree sometimes stops following a loaded page after a tap (seen only with
    # the whole suite running on two cores), so the tap is tried on up to three fresh pages;
    # a slider that really stayed exposed would fail every time.
    for _ in range(3):
        answered, controls = _tap_first_line(browser, server, measure)
        if [role for role, _, _ in controls] == ["spinbutton"] * len(items):
            break
    assert [role for role, _, _ in controls] == ["spinbutton"] * len(items), controls
    assert float(controls[0][2]) == pytest.approx(float(answered)), controls
    assert [value for _, _, value in controls[1:]] == [""] * (len(items) - 1), controls


def _tap_first_line(
    browser: Browser, server: LiveServer, measure: str
) -> tuple[str, list[tuple[str, str, str]]]:
    """Tap the first line at 80% on a fresh form: the answer and what reaches assistive tech."""
    instrument = _shown(server, measure)
    items = instrument.form_items
    page = _phone(browser)
    _form(page, server, measure)
    first = items[0].id
    slider = page.locator(f"#slide{first}")
    box = slider.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] / 2)
    answered = page.locator(f"#item{first}").input_value()
    assert answered != ""
    assert 0.7 <= float(answered) / instrument.scale_of(items[0]).high <= 0.9
    expect(page.locator(f"#state{first}")).to_contain_text("Your answer")
    # The tap's focus is let go: the slider is neither focused nor exposed in the DOM.
    page.wait_for_function(
        "() => !document.activeElement || document.activeElement.type !== 'range'",
        timeout=20_000,
    )
    assert slider.get_attribute("aria-hidden") == "true"
    # Chromium updates its accessibility tree after the DOM, lazily and later still on a loaded
    # machine: let frames render between reads, for up to 20 s, until the answer reaches it.
    for _ in range(200):
        page.evaluate(
            "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
        )
        controls = _values(page)
        if controls and controls[0][2] != "" and len(controls) == len(items):
            break
        page.wait_for_timeout(100)
    page.context.close()
    return answered, controls
