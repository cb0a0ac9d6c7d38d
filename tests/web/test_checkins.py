"""Check-ins from the schedule: what recording a session makes due, and one link that runs them.

On a real database (SQLite, and PostgreSQL when set) through the real app.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from alliance.config import SettingsError, link_address_warning, load_settings
from alliance.services import checkins, links
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import utc_now
from tests.web.clinic import Clinic, phq9_answers
from tests.web.conftest import send_csrf_token, sign_in
from tests.web.test_accessibility import unlabelled

GAD7 = {f"item_{i}": "1" for i in range(1, 8)}  # total 7
PHQ9 = {f"item_{k}": str(v) for k, v in phq9_answers(10).items()}  # total 10


def _schedule(admin: TestClient, rules: dict[str, str]) -> None:
    for instrument, rule in rules.items():
        saved = admin.post(
            "/admin/schedules", data={"instrument": instrument, "session_rule": rule}
        )
        assert saved.status_code == 200, saved.text


def _record(client: TestClient, episode_id: int, day: str, attendance: str = "attended") -> str:
    made = client.post(
        f"/episodes/{episode_id}/sessions", data={"held_on": day, "attendance": attendance}
    )
    assert made.status_code == 200, re.findall(r'class="field-error"[^>]*>([^<]*)', made.text)
    return str(made.url.path)


def _viewer(clinic: Clinic) -> Viewer:
    return Viewer(clinic.therapist_id, "tess", "Tess", "therapist", clinic.organisation_id, None)


def _checkins(engine: Engine, clinic: Clinic, session_path: str) -> list[checkins.Checkin]:
    session_id = int(session_path.rsplit("/", 1)[1])
    with engine.begin() as conn:
        return checkins.session_checkins(
            conn, _viewer(clinic), clinic.risk_episode, session_id, key="k" * 32
        )


@pytest.fixture
def scheduled(app_client: TestClient, clinic: Clinic) -> TestClient:
    """The clinic's schedule as the admin sets it; then the therapist is signed in."""
    sign_in(app_client, "admin")
    _schedule(
        app_client,
        {"srs": "every", "ors": "every", "phq9": "every:4", "gad7": "1, 4, 8, 12 before"},
    )
    app_client.post("/logout")
    sign_in(app_client, "tess")
    return app_client


def _sessions_up_to(client: TestClient, clinic: Clinic, number: int) -> list[str]:
    """The risk episode has session 1 (yesterday) already; record 2..number today."""
    day = clinic.today.isoformat()
    return [_record(client, clinic.risk_episode, day) for _ in range(2, number + 1)]


def test_it_makes_the_scheduled_measures_due_before_and_after_session_4(
    scheduled: TestClient, clinic: Clinic
) -> None:
    paths = _sessions_up_to(scheduled, clinic, 4)
    page = scheduled.get(paths[-1]).text
    due = re.findall(
        r'<li id="checkin-\d+" data-state="(\w+)">\s*<p><strong>([^<]*)</strong>\s*([^·]*)', page
    )
    assert [(state, when, " ".join(what.split())) for state, when, what in due] == [
        ("due", "Before the session:", "ORS, PHQ-9, GAD-7"),
        ("due", "After the session:", "SRS"),
    ]
    # Session 3: no PHQ-9 (every 4th) and no GAD-7 (1, 4, 8, 12).
    page3 = scheduled.get(paths[-2]).text
    assert "ORS, PHQ-9" not in page3
    assert re.search(r"Before the session:</strong>\s*ORS\s*·", page3)


