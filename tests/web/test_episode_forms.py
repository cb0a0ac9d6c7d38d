"""Episode-page forms: worksheets, goal status, closing, attendance, notes, incidents.

Each form runs through real HTTP on SQLite and PostgreSQL; each refusal shows the error next to
its field and stores nothing.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.domain.episode import NO_RELAPSE_PLAN
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.store.worksheets import add_worksheet
from tests.web.clinic import Clinic
from tests.web.conftest import sign_in

PLAN = {
    "warning_signs": "Sleeping badly\nSkipping meals",
    "triggers": "Arguments at home",
    "coping_steps": "Walk for 20 minutes\nCall a friend\n\n",
    "who_to_call": "Sister\nGP surgery",
}


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def goals_of(engine: Engine, episode_id: int) -> list[tuple[str, str, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.goals.c.text, t.goals.c.status, t.goals.c.worksheet_id)
            .where(t.goals.c.episode_id == episode_id)
            .order_by(t.goals.c.id)
        )
        return [(r.text, r.status, r.worksheet_id) for r in rows]


def error_next_to(html: str, form: str, name: str) -> str:
    """The error text shown right after the field `form-name`, or '' when there is none."""
    found = re.search(
        rf'id="{form}-{name}"[^>]*aria-invalid="true"[^>]*>.*?'
        rf'<p class="field-error" id="{form}-{name}-error" role="alert">([^<]*)</p>',
        html,
        re.S,
    )
    return found.group(1) if found else ""


def test_it_turns_miracle_question_answers_into_proposed_goals_then_agrees_one(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    episode = clinic.risk_episode
    response = therapist.post(
        f"/episodes/{episode}/miracle_question",
        data={"answers": "I would get up before eight\n\n  I would call my brother  \n"},
    )
    assert response.status_code == 200
    assert "Miracle Question saved" in response.text
    seeded = goals_of(engine, episode)
    assert [(g[0], g[1]) for g in seeded] == [
        ("I would get up before eight", "proposed"),
        ("I would call my brother", "proposed"),
    ]
    assert seeded[0][2] is not None
    assert seeded[0][2] == seeded[1][2]
    assert "Mark agreed" in response.text
    assert "(from the Miracle Question)" in response.text
    with engine.connect() as conn:
        goal_id = conn.execute(
            select(t.goals.c.id).where(t.goals.c.text == "I would call my brother")
        ).scalar_one()
    agreed = therapist.post(
        f"/episodes/{episode}/goal_status", data={"goal_id": str(goal_id), "status": "agreed"}
    )
    assert agreed.status_code == 200
    assert "Goal updated" in agreed.text
    assert re.search(rf'data-goal-status="{goal_id}">agreed<', agreed.text)
    with engine.connect() as conn:
        row = conn.execute(select(t.goals).where(t.goals.c.id == goal_id)).one()
    assert row.status == "agreed"
    assert row.agreed_on == clinic.today


def test_it_refuses_an_empty_miracle_question_next_to_the_field(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sheets, goals = count(engine, t.worksheets), count(engine, t.goals)
    response = therapist.post(
        f"/episodes/{clinic.risk_episode}/miracle_question", data={"answers": "  \n \n"}
    )
    assert response.status_code == 400
    assert "needs at least one entry" in error_next_to(response.text, "miracle_question", "answers")
    assert (count(engine, t.worksheets), count(engine, t.goals)) == (sheets, goals)


def test_it_names_the_line_of_a_too_long_answer(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    goals = count(engine, t.goals)
    response = therapist.post(
        f"/episodes/{clinic.risk_episode}/miracle_question",
        data={"answers": "Fine answer\n" + "x" * 501},
    )
    assert response.status_code == 400
    message = error_next_to(response.text, "miracle_question", "answers")
    assert message.startswith("Line 2: 501 characters")
    assert "x" * 20 not in message  # the error speaks of the length, not the words
    assert count(engine, t.goals) == goals
    assert count(engine, t.worksheets) == 0


def test_it_refuses_an_impossible_goal_move_and_another_episodes_goal(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    with engine.connect() as conn:
        goal_id = conn.execute(
            select(t.goals.c.id).where(t.goals.c.episode_id == clinic.rupture_episode)
        ).scalar_one()
    wrong_move = therapist.post(
        f"/episodes/{clinic.rupture_episode}/goal_status",
        data={"goal_id": str(goal_id), "status": "proposed"},
    )
    assert wrong_move.status_code == 400
    assert "from agreed a goal can become achieved, dropped" in wrong_move.text
    elsewhere = therapist.post(
        f"/episodes/{clinic.risk_episode}/goal_status",
        data={"goal_id": str(goal_id), "status": "dropped"},
    )
    assert elsewhere.status_code == 400
    assert "is not a goal of this episode" in elsewhere.text
    assert goals_of(engine, clinic.rupture_episode)[0][1] == "agreed"


def test_it_saves_a_relapse_prevention_plan_one_entry_per_line(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    response = therapist.post(f"/episodes/{clinic.risk_episode}/relapse_prevention", data=PLAN)
    assert response.status_code == 200
    assert "Relapse-prevention plan saved" in response.text
    with engine.connect() as conn:
        content = conn.execute(select(t.worksheets.c.content)).scalar_one()
    assert content == {
        "warning_signs": ["Sleeping badly", "Skipping meals"],
        "triggers": ["Arguments at home"],
        "coping_steps": ["Walk for 20 minutes", "Call a friend"],
        "who_to_call": ["Sister", "GP surgery"],
    }
    assert "Walk for 20 minutes; Call a friend" in response.text
    assert 'id="closing-warning"' not in response.text


def test_it_shows_a_missing_plan_part_next_to_its_field(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    response = therapist.post(
        f"/episodes/{clinic.risk_episode}/relapse_prevention", data=PLAN | {"triggers": " "}
    )
    assert response.status_code == 400
    assert "needs at least one entry" in error_next_to(
        response.text, "relapse_prevention", "triggers"
    )
    assert error_next_to(response.text, "relapse_prevention", "warning_signs") == ""
    # What was typed comes back, so nothing has to be typed again.
    assert "Sleeping badly\nSkipping meals</textarea>" in response.text
    assert count(engine, t.worksheets) == 0


def test_it_closes_without_a_plan_and_shows_the_stores_warning(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    page = therapist.get(f"/episodes/{clinic.risk_episode}/details").text
    assert 'id="close-form"' in page
    assert 'id="closing-warning"' in page
    closed = therapist.post(
        f"/episodes/{clinic.risk_episode}/close",
        data={
            "closed_on": clinic.today.isoformat(),
            "summary": "Moved away",
            "closing_reason": "dropout",
            "confirm": "yes",
        },
    )
    assert closed.status_code == 200
    assert '<div class="flash warn" role="status">Episode closed. Warning: ' in closed.text
    assert NO_RELAPSE_PLAN in closed.text
    assert "Closed without a relapse-prevention plan." in closed.text
    assert 'id="close-form"' not in closed.text
    with engine.connect() as conn:
        row = conn.execute(select(t.episodes).where(t.episodes.c.id == clinic.risk_episode)).one()
    assert (row.closed_on, row.closing_summary) == (clinic.today, "Moved away")
    assert row.closing_reason == "dropout"
    assert "Reason: Drop-out (client stopped attending or ended without agreement)." in closed.text


def test_it_shows_a_dropout_closing_in_the_supervisor_figures(
    app_client: TestClient, clinic: Clinic
) -> None:
    def all_supervisees_dropout() -> str:
        page = app_client.get("/supervision").text
        row = page.split("All supervisees", 1)[1].split("</tr>", 1)[0]
        return row.split('data-label="Dropout">', 1)[1].split("</td>", 1)[0]

    sign_in(app_client, clinic.usernames["supervisor"])
    assert all_supervisees_dropout() == "too few (n = 0)"  # nothing closed yet
    app_client.post("/logout")
    sign_in(app_client, clinic.usernames["therapist"])
    # The rupture episode has scores across sessions, so the clinic figures count it.
    closed = app_client.post(
        f"/episodes/{clinic.rupture_episode}/close",
        data={"closed_on": clinic.today.isoformat(), "closing_reason": "dropout", "confirm": "yes"},
    )
    assert closed.status_code == 200
    app_client.post("/logout")
    sign_in(app_client, clinic.usernames["supervisor"])
    # One closed episode, and it was a drop-out: counted, but a percentage from one episode is
    # not shown (fewer than the 10 a percentage needs).
    assert all_supervisees_dropout() == "too few (n = 1)"


def test_it_asks_for_confirmation_before_closing(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    today = clinic.today.isoformat()
    form = {"closed_on": today, "summary": "Moved away", "closing_reason": "referred"}
    asked = therapist.post(f"/episodes/{clinic.risk_episode}/close", data=form)
    assert asked.status_code == 200
    assert "Close the episode of client" in asked.text
    assert "Referred on" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert f'value="{today}"' in asked.text
    with engine.connect() as conn:
        row = conn.execute(select(t.episodes).where(t.episodes.c.id == clinic.risk_episode)).one()
    assert row.closed_on is None  # asking closes nothing
    done = therapist.post(f"/episodes/{clinic.risk_episode}/close", data=form | {"confirm": "yes"})
    assert "Episode closed." in done.text
    with engine.connect() as conn:
        row = conn.execute(select(t.episodes).where(t.episodes.c.id == clinic.risk_episode)).one()
    assert (str(row.closed_on), row.closing_reason) == (today, "referred")


def test_it_asks_why_the_episode_ended_and_refuses_no_reason(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    page = therapist.get(f"/episodes/{clinic.risk_episode}/details").text
    form = page.split('id="close-form"', 1)[1].split("</form>", 1)[0]
    for value, label in [
        ("planned", "Planned ending (agreed in termination)"),
        ("dropout", "Drop-out (client stopped attending or ended without agreement)"),
        ("referred", "Referred on"),
        ("other", "Other"),
    ]:
        assert f'<option value="{value}" >{label}</option>' in form
    closings = (t.audit_events.c.action == "close",)
    before = count(engine, t.audit_events, *closings)
    for reason in ("", "quit"):
        response = therapist.post(
            f"/episodes/{clinic.risk_episode}/close",
            data={"closed_on": clinic.today.isoformat(), "closing_reason": reason},
        )
        assert response.status_code == 400
        error = error_next_to(response.text, "close", "closing_reason")
        assert "one of planned, dropout, referred, other" in error
    missing = therapist.post(
        f"/episodes/{clinic.risk_episode}/close", data={"closed_on": clinic.today.isoformat()}
    )
    assert missing.status_code == 400
    assert "closing needs a reason" in error_next_to(missing.text, "close", "closing_reason")
    with engine.connect() as conn:
        row = conn.execute(select(t.episodes).where(t.episodes.c.id == clinic.risk_episode)).one()
    assert (row.closed_on, row.closing_reason) == (None, None)
    assert count(engine, t.audit_events, *closings) == before


def test_it_closes_with_a_plan_and_no_warning(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    therapist.post(f"/episodes/{clinic.risk_episode}/relapse_prevention", data=PLAN)
    closed = therapist.post(
        f"/episodes/{clinic.risk_episode}/close",
        data={"closed_on": clinic.today.isoformat(), "closing_reason": "planned", "confirm": "yes"},
    )
    assert '<div class="flash ok" role="status">Episode closed.</div>' in closed.text
    assert NO_RELAPSE_PLAN not in closed.text


def test_it_refuses_a_closing_date_in_the_future(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    tomorrow = (clinic.today + timedelta(days=1)).isoformat()
    response = therapist.post(
        f"/episodes/{clinic.risk_episode}/close", data={"closed_on": tomorrow}
    )
    assert response.status_code == 400
    assert "must not be after today" in error_next_to(response.text, "close", "closed_on")
    assert count(engine, t.episodes, t.episodes.c.closed_on.is_not(None)) == 0


def test_it_changes_a_sessions_attendance_from_the_session_page(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    new = therapist.post(
        f"/episodes/{clinic.rupture_episode}/sessions",
        data={"held_on": clinic.today.isoformat(), "attendance": "attended"},
        follow_redirects=False,
    )
    url = new.headers["location"]
    session_id = int(url.rsplit("/", 1)[-1])
    assert 'action="' + url + '/attendance"' in therapist.get(url).text
    changed = therapist.post(f"{url}/attendance", data={"attendance": "no_show"})
    assert changed.status_code == 200
    assert "Attendance saved" in changed.text
    assert "· Did not attend</h2>" in changed.text
    with engine.connect() as conn:
        value = conn.execute(
            select(t.sessions.c.attendance).where(t.sessions.c.id == session_id)
        ).scalar_one()
    assert value == "no_show"


def test_it_keeps_a_scored_session_attended_with_the_error_beside_the_field(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    session_id = clinic.rupture_sessions[0]
    url = f"/episodes/{clinic.rupture_episode}/sessions/{session_id}/attendance"
    refused = therapist.post(url, data={"attendance": "cancelled"})
    assert refused.status_code == 400
    assert "a session with measures recorded for it was attended" in error_next_to(
        refused.text, "attendance", "attendance"
    )
    unknown = therapist.post(url, data={"attendance": "maybe"})
    assert "one of attended, cancelled, no_show" in unknown.text
    assert count(engine, t.sessions, t.sessions.c.attendance != "attended") == 0


def test_it_hides_attendance_of_another_therapists_session(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "otto")
    session_id = clinic.rupture_sessions[-1]
    response = app_client.post(
        f"/episodes/{clinic.rupture_episode}/sessions/{session_id}/attendance",
        data={"attendance": "cancelled"},
    )
    assert response.status_code == 404
    # A session id of another episode under one's own episode is not found either.
    assert count(engine, t.sessions, t.sessions.c.attendance != "attended") == 0


def test_it_adds_a_tagged_relational_note(
    therapist: TestClient, clinic: Clinic, engine: Engine
) -> None:
    response = therapist.post(
        f"/episodes/{clinic.rupture_episode}/notes",
        data={
            "kind": "countertransference",
            "text": "Felt pulled to give advice",
            "tags": "advice, Over-involvement",
        },
    )
    assert response.status_code == 200
    timeline = response.text.split('id="notes"', 1)[1].split("</ol>", 1)[0]
    assert "<strong>Countertransference</strong>" in timeline
    assert '<span class="badge stage">advice</span>' in timeline
    assert '<span class="badge stage">over-involvement</span>' in timeline
    with engine.connect() as conn:
        row = conn.execute(select(t.relational_notes)).one()
    assert (row.kind, row.tags) == ("countertransference", ["advice", "over-involvement"])
    bad = therapist.post(
        f"/episodes/{clinic.rupture_episode}/notes",
        data={"kind": "rupture", "text": "x", "tags": "no good!"},
    )
    assert bad.status_code == 400
    assert "a tag is 1 to 40 lower-case letters" in error_next_to(bad.text, "notes", "tags")
    assert count(engine, t.relational_notes) == 1


def test_it_reports_an_incident_that_the_supervisor_sees(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "tess")
    page = app_client.get(f"/episodes/{clinic.rupture_episode}/details").text
    assert 'id="incident-form"' in page
    reported = app_client.post(
        f"/episodes/{clinic.rupture_episode}/incidents",
        data={
            "description": "Client offered a business deal",
            "occurred_on": clinic.today.isoformat(),
        },
    )
    assert reported.status_code == 200
    assert "Incident reported to the supervisor" in reported.text
    assert "Client offered a business deal" in reported.text
    with engine.connect() as conn:
        row = conn.execute(select(t.boundary_incidents)).one()
    assert (row.status, row.supervisor_id) == ("open", clinic.supervisor_id)
    assert count(engine, t.boundary_events) == 0  # never a routine log entry

    sign_in(app_client, "sam")
    supervision = app_client.get("/supervision").text
    listed = supervision.split('id="open-incidents"', 1)[1].split("</ul>", 1)[0]
    assert "RUPT-001" in listed
    assert "Client offered a business deal" in listed
    assert "reported by Tess" in listed
    with engine.connect() as conn:
        reads = conn.execute(
            select(func.count())
            .select_from(t.audit_events)
            .where(
                t.audit_events.c.object_type == "boundary_incident",
                t.audit_events.c.action == "read",
            )
        ).scalar_one()
    assert reads == 1


def test_it_lets_the_supervisor_report_too_and_refuses_an_empty_report(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "sam")
    empty = app_client.post(
        f"/episodes/{clinic.rupture_episode}/incidents",
        data={"description": " ", "occurred_on": clinic.today.isoformat()},
    )
    assert empty.status_code == 400
    assert "must not be empty" in error_next_to(empty.text, "incidents", "description")
    assert count(engine, t.boundary_incidents) == 0
    done = app_client.post(
        f"/episodes/{clinic.rupture_episode}/incidents",
        data={"description": "Seen together socially", "occurred_on": clinic.today.isoformat()},
    )
    assert done.status_code == 200
    assert count(engine, t.boundary_incidents) == 1


def test_it_hides_incidents_from_others(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "otto")
    response = app_client.post(
        f"/episodes/{clinic.rupture_episode}/incidents",
        data={"description": "x", "occurred_on": clinic.today.isoformat()},
    )
    assert response.status_code == 404
    assert count(engine, t.boundary_incidents) == 0


def test_it_lists_only_open_incidents_of_this_supervisor(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    from alliance.store.relational import report_boundary_incident

    with engine.begin() as conn:
        report_boundary_incident(
            conn,
            Actor.system(),
            clinic.rupture_episode,
            "Resolved already",
            occurred_on=clinic.today,
        )
        conn.execute(t.boundary_incidents.update().values(status="resolved"))
        report_boundary_incident(
            conn, Actor.system(), clinic.other_episode, "Not sam's", occurred_on=clinic.today
        )
    sign_in(app_client, "sam")
    html = app_client.get("/supervision").text
    assert "No open incidents." in html
    assert "Resolved already" not in html
    assert "Not sam&#39;s" not in html
    assert "Not sam's" not in html


def test_it_offers_no_worksheet_or_closing_forms_to_the_supervisor(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    with engine.begin() as conn:
        add_worksheet(
            conn,
            Actor.system(),
            clinic.rupture_episode,
            "miracle_question",
            {"answers": ["Cook for friends"]},
        )
    sign_in(app_client, "sam")
    html = app_client.get(f"/episodes/{clinic.rupture_episode}/details").text
    assert "Cook for friends" in html
    for form in ("miracle-form", "relapse-form", "close-form"):
        assert f'id="{form}"' not in html
    assert "Mark agreed" not in html
    refused = app_client.post(
        f"/episodes/{clinic.rupture_episode}/miracle_question", data={"answers": "x"}
    )
    assert refused.status_code == 403
