"""A practice's own work through the pages: clients, episodes, closing, reopening, incidents.

Every refusal is checked to name its field next to the form and to write nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, update

from alliance.store import tables as t
from tests.conftest import read_utc_clock
from tests.web.clinic import PASSWORD, Clinic
from tests.web.conftest import send_csrf_token, sign_in


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def error_next_to(html: str, form: str, field: str) -> str:
    found = re.search(rf'id="{form}-{field}-error" role="alert">([^<]*)<', html)
    assert found is not None, f"no error next to {form}.{field}"
    return found.group(1)


def today() -> str:
    """The server judges 'not in the future' in UTC."""
    return read_utc_clock().today.isoformat()


def test_it_adds_a_client_and_opens_their_episode_in_one_step(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    assert 'href="/clients/new"' in therapist.get("/caseload").text
    added = therapist.post(
        "/clients",
        data={
            "display_name": "Robin Example",
            "email": "Robin@Example.org",
            "phone": "+44 7700 900123",
            "consent_date": today(),
            "goals": "Sleep through most nights\n\nGo back to choir",
        },
    )
    assert added.status_code == 200
    assert re.search(r"Client C-[A-Z0-9]{8} added and their episode opened\.", added.text)
    with engine.connect() as conn:
        client = conn.execute(select(t.clients).order_by(t.clients.c.id.desc())).first()
        assert client is not None
        identity = conn.execute(
            select(t.client_identities).where(t.client_identities.c.client_id == client.id)
        ).one()
        episode = conn.execute(select(t.episodes).where(t.episodes.c.client_id == client.id)).one()
        goals = conn.execute(
            select(t.goals.c.text, t.goals.c.status).where(t.goals.c.episode_id == episode.id)
        ).all()
    assert (identity.name, identity.email, identity.phone) == (
        "Robin Example",
        "robin@example.org",
        "+447700900123",
    )
    assert (episode.therapist_id, str(episode.consent_on)) == (clinic.therapist_id, today())
    assert [tuple(g) for g in goals] == [
        ("Sleep through most nights", "agreed"),
        ("Go back to choir", "agreed"),
    ]
    assert client.created_by == clinic.therapist_id
    # The name lives in the identity table only; the caseload shows the code.
    caseload = therapist.get("/caseload").text
    assert client.code in caseload
    assert "Robin Example" not in caseload
    assert "Robin Example" in therapist.get(f"/clients/{client.id}").text


def test_it_refuses_bad_client_input_and_writes_nothing(
    therapist: TestClient, engine: Engine
) -> None:
    future = (read_utc_clock().today + timedelta(days=2)).isoformat()
    cases = [
        ({"consent_date": ""}, "consent_date", "A date is required"),
        ({"consent_date": future}, "consent_date", "must not be after today"),
        ({"consent_date": today(), "email": "not-an-address"}, "email", "Not an e-mail address"),
        ({"consent_date": today(), "phone": "12"}, "phone", "7 to 15 digits"),
    ]
    clients_before = count(engine, t.clients)
    for form, field, message in cases:
        response = therapist.post("/clients", data=form)
        assert response.status_code == 400, form
        assert message in error_next_to(response.text, "client", field), form
    assert count(engine, t.clients) == clients_before
    assert count(engine, t.client_identities) == 0


def test_it_refuses_a_second_client_with_the_same_email(
    therapist: TestClient, engine: Engine
) -> None:
    first = therapist.post("/clients", data={"consent_date": today(), "email": "a@example.org"})
    assert first.status_code == 200
    before = count(engine, t.clients)
    again = therapist.post("/clients", data={"consent_date": today(), "email": "A@example.org"})
    assert again.status_code == 400
    assert "Already in use" in error_next_to(again.text, "client", "email")
    assert "a@example.org" not in error_next_to(again.text, "client", "email")
    assert count(engine, t.clients) == before


def test_it_lists_closed_episodes_and_reopens_within_the_period(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    episode = clinic.risk_episode
    close = {"closed_on": today(), "closing_reason": "dropout", "summary": "Stopped coming"}
    therapist.post(f"/episodes/{episode}/close", data=close | {"confirm": "yes"})
    closed = therapist.get("/caseload/closed").text
    assert "RISK-002" in closed
    assert "RISK-002" in therapist.get("/caseload/closed?code=risk").text
    assert "RISK-002" not in therapist.get("/caseload/closed?code=RUPT").text
    assert "RISK-002" not in therapist.get("/caseload/closed?reason=planned").text
    assert "RISK-002" in therapist.get("/caseload/closed?reason=dropout").text
    refused = therapist.get("/caseload/closed?reason=bored")
    assert refused.status_code == 400
    assert "Stopped coming" in therapist.get(f"/episodes/{episode}/details").text

    short = therapist.post(f"/episodes/{episode}/reopen", data={"reason": "oops"})
    assert short.status_code == 400
    assert "at least 10 characters" in error_next_to(short.text, "reopen", "reason")
    reopened = therapist.post(
        f"/episodes/{episode}/reopen", data={"reason": "Client came back after two weeks"}
    )
    assert "Episode reopened." in reopened.text
    assert "Client came back after two weeks" in reopened.text  # the reopening is kept
    with engine.connect() as conn:
        row = conn.execute(select(t.episodes).where(t.episodes.c.id == episode)).one()
        kept = conn.execute(select(t.episode_reopenings)).one()
        actions = (
            conn.execute(
                select(t.audit_events.c.action).where(t.audit_events.c.object_id == str(episode))
            )
            .scalars()
            .all()
        )
    assert (row.closed_on, row.closing_reason, row.closing_summary) == (None, None, None)
    assert (kept.closing_reason, kept.closing_summary) == ("dropout", "Stopped coming")
    assert "reopen" in actions


def test_it_refuses_a_reopen_after_the_period(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    episode = clinic.risk_episode
    therapist.post(
        f"/episodes/{episode}/close",
        data={"closed_on": today(), "closing_reason": "planned", "confirm": "yes"},
    )
    long_ago = read_utc_clock().today - timedelta(days=91)
    with engine.begin() as conn:
        conn.execute(
            update(t.episodes)
            .where(t.episodes.c.id == episode)
            .values(closed_on=long_ago, opened_on=long_ago - timedelta(days=30))
        )
    response = therapist.post(
        f"/episodes/{episode}/reopen", data={"reason": "Client came back after the summer"}
    )
    assert response.status_code == 400
    error = error_next_to(response.text, "reopen", "reason")
    assert "up to 90 days after its closing" in error
    assert "open a new episode instead" in error
    assert count(engine, t.episode_reopenings) == 0


def test_a_returning_client_gets_a_new_episode_linked_to_the_last(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    episode = clinic.risk_episode
    therapist.post(
        f"/episodes/{episode}/close",
        data={"closed_on": today(), "closing_reason": "planned", "confirm": "yes"},
    )
    with engine.connect() as conn:
        client_id = conn.execute(
            select(t.episodes.c.client_id).where(t.episodes.c.id == episode)
        ).scalar_one()
    page = therapist.get(f"/clients/{client_id}").text
    assert 'id="episode-form"' in page
    opened = therapist.post(f"/clients/{client_id}/episodes", data={"consent_date": today()})
    assert "Episode opened." in opened.text
    with engine.connect() as conn:
        new = conn.execute(
            select(t.episodes).where(
                t.episodes.c.client_id == client_id, t.episodes.c.id != episode
            )
        ).one()
    assert new.previous_episode_id == episode
    assert f'href="/episodes/{episode}/details">read it</a>' in opened.text
    # The open episode blocks a second one.
    again = therapist.post(f"/clients/{client_id}/episodes", data={"consent_date": today()})
    assert again.status_code == 400


def test_another_therapist_cannot_see_the_client(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    with engine.connect() as conn:
        client_id = conn.execute(
            select(t.episodes.c.client_id).where(t.episodes.c.id == clinic.rupture_episode)
        ).scalar_one()
    sign_in(app_client, clinic.usernames["other"])
    assert app_client.get(f"/clients/{client_id}").status_code == 404
    refused = app_client.post(f"/clients/{client_id}/episodes", data={"consent_date": today()})
    assert refused.status_code == 404


def test_the_supervisor_owns_the_incident_and_the_therapist_reads_each_step(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, clinic.usernames["therapist"])
    app_client.post(
        f"/episodes/{clinic.rupture_episode}/incidents",
        data={"description": "Client asked to meet socially", "occurred_on": today()},
    )
    with engine.connect() as conn:
        incident = conn.execute(select(t.boundary_incidents)).one()
    assert incident.supervisor_id == clinic.supervisor_id
    # The therapist reads the incident but takes no step on it.
    assert app_client.post(f"/incidents/{incident.id}/resolve", data={}).status_code == 403
    app_client.post("/logout")

    sign_in(app_client, clinic.usernames["supervisor"])
    assert "Client asked to meet socially" in app_client.get("/supervision").text
    empty = app_client.post(f"/incidents/{incident.id}/respond", data={"text": " "})
    assert empty.status_code == 400
    assert "must not be empty" in error_next_to(empty.text, "respond", "text")
    app_client.post(f"/incidents/{incident.id}/acknowledge")
    app_client.post(
        f"/incidents/{incident.id}/respond",
        data={"text": "Let us talk it through on Thursday"},
    )
    done = app_client.post(f"/incidents/{incident.id}/resolve", data={"text": "Discussed"})
    assert "Resolved." in done.text
    assert app_client.post(f"/incidents/{incident.id}/resolve").status_code == 400
    assert "Client asked to meet socially" not in app_client.get("/supervision").text
    app_client.post("/logout")

    sign_in(app_client, clinic.usernames["therapist"])
    episode_page = app_client.get(f"/episodes/{clinic.rupture_episode}/details").text
    assert "Let us talk it through on Thursday" in episode_page
    assert ">Resolved<" in episode_page
    with engine.connect() as conn:
        steps = conn.execute(
            select(t.incident_steps.c.step, t.incident_steps.c.by_user_id).order_by(
                t.incident_steps.c.id
            )
        ).all()
        state = conn.execute(select(t.boundary_incidents.c.status)).scalar_one()
        audited = (
            conn.execute(
                select(t.audit_events.c.action).where(t.audit_events.c.action.like("incident_%"))
            )
            .scalars()
            .all()
        )
    assert [tuple(s) for s in steps] == [
        ("acknowledged", clinic.supervisor_id),
        ("responded", clinic.supervisor_id),
        ("resolved", clinic.supervisor_id),
    ]
    assert state == "resolved"
    assert audited == ["incident_acknowledged", "incident_responded", "incident_resolved"]


def test_the_admin_edits_deactivates_and_reactivates_a_user(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    otto = TestClient(app_client.app)
    send_csrf_token(otto)
    sign_in(otto, clinic.usernames["other"])
    assert otto.get("/caseload").status_code == 200
    sign_in(app_client, clinic.usernames["admin"])
    edit = app_client.get(f"/admin/users/{clinic.other_therapist_id}")
    assert edit.status_code == 200
    updated = app_client.post(
        f"/admin/users/{clinic.other_therapist_id}",
        data={
            "display_name": "Otto Example",
            "role": "therapist",
            "supervisor_id": str(clinic.supervisor_id),
        },
    )
    assert "Account updated." in updated.text
    with engine.connect() as conn:
        row = conn.execute(select(t.users).where(t.users.c.id == clinic.other_therapist_id)).one()
    assert (row.display_name, row.supervisor_id) == ("Otto Example", clinic.supervisor_id)
    # Otto treats an open episode: the role cannot change under it.
    refused = app_client.post(
        f"/admin/users/{clinic.other_therapist_id}",
        data={"display_name": "Otto", "role": "supervisor", "supervisor_id": ""},
    )
    assert refused.status_code == 400
    assert "treats 1 open episode" in refused.text
    with engine.connect() as conn:
        row = conn.execute(select(t.users).where(t.users.c.id == clinic.other_therapist_id)).one()
    assert (row.display_name, row.role) == ("Otto Example", "therapist")
    app_client.post(f"/admin/users/{clinic.admin_id}/deactivate")  # not oneself
    with engine.connect() as conn:
        assert conn.execute(
            select(t.users.c.active).where(t.users.c.id == clinic.admin_id)
        ).scalar_one()
    app_client.post(f"/admin/users/{clinic.other_therapist_id}/deactivate")
    # Otto's open session ends at once, and he cannot sign in again.
    assert "/login" in str(otto.get("/caseload").url)
    again = otto.post("/login", data={"username": "otto", "password": PASSWORD})
    assert again.status_code != 303
    app_client.post(f"/admin/users/{clinic.other_therapist_id}/reactivate")
    with engine.connect() as conn:
        actions = (
            conn.execute(
                select(t.audit_events.c.action).where(
                    t.audit_events.c.object_type == "user",
                    t.audit_events.c.object_id == str(clinic.other_therapist_id),
                )
            )
            .scalars()
            .all()
        )
    assert [a for a in actions if a in ("update", "deactivate", "reactivate")] == [
        "update",
        "deactivate",
        "reactivate",
    ]


def test_it_shows_what_the_therapist_said_beside_each_acknowledged_alert(
    therapist: TestClient, clinic: Clinic
) -> None:
    chart = therapist.get(f"/episodes/{clinic.risk_episode}").text
    keys = re.findall(r'name="signal_key" value="([^"]+)"', chart)
    assert keys, "the risk client has an open alert"
    therapist.post(
        f"/episodes/{clinic.risk_episode}/ack",
        data={"signal_key": keys[0], "note": "Safety plan reviewed with the client today"},
    )
    history = therapist.get(f"/episodes/{clinic.risk_episode}").text
    listed = history.split('id="acknowledgements"', 1)[1].split("</ul>", 1)[0]
    assert "Safety plan reviewed with the client today" in listed
    assert "Tess" in listed


def test_an_episode_closes_with_its_alerts(therapist: TestClient, clinic: Clinic) -> None:
    before = therapist.get(f"/episodes/{clinic.risk_episode}").text
    assert "data-alert=" in before
    therapist.post(
        f"/episodes/{clinic.risk_episode}/close",
        data={"closed_on": clinic.today.isoformat(), "closing_reason": "planned", "confirm": "yes"},
    )
    after = therapist.get(f"/episodes/{clinic.risk_episode}").text
    assert "data-alert=" not in after
    assert "Closed with the episode" in after.split('id="acknowledgements"', 1)[1]


def test_a_risk_alert_sits_above_the_chart(therapist: TestClient, clinic: Clinic) -> None:
    """PHQ-9 item 9 endorsed at the risk client's last session: the card comes first."""
    page = therapist.get(f"/episodes/{clinic.risk_episode}").text
    assert page.index("data-alert=") < page.index('id="client-chart"')
    caseload = therapist.get("/caseload").text
    row = caseload.split("RISK-002", 1)[1].split("</tr>", 1)[0]
    assert '<span class="badge risk">risk</span>' in row