def test_it_follows_the_episode_rule_over_the_clinic_rule(
    scheduled: TestClient, clinic: Clinic, engine: Engine
) -> None:
    base = f"/episodes/{clinic.risk_episode}/schedule"
    refused = scheduled.post(base, data={"instrument": "phq9", "session_rule": "weekly"})
    assert refused.status_code == 400
    assert "is not a rule" in refused.text
    assert "every:N" in refused.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.episode_schedules)).scalar() == 0
    for instrument, rule in (("phq9", "never"), ("gad7", "every:2 after"), ("ors", "last")):
        saved = scheduled.post(base, data={"instrument": instrument, "session_rule": rule})
        assert saved.status_code == 200
    episode_page = scheduled.get(f"/episodes/{clinic.risk_episode}/details").text
    gad7 = r"GAD-7</td><td[^>]*>1,4,8,12 before</td><td[^>]*>every:2 after</td><td[^>]*>after the"
    assert re.search(gad7, episode_page)
    # SRS: the clinic's "every", an alliance measure, so after the session; PHQ-9 never here.
    assert re.search(
        r"SRS</td><td[^>]*>every</td><td[^>]*>as the clinic</td><td[^>]*>after", episode_page
    )
    assert re.search(
        r"PHQ-9</td><td[^>]*>every:4</td><td[^>]*>never</td><td[^>]*>not given", episode_page
    )
    path = _sessions_up_to(scheduled, clinic, 4)[-1]
    found = _checkins(engine, clinic, path)
    assert [(c.timing, [m.instrument_id for m in c.measures]) for c in found] == [
        ("after", ["srs", "gad7"])
    ]
    # A blank rule goes back to the clinic's.
    scheduled.post(base, data={"instrument": "phq9", "session_rule": ""})
    with engine.connect() as conn:
        left = conn.execute(select(t.episode_schedules.c.instrument_id)).scalars().all()
    assert sorted(left) == ["gad7", "ors"]


def test_it_makes_nothing_due_at_a_session_the_client_missed(
    scheduled: TestClient, clinic: Clinic, engine: Engine
) -> None:
    path = _record(scheduled, clinic.risk_episode, clinic.today.isoformat(), "no_show")
    assert _checkins(engine, clinic, path) == []
    assert "Nothing is due at this session" in scheduled.get(path).text


def _link_path(page: str) -> str:
    url = re.search(r'class="checkin-url" type="text" readonly value="([^"]+)"', page)
    assert url is not None
    return url.group(1).removeprefix("http://testserver")


def _episode_rules(client: TestClient, clinic: Clinic, rules: dict[str, str]) -> None:
    for instrument, rule in rules.items():
        saved = client.post(
            f"/episodes/{clinic.risk_episode}/schedule",
            data={"instrument": instrument, "session_rule": rule},
        )
        assert saved.status_code == 200, saved.text


# This episode gives only measures whose wording Alliance ships: PHQ-9 and GAD-7 before.
SHIPPED_ONLY = {"ors": "never", "srs": "never", "phq9": "every", "gad7": "every"}


def _anonymous(client: TestClient) -> TestClient:
    other = TestClient(client.app)
    send_csrf_token(other)
    return other


def test_one_link_runs_every_measure_in_order_and_keeps_a_partial_check_in(
    scheduled: TestClient, clinic: Clinic, engine: Engine
) -> None:
    _episode_rules(scheduled, clinic, SHIPPED_ONLY)
    session = _record(scheduled, clinic.risk_episode, clinic.today.isoformat())
    session_page = scheduled.get(session).text
    assert unlabelled(session_page) == []
    assert unlabelled(scheduled.get(f"/episodes/{clinic.risk_episode}/details").text) == []
    link = _link_path(session_page)
    client = _anonymous(scheduled)

    [open_api] = scheduled.get(f"/api{session}/checkins").json()
    assert open_api["url"] == f"http://testserver{link}"
    assert (open_api["state"], open_api["answered"]) == ("due", [])
    first = client.get(link)
    assert unlabelled(first.text) == []
    assert "Questionnaire 1 of 2" in first.text
    assert "<h1>Patient Health Questionnaire-9</h1>" in first.text
    # A refused answer stores nothing and stays on the same measure.
    refused = client.post(link, data={"measure": "0"} | PHQ9 | {"item_9": ""})
    assert refused.status_code == 400
    assert "Questionnaire 1 of 2" in refused.text
    answered = client.post(link, data={"measure": "0"} | PHQ9)
    assert answered.url.path == link
    assert "Questionnaire 2 of 2" in answered.text
    assert "<h1>Generalized Anxiety Disorder-7</h1>" in answered.text

    # Half-way: the PHQ-9 is kept, the link is still open, the page says 1 of 2.
    [before] = _checkins(engine, clinic, session)
    assert before.state == "opened"
    assert before.answered == 1
    assert before.used_at is None
    assert [m.answered for m in before.measures] == [True, False]
    # The PHQ-9 form sent again is not stored as the GAD-7.
    again = client.post(link, data={"measure": "0"} | PHQ9)
    assert "<h1>Generalized Anxiety Disorder-7</h1>" in again.text
    done = client.post(link, data={"measure": "1"} | GAD7)
    assert done.url.path == f"{link}/done"
    assert "Thank you" in done.text
    assert client.get(link).status_code == 410

    [before] = _checkins(engine, clinic, session)
    assert before.state == "done"
    api = scheduled.get(f"/api{session}/checkins").json()
    assert [(c["state"], c["measures"], c["answered"], c["url"]) for c in api] == [
        ("done", ["phq9", "gad7"], ["phq9", "gad7"], None)
    ]
    assert before.used_at is not None
    with engine.connect() as conn:
        totals = conn.execute(
            select(t.administrations.c.instrument_id, t.administrations.c.total)
            .join(
                t.checkin_measures, t.checkin_measures.c.administration_id == t.administrations.c.id
            )
            .where(t.checkin_measures.c.checkin_id == before.id)
            .order_by(t.checkin_measures.c.position)
        ).all()
    assert [tuple(r) for r in totals] == [("phq9", 10.0), ("gad7", 7.0)]
    page = scheduled.get(session).text
    assert re.search(r'data-state="done">.*?PHQ-9 \(answered\), GAD-7 \(answered\)', page, re.S)


