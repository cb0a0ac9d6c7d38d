"""Licensed wording through the admin's upload, the GBO's agreed goals, and a risk answer."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from alliance.store import goals
from alliance.store import tables as t
from alliance.store.base import Actor
from tests.web.clinic import WORDING_DIR, Clinic
from tests.web.conftest import sign_in


def _wordings(engine: Engine, instrument_id: str) -> list[tuple[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.instrument_wordings.c.licence_holder, t.instrument_wordings.c.licence_date
            ).where(t.instrument_wordings.c.instrument_id == instrument_id)
        ).all()
    return [(r.licence_holder, r.licence_date) for r in rows]


def _drop_wording(engine: Engine, instrument_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(t.instrument_wordings).where(
                t.instrument_wordings.c.instrument_id == instrument_id
            )
        )


def _upload(client: TestClient, body: bytes, name: str = "srs.json", date: str = "2026-01-05"):  # type: ignore[no-untyped-def]
    return client.post(
        "/admin/wording",
        data={"instrument": "srs", "licence_holder": "Dr Tess Example", "licence_date": date},
        files={"file": (name, body, "application/json")},
        follow_redirects=False,
    )


def test_it_refuses_a_wording_file_with_a_missing_item_and_stores_nothing(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    _drop_wording(engine, "srs")
    sign_in(app_client, "admin")
    good = (WORDING_DIR / "srs.json").read_text(encoding="utf-8")
    short = good.replace('"item": "4"', '"item": "5"')
    refused = _upload(app_client, short.encode())
    assert refused.status_code == 400
    assert "item &#39;5&#39; is one too many: the SRS has items 1 to 4" in refused.text
    assert _wordings(engine, "srs") == []
    late = _upload(app_client, good.encode(), date="2999-01-01")
    assert late.status_code == 400
    assert "is in the future" in late.text
    assert _wordings(engine, "srs") == []
    done = _upload(app_client, good.encode())
    assert done.status_code == 303
    holder, since = _wordings(engine, "srs")[0]
    assert holder == "Dr Tess Example"
    assert str(since) == "2026-01-05"
    with engine.connect() as conn:
        audited = conn.execute(
            select(func.count())
            .select_from(t.audit_events)
            .where(t.audit_events.c.object_type == "instrument_wording")
        ).scalar_one()
    assert audited == 4  # three from the test clinic's set-up, this one
    page = app_client.get("/admin/wording").text
    assert "Held by Dr Tess Example since 05 Jan 2026" in page


def test_it_does_not_offer_a_measure_until_its_wording_is_added(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    _drop_wording(engine, "srs")
    session = clinic.rupture_sessions[-1]
    path = f"/episodes/{clinic.rupture_episode}/sessions/{session}"
    refused = therapist.post(f"{path}/link", data={"instrument": "srs"})
    assert refused.status_code == 400
    assert "Not offered to clients" in refused.text
    with engine.connect() as conn:
        links = conn.execute(
            select(func.count())
            .select_from(t.client_links)
            .where(t.client_links.c.instrument_id == "srs")
        ).scalar_one()
    assert links == 0
    page = therapist.get(path).text
    section = page.split('id="not-offered"', 1)[1].split("</section>", 1)[0]
    assert "Session Rating Scale" in section
    assert "free for individual practitioners" in section
    assert "Outcome Rating Scale" not in section  # its wording was added


def test_it_asks_the_gbo_about_the_agreed_goals_in_the_clients_words(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    session = clinic.rupture_sessions[-1]
    made = therapist.post(
        f"/api/episodes/{clinic.rupture_episode}/links",
        json={"instrument": "gbo", "session_id": session},
    )
    assert made.status_code == 201, made.text
    form = therapist.get(str(made.json()["url"]).removeprefix("http://testserver")).text
    assert "1. Sleep through most nights" in form
    assert "Goal 1" not in form
    assert "Goal 2" not in form
    assert form.count('type="range"') == 1
    assert "Not at all close" in form
    assert "Goal reached" in form
    with engine.begin() as conn:
        goals.add_goal(
            conn, Actor.system(), clinic.risk_episode, "Feel safe at home", status="proposed"
        )
    refused = therapist.post(
        f"/api/episodes/{clinic.risk_episode}/links", json={"instrument": "gbo"}
    )
    assert refused.status_code in (400, 422)
    assert "no agreed goal yet" in refused.text


def test_it_checks_the_crisis_numbers_and_shows_them_after_a_risk_answer(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "admin")
    bad = app_client.post("/admin/crisis", data={"text": "Call us.", "numbers": "Duty line 0800"})
    assert bad.status_code == 400
    assert "Line 1 &#39;Duty line 0800&#39; is not" in bad.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.crisis_info)).scalar_one() == 0
    saved = app_client.post(
        "/admin/crisis",
        data={"text": "Call the duty line now.", "numbers": "Clinic duty line: +44 20 7946 0000"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    sign_in(app_client, "tess")
    made = app_client.post(
        f"/api/episodes/{clinic.risk_episode}/links", json={"instrument": "phq9"}
    )
    path = str(made.json()["url"]).removeprefix("http://testserver")
    answers = {f"item_{i}": "0" for i in range(1, 9)} | {"item_9": "2"}
    done = app_client.post(path, data=answers)
    assert done.status_code == 200
    assert "Call the duty line now." in done.text
    assert 'href="tel:+442079460000"' in done.text
    caseload = app_client.get("/caseload").text
    assert "A risk item was endorsed" in caseload
    assert "Thoughts that you would be better off dead" not in caseload


def test_a_risk_answer_the_therapist_types_in_raises_the_card_but_no_banner_or_email(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    """The one who typed the paper form has seen the answer; a client's own answer tells them."""
    sign_in(app_client, "tess")
    session = clinic.rupture_sessions[0]
    answers = {f"item_{i}": "0" for i in range(1, 9)} | {"item_9": "2", "instrument": "phq9"}
    url = f"/episodes/{clinic.rupture_episode}/sessions/{session}/paper"
    assert app_client.post(url, data=answers).status_code == 200

    def counts() -> tuple[int, int]:
        with engine.connect() as conn:
            notices = conn.execute(select(func.count()).select_from(t.risk_notices)).scalar_one()
            mails = conn.execute(
                select(func.count())
                .select_from(t.outbox_messages)
                .where(t.outbox_messages.c.kind == "risk")
            ).scalar_one()
        return int(notices), int(mails)

    assert counts() == (0, 0)
    assert "A risk item was endorsed" not in app_client.get("/caseload").text
    chart = app_client.get(f"/episodes/{clinic.rupture_episode}").text
    assert "PHQ-9 item 9" in chart
    # The same answer from the client through a link: one notice, a message to the therapist
    # and one to the duty contact, and the banner.
    made = app_client.post(
        f"/api/episodes/{clinic.rupture_episode}/links", json={"instrument": "phq9"}
    )
    path = str(made.json()["url"]).removeprefix("http://testserver")
    del answers["instrument"]
    assert app_client.post(path, data=answers).status_code == 200
    assert counts() == (1, 2)
    assert "A risk item was endorsed" in app_client.get("/caseload").text
