"""Accessibility basics: a label for every input on every form page; chart colours with contrast."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient

from alliance.instruments import INSTRUMENT_IDS
from alliance.web.palette import BACKGROUND, PALETTE, contrast_ratio
from tests.web.clinic import Clinic
from tests.web.conftest import sign_in


class _Form(HTMLParser):
    """Collects the ids of labelled controls and every control needing a label."""

    def __init__(self) -> None:
        super().__init__()
        self.label_for: set[str] = set()
        self.controls: list[tuple[str, str | None]] = []
        self.wrapped: list[str | None] = []
        self.depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.depth += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        if tag in ("input", "select", "textarea"):
            if a.get("type") in ("hidden", "submit", "button"):
                return
            # Kept from assistive tech and the keyboard (a line's slider, for touch and mouse,
            # beside its labelled number field): a label would name it to no one.
            if a.get("aria-hidden") == "true" and a.get("tabindex") == "-1" and not a.get("name"):
                return
            self.controls.append((f"{tag} name={a.get('name')}", a.get("id")))
            if self.depth:
                self.wrapped.append(a.get("id"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.depth -= 1


def unlabelled(html: str) -> list[str]:
    parser = _Form()
    parser.feed(html)
    return [
        name
        for name, control_id in parser.controls
        if control_id not in parser.label_for and control_id not in parser.wrapped
    ]


def test_it_labels_every_input_on_every_form_page(app_client: TestClient, clinic: Clinic) -> None:
    pages: list[str] = [app_client.get("/login").text]
    sign_in(app_client, "tess")
    episode = clinic.rupture_episode
    session = clinic.rupture_sessions[0]
    pages += [
        app_client.get(f"/episodes/{episode}").text,
        app_client.get(f"/episodes/{episode}/details").text,
        app_client.get("/account/password").text,
    ]
    for instrument in INSTRUMENT_IDS:
        pages.append(
            app_client.get(f"/episodes/{episode}/sessions/{session}?paper={instrument}").text
        )
        link = app_client.post(
            f"/episodes/{episode}/sessions/{session}/link", data={"instrument": instrument}
        ).text
        url = link.split('id="link-url" href="http://testserver', 1)[1].split('"', 1)[0]
        pages.append(app_client.get(url).text)
    app_client.post("/logout")
    sign_in(app_client, "admin")
    pages += [app_client.get("/admin/users").text, app_client.get("/admin/schedules").text]
    forms = 0
    for html in pages:
        forms += html.count("<form")
        assert unlabelled(html) == []
    assert forms >= 20


@pytest.mark.parametrize("name", sorted(PALETTE))
def test_it_draws_chart_colours_with_enough_contrast(name: str) -> None:
    # WCAG 2.1 SC 1.4.11: graphical objects need 3:1 against adjacent colours.
    assert contrast_ratio(PALETTE[name], BACKGROUND) >= 3.0


def test_it_computes_contrast_as_wcag_defines_it() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