def test_it_stores_only_a_hash_and_derives_the_same_link_again(
    scheduled: TestClient, clinic: Clinic, engine: Engine
) -> None:
    session = _record(scheduled, clinic.risk_episode, clinic.today.isoformat())
    link = _link_path(scheduled.get(session).text)
    token = link.removeprefix("/f/")
    assert _link_path(scheduled.get(session).text) == link  # shown again, the same
    with engine.connect() as conn:
        rows = conn.execute(select(t.client_links)).mappings().all()
    assert all(token not in str(value) for row in rows for value in row.values())
    assert links.token_hash(token) in {r["token_hash"] for r in rows}
    # A wrong key derives a different token: the database alone opens nothing.
    nonce = next(r["nonce"] for r in rows if r["token_hash"] == links.token_hash(token))
    assert links.link_token("k" * 32, nonce) == token  # the app_client's secret key
    assert links.link_token("another key of 32 characters!!", nonce) != token


def test_it_shows_an_expired_check_in_as_expired_and_opens_nothing(
    scheduled: TestClient, clinic: Clinic, engine: Engine
) -> None:
    session = _record(scheduled, clinic.risk_episode, clinic.today.isoformat())
    link = _link_path(scheduled.get(session).text)
    with engine.begin() as conn:
        conn.execute(update(t.client_links).values(expires_at=utc_now() - timedelta(minutes=1)))
    assert _anonymous(scheduled).get(link).status_code == 410
    page = scheduled.get(session).text
    assert page.count('data-state="expired"') == 2
    assert 'class="checkin-url"' not in page


def test_a_tablet_hand_over_runs_the_whole_check_in(
    scheduled: TestClient, clinic: Clinic, engine: Engine
) -> None:
    _episode_rules(scheduled, clinic, SHIPPED_ONLY)
    session = _record(scheduled, clinic.risk_episode, clinic.today.isoformat())
    [checkin] = _checkins(engine, clinic, session)
    assert [m.instrument_id for m in checkin.measures] == ["phq9", "gad7"]
    handed = scheduled.post(f"{session}/checkins/{checkin.id}/tablet")
    assert "Questionnaire 1 of 2" in handed.text
    tablet = str(handed.url.path)
    second = scheduled.post(tablet, data={"measure": "0"} | PHQ9)
    assert "Questionnaire 2 of 2" in second.text
    thanks = scheduled.post(tablet, data={"measure": "1"} | GAD7)
    assert "hand the tablet back" in thanks.text
    [checkin] = _checkins(engine, clinic, session)
    assert checkin.state == "done"
    # The session page stays locked until the therapist unlocks the device.
    locked = scheduled.get(session, follow_redirects=False)
    assert locked.status_code == 303
    assert locked.headers["location"] == tablet