def paper(therapist: TestClient, clinic: Clinic, instrument: str, answers: dict[int, int]) -> Any:
    episode, session = clinic.rupture_episode, clinic.rupture_sessions[-1]
    form = {"instrument": instrument} | {f"item_{i}": str(v) for i, v in answers.items()}
    return therapist.post(f"/episodes/{episode}/sessions/{session}/paper", data=form)


def test_a_paper_form_keeps_a_risk_answer_whatever_is_missing(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    before = count(engine, t.administrations)
    # PHQ-9: items 1-8 at 1 but item 3 blank, item 9 at 3. One blank: pro-rated (NHS Data
    # Dictionary), 7 answered items of 1 plus 3 = 10 over 8 items, times 9 = 11.25.
    phq = paper(therapist, clinic, "phq9", dict.fromkeys((1, 2, 4, 5, 6, 7, 8), 1) | {9: 3})
    assert phq.status_code == 200
    # CORE-10: item 6 ("plans to end my life") at 4 and items 9, 10 blank: too many missing to
    # score, kept unscored so the risk is not lost.
    core = paper(therapist, clinic, "core10", dict.fromkeys(range(1, 9), 1) | {6: 4})
    assert core.status_code == 200
    # GAD-7 with a blank and no risk item: asked for again, nothing stored.
    gad = paper(therapist, clinic, "gad7", dict.fromkeys(range(1, 7), 1))
    assert gad.status_code == 400
    assert "needs an answer" in gad.text
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.administrations.c.instrument_id,
                t.administrations.c.total,
                t.administrations.c.validity,
                t.administrations.c.flags,
            ).order_by(t.administrations.c.id.desc())
        ).all()[:2]
    assert count(engine, t.administrations) == before + 2
    assert [tuple(r) for r in reversed(rows)] == [
        ("phq9", 11.25, "prorated", ["risk:phq9:9"]),
        ("core10", None, "invalid", ["risk:core10:6"]),
    ]
    chart = therapist.get(f"/episodes/{clinic.rupture_episode}").text
    assert chart.index("data-alert=") < chart.index('id="client-chart"')