def test_it_starts_every_link_with_the_public_url(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    from alliance.web import create_app

    settings = load_settings(
        database_url=database_url,
        public_url="https://alliance.clinic.example/",
        secret_key="k" * 32,
    )
    with TestClient(create_app(settings, engine=engine)) as client:
        send_csrf_token(client)
        sign_in(client, "tess")
        session = _record(client, clinic.risk_episode, clinic.today.isoformat())
        made = client.post(f"{session}/link", data={"instrument": "phq9"})
        assert 'value="https://alliance.clinic.example/f/' in made.text
        assert "opens only on this computer" not in made.text
        api = client.post(f"/api/episodes/{clinic.risk_episode}/links", json={"instrument": "gad7"})
        assert api.json()["url"].startswith("https://alliance.clinic.example/f/")


@pytest.mark.parametrize(
    "bad", ["alliance.clinic.example", "ftp://clinic.example", "https://x.example/?a=1"]
)
def test_it_refuses_a_public_url_that_is_not_an_address(bad: str) -> None:
    with pytest.raises(SettingsError, match="public_url"):
        load_settings(public_url=bad)


@pytest.mark.parametrize(
    ("public_url", "host", "warns"),
    [
        (None, "127.0.0.1", False),
        (None, "0.0.0.0", True),
        ("http://127.0.0.1:8000", "0.0.0.0", True),
        ("http://localhost:8000", "192.168.1.20", True),
        ("http://192.168.1.20:8000", "0.0.0.0", False),
        ("https://alliance.clinic.example", "::", False),
        ("http://[::1]:8000", "::", True),
    ],
)
def test_it_warns_when_links_would_point_at_this_machine_only(
    public_url: str | None, host: str, warns: bool
) -> None:
    warning = link_address_warning(public_url, host)
    assert (warning is not None) == warns
    if warning:
        assert "ALLIANCE_PUBLIC_URL" in warning


def test_a_link_made_before_check_ins_still_opens_its_one_measure(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    token = "a-link-from-before-check-ins"
    with engine.begin() as conn:
        conn.execute(
            t.client_links.insert().values(
                token_hash=links.token_hash(token),
                episode_id=clinic.risk_episode,
                instrument_id="gad7",
                expires_at=utc_now() + timedelta(hours=1),
                created_at=utc_now(),
            )
        )
    client = _anonymous(therapist)
    form = client.get(f"/f/{token}")
    assert "<h1>Generalized Anxiety Disorder-7</h1>" in form.text
    assert "Questionnaire" not in form.text
    assert "Thank you" in client.post(f"/f/{token}", data=GAD7).text
    with engine.connect() as conn:
        row = conn.execute(select(t.client_links)).one()
        stored = conn.execute(
            select(t.administrations.c.total).where(t.administrations.c.id == row.administration_id)
        ).scalar_one()
    assert row.used_at is not None
    assert stored == 7.0
    assert client.get(f"/f/{token}").status_code == 410


def test_a_risk_answer_brings_the_crisis_information_before_the_next_measure(
    scheduled: TestClient, clinic: Clinic
) -> None:
    # PHQ-9 then GAD-7 in one check-in: item 9 answered 2 ("more than half the days") is a
    # risk item endorsed, so the GAD-7 page that follows leads with what to do now; a check-in
    # whose PHQ-9 endorses nothing shows no crisis section.
    _episode_rules(scheduled, clinic, SHIPPED_ONLY)
    session = _record(scheduled, clinic.risk_episode, clinic.today.isoformat())
    link = _link_path(scheduled.get(session).text)
    client = _anonymous(scheduled)
    assert 'id="crisis"' not in client.get(link).text
    answered = client.post(link, data={"measure": "0"} | PHQ9 | {"item_9": "2"})
    assert "Questionnaire 2 of 2" in answered.text
    assert 'id="crisis"' in answered.text
    assert "Support is available now" in answered.text
    done = client.post(link, data={"measure": "1"} | GAD7)
    assert 'id="crisis"' in done.text


def test_no_crisis_section_without_a_risk_answer(scheduled: TestClient, clinic: Clinic) -> None:
    _episode_rules(scheduled, clinic, SHIPPED_ONLY)
    session = _record(scheduled, clinic.risk_episode, clinic.today.isoformat())
    link = _link_path(scheduled.get(session).text)
    client = _anonymous(scheduled)
    answered = client.post(link, data={"measure": "0"} | PHQ9 | {"item_9": "0"})
    assert "Questionnaire 2 of 2" in answered.text
    assert 'id="crisis"' not in answered.text
