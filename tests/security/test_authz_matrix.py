"""Every route × every persona, generated from the app's route table.

A route missing from RULES fails the suite, so a new route cannot ship without an access rule.
"Denied" means 401, 403, 404 or a redirect to /login; "allowed" means the request reached the
handler (2xx, a redirect elsewhere, or a 400/409/410/422 about the input). Whatever the status, a
persona who may not read therapist A's episode never receives its client code or goal text.

The admin reaches the episode read routes' handlers but sees nothing there without a live
break-glass grant; `test_it_gives_break_glass_read_of_one_episode_only` replays the table for an
admin holding a grant for episode E: E's pages read, nothing written, no other episode.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, select

from alliance.instruments import load_instrument
from alliance.services import links, login_sessions, tokens, transcripts
from alliance.store import break_glass
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import Actor, insert_id, utc_now
from alliance.store.relational import report_boundary_incident
from tests.security.conftest import PERSONAS, new_link, therapist_viewer
from tests.security.routes import route_table
from tests.web.clinic import Clinic

ALL = frozenset(PERSONAS)
STAFF = frozenset(
    {"therapist_a", "therapist_b", "supervisor_of_a", "supervisor_of_nobody", "admin"}
)
THERAPISTS = frozenset({"therapist_a", "therapist_b"})
SUPERVISORS = frozenset({"supervisor_of_a", "supervisor_of_nobody"})
A_READERS = frozenset({"therapist_a", "supervisor_of_a"})
A_WRITER = frozenset({"therapist_a"})
A_SUPERVISOR = frozenset({"supervisor_of_a"})
CLINICIANS = THERAPISTS | SUPERVISORS
ADMIN = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

# Who may use each route. The episode, session, therapist and link in every path are
# therapist A's.
RULES: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/openapi.json"): ALL,
    ("GET", "/api/docs"): ALL,
    ("GET", "/docs/oauth2-redirect"): ALL,
    ("GET", "/static"): ALL,
    ("GET", "/healthz"): ALL,
    ("GET", "/login"): ALL,
    ("POST", "/login"): ALL,
    ("POST", "/logout"): ALL,
    ("GET", "/"): STAFF,
    ("GET", "/account/password"): STAFF,
    ("POST", "/account/password"): STAFF,
    ("GET", "/account/totp"): STAFF,
    ("GET", "/account/sessions"): STAFF,
    ("POST", "/account/sessions/{sign_in_id}/end"): STAFF,
    ("POST", "/account/sessions/end-others"): STAFF,
    ("POST", "/account/sessions/end-all"): STAFF,
    # Reached by every signed-in person; refused (400) when there is no reset to confirm.
    ("POST", "/account/reset/confirm"): STAFF,
    ("POST", "/account/totp"): STAFF,
    ("POST", "/account/totp/start"): STAFF,
    ("GET", "/caseload"): THERAPISTS,
    ("GET", "/caseload/closed"): CLINICIANS,
    ("GET", "/clients/new"): THERAPISTS,
    ("POST", "/clients"): THERAPISTS,
    # The {client_id} is the client of therapist A's episode; {incident_id} is reported on it.
    ("GET", "/clients/{client_id}"): A_READERS,
    ("POST", "/clients/{client_id}/episodes"): A_WRITER,
    ("POST", "/clients/{client_id}/contact_consent"): A_WRITER,
    ("POST", "/episodes/{episode_id}/reopen"): A_WRITER,
    ("GET", "/incidents/{incident_id}"): A_READERS,
    # Only the supervisor the incident is addressed to takes its steps.
    ("POST", "/incidents/{incident_id}/acknowledge"): A_SUPERVISOR,
    ("POST", "/incidents/{incident_id}/respond"): A_SUPERVISOR,
    ("POST", "/incidents/{incident_id}/resolve"): A_SUPERVISOR,
    ("GET", "/episodes/{episode_id}"): A_READERS,
    ("GET", "/episodes/{episode_id}/details"): A_READERS,
    ("POST", "/episodes/{episode_id}/stage"): A_WRITER,
    ("POST", "/episodes/{episode_id}/consent"): A_WRITER,
    ("POST", "/episodes/{episode_id}/goals"): A_WRITER,
    ("POST", "/episodes/{episode_id}/goal_status"): A_WRITER,
    ("POST", "/episodes/{episode_id}/tasks"): A_WRITER,
    ("POST", "/episodes/{episode_id}/boundaries"): A_WRITER,
    ("POST", "/episodes/{episode_id}/notes"): A_WRITER,
    ("POST", "/episodes/{episode_id}/miracle_question"): A_WRITER,
    ("POST", "/episodes/{episode_id}/relapse_prevention"): A_WRITER,
    ("POST", "/episodes/{episode_id}/sessions"): A_WRITER,
    ("POST", "/episodes/{episode_id}/close"): A_WRITER,
    ("POST", "/episodes/{episode_id}/ack"): A_WRITER,
    # A suspected boundary violation may be reported by whoever reads the episode clinically.
    ("POST", "/episodes/{episode_id}/incidents"): A_READERS,
    ("GET", "/episodes/{episode_id}/sessions/{session_id}"): A_READERS,
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/attendance"): A_WRITER,
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/paper"): A_WRITER,
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/link"): A_WRITER,
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/send"): A_WRITER,
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/tablet"): A_WRITER,
    # {checkin_id} is a check-in of the session named by {session_id}.
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/checkins/{checkin_id}/tablet"): A_WRITER,
    ("POST", "/episodes/{episode_id}/schedule"): A_WRITER,
    ("GET", "/episodes/{episode_id}/chart.{fmt}"): A_READERS,
    ("GET", "/episodes/{episode_id}/report"): A_READERS,
    ("GET", "/episodes/{episode_id}/report.pdf"): A_READERS,
    # The token is the credential: whoever holds the link reaches its one form.
    ("GET", "/f/{token}"): ALL,
    ("POST", "/f/{token}"): ALL,
    ("GET", "/f/{token}/done"): ALL,
    # Tablet pages answer only on a device a therapist locked to that link.
    ("GET", "/tablet/unlock"): NOBODY,
    ("POST", "/tablet/unlock"): NOBODY,
    ("GET", "/tablet/{link_id}"): NOBODY,
    ("POST", "/tablet/{link_id}"): NOBODY,
    ("GET", "/supervision"): SUPERVISORS,
    ("GET", "/supervision/therapists/{therapist_id}"): frozenset({"supervisor_of_a"}),
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    # The {user_id} in these paths is therapist B's (its loop has run before the admin's).
    ("GET", "/admin/users/{user_id}"): ADMIN,
    ("POST", "/admin/users/{user_id}"): ADMIN,
    ("POST", "/admin/users/{user_id}/deactivate"): ADMIN,
    ("POST", "/admin/users/{user_id}/reactivate"): ADMIN,
    ("POST", "/admin/tokens/{token_id}/revoke"): ADMIN,
    ("POST", "/admin/users/{user_id}/password"): ADMIN,
    ("POST", "/admin/users/{user_id}/totp/remove"): ADMIN,
    ("GET", "/admin/break-glass"): ADMIN,
    ("POST", "/admin/break-glass"): ADMIN,
    ("GET", "/admin/schedules"): ADMIN,
    ("POST", "/admin/schedules"): ADMIN,
    ("GET", "/admin/mail"): ADMIN,
    ("POST", "/admin/mail/test"): ADMIN,
    ("POST", "/admin/mail/server"): ADMIN,
    ("POST", "/admin/mail/server/remove"): ADMIN,
    ("GET", "/admin/wording"): ADMIN,
    ("POST", "/admin/wording"): ADMIN,
    ("GET", "/admin/crisis"): ADMIN,
    ("POST", "/admin/crisis"): ADMIN,
    # The {notice_id} is a risk notice on therapist A's episode: only A acknowledges it.
    ("POST", "/risk-notices/{notice_id}/acknowledge"): A_WRITER,
    ("GET", "/api/health"): ALL,
    ("GET", "/api/caseload"): THERAPISTS,
    ("POST", "/api/clients"): CLINICIANS,
    ("GET", "/api/clients/{client_id}"): A_READERS,
    ("GET", "/api/episodes"): CLINICIANS,
    ("POST", "/api/episodes"): THERAPISTS,
    ("POST", "/api/episodes/{episode_id}/sessions"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/reopen"): A_WRITER,
    ("GET", "/api/episodes/{episode_id}"): A_READERS,
    ("GET", "/api/episodes/{episode_id}/chart"): A_READERS,
    ("POST", "/api/episodes/{episode_id}/stage"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/goals"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/boundaries"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/acknowledgements"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/links"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/worksheets"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/goal-status"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/notes"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/incidents"): A_READERS,
    ("POST", "/api/episodes/{episode_id}/close"): A_WRITER,
    ("POST", "/api/episodes/{episode_id}/sessions/{session_id}/attendance"): A_WRITER,
    # A transcript is the treating therapist's until shared: the {transcript_id} is therapist
    # A's, coded and not shared, so even A's supervisor is refused. The session's list reaches
    # A's readers, and holds only what each may see.
    ("POST", "/episodes/{episode_id}/sessions/{session_id}/transcripts"): A_WRITER,
    ("POST", "/transcripts/{transcript_id}/speakers"): A_WRITER,
    ("POST", "/transcripts/{transcript_id}/corrections"): A_WRITER,
    ("POST", "/transcripts/{transcript_id}/share"): A_WRITER,
    ("POST", "/transcripts/{transcript_id}/delete-text"): A_WRITER,
    ("GET", "/practice/transcripts"): CLINICIANS,
    ("GET", "/api/episodes/{episode_id}/sessions/{session_id}/transcripts"): A_READERS,
    ("POST", "/api/episodes/{episode_id}/sessions/{session_id}/transcripts"): A_WRITER,
    ("GET", "/api/transcripts/{transcript_id}"): A_WRITER,
    ("POST", "/api/transcripts/{transcript_id}/corrections"): A_WRITER,
    ("POST", "/api/transcripts/{transcript_id}/share"): A_WRITER,
    ("POST", "/api/transcripts/{transcript_id}/delete-text"): A_WRITER,
    ("GET", "/api/practice/transcripts"): CLINICIANS,
    ("GET", "/api/episodes/{episode_id}/sessions/{session_id}/checkins"): A_READERS,
}

# A valid body for each JSON route, so a refusal is about who asks, not what they send.
API_BODIES: dict[str, dict[str, Any]] = {
    "stage": {"target": "change", "reason": "matrix"},
    "goals": {"text": "Matrix goal", "status": "agreed"},
    "boundaries": {"kind": "rule", "description": "matrix", "occurred_on": "2025-01-01"},
    "acknowledgements": {"signal_key": "matrix"},
    "links": {"instrument": "srs"},
    "worksheets": {"kind": "miracle_question", "answers": ["Matrix answer"]},
    "goal-status": {"goal_id": 1, "status": "proposed"},  # not a move from agreed: refused
    "notes": {"kind": "rupture", "text": "matrix", "tags": ["withdrawal"]},
    "incidents": {"description": "matrix", "occurred_on": "2025-01-01"},
    # before the opening: refused, the episode stays open
    "close": {"closed_on": "2025-01-01", "closing_reason": "planned"},
    "attendance": {"attendance": "attended"},
    "clients": {},
    # No consent date: a therapist's request reaches the handler and is refused (422).
    "episodes": {"client_id": 1},
    "sessions": {"date": "2025-01-01"},  # before the opening: refused, nothing written
    "transcripts": {"text": "", "speakers": {}},  # empty: refused, nothing stored
    "corrections": {"line": 999999, "code": "advice"},  # no such line: refused
    "share": {"shared": False},  # it is not shared: stays private
    "delete-text": {"confirm": False},  # not confirmed: refused
    "reopen": {"reason": "the matrix asks to reopen"},  # the episode is open: refused
}
SECRETS = ("RUPT-001", "Sleep through most nights")
# The words of A's unshared transcript: nobody but A reads them, not even A's supervisor.
TRANSCRIPT_WORDS = "I want to sleep better"


def objects(engine: Engine, clinic: Clinic) -> dict[str, int]:
    """Therapist A's client and an incident on A's episode, for the paths that name them."""
    with engine.begin() as conn:
        client_id = conn.execute(
            select(t.episodes.c.client_id).where(t.episodes.c.id == clinic.rupture_episode)
        ).scalar_one()
        incident_id = report_boundary_incident(
            conn,
            Actor.system(),
            clinic.rupture_episode,
            "A suspected dual relationship",
            occurred_on=date(2025, 1, 1),
        )
        token = tokens.create_token(conn, "otto", label="matrix")
        form = conn.execute(
            select(t.administrations.c.id).where(
                t.administrations.c.episode_id == clinic.rupture_episode
            )
        ).scalar()
        notice_id = insert_id(
            conn,
            t.risk_notices,
            episode_id=clinic.rupture_episode,
            administration_id=form,
            therapist_id=clinic.therapist_id,
            created_at=utc_now(),
        )
        org = clinic.organisation_id
        tess = Viewer(clinic.therapist_id, "tess", "Tess", "therapist", org, None)
        checkin = links.insert_checkin(
            conn,
            tess,
            (clinic.rupture_episode, clinic.rupture_sessions[-1]),
            "before",
            [load_instrument("phq9")],
            60,
            key=None,
            now=utc_now(),
        )
    return {
        "client_id": client_id,
        "incident_id": incident_id,
        "token_id": token.id,
        "checkin_id": int(checkin.checkin_id or 0),
        "notice_id": notice_id,
        "transcript_id": coded_transcript(engine, clinic),
    }


def coded_transcript(engine: Engine, clinic: Clinic) -> int:
    """A transcript of therapist A's session, coded through the services and not shared."""
    tess = therapist_viewer(clinic)
    with engine.begin() as conn:
        tid = transcripts.upload(
            conn,
            tess,
            clinic.rupture_episode,
            clinic.rupture_sessions[-1],
            filename="matrix.txt",
            raw=b"T: What would you like to change?\nC: I want to sleep better.\n",
            keep_text=True,
        )
        transcripts.map_speakers(conn, tess, tid, {"speaker_0": "therapist", "speaker_1": "client"})
    transcripts.run_coding(engine, tid)
    return tid


# Routes that end the persona's own session: after every other route, plain sign-out last.
SIGN_OUTS = (("POST", "/logout"), ("POST", "/account/sessions/end-all"))


def spare_sign_in(engine: Engine, username: str | None) -> int:
    """A second sign-in of the persona's own (another device), for the route that ends one."""
    with engine.begin() as conn:
        user_id = conn.execute(
            select(t.users.c.id).where(t.users.c.username == (username or "admin"))
        ).scalar_one()
        login_sessions.start(conn, user_id, "10.9.9.9", "another device")
        return int(
            conn.execute(
                select(t.login_sessions.c.id)
                .where(t.login_sessions.c.user_id == user_id)
                .order_by(t.login_sessions.c.id.desc())
            )
            .scalars()
            .first()
            or 0
        )


def concrete(
    path: str,
    clinic: Clinic,
    token: str,
    link_id: int,
    episode_id: int | None = None,
    ids: dict[str, int] | None = None,
) -> str:
    for name, value in (ids or {}).items():
        path = path.replace("{" + name + "}", str(value))
    if path == "/static":
        return "/static/css/alliance.css"
    return (
        path.replace("{episode_id}", str(episode_id or clinic.rupture_episode))
        .replace("{user_id}", str(clinic.other_therapist_id))
        .replace("{session_id}", str(clinic.rupture_sessions[-1]))
        .replace("{therapist_id}", str(clinic.therapist_id))
        .replace("{token}", token)
        .replace("{link_id}", str(link_id))
        .replace("{fmt}", "json")
    )


def send(client: TestClient, method: str, path: str, url: str) -> Response:
    if method == "GET":
        return client.get(url, follow_redirects=False)
    if path.startswith("/api/"):
        return client.post(url, json=API_BODIES[path.rsplit("/", 1)[-1]], follow_redirects=False)
    form = (
        {"text": "Matrix goal", "instrument": "srs"}
        if "{episode_id}" in path or "{incident_id}" in path
        else {}
    )
    return client.post(url, data=form, follow_redirects=False)


def denied(response: Response, path: str) -> bool:
    if response.status_code in {401, 403, 404}:
        return True
    # Signing out ends on the sign-in page by design; elsewhere that redirect is a refusal.
    return (
        path != "/logout"
        and response.is_redirect
        and response.headers.get("location", "").startswith("/login")
    )


def test_it_has_a_rule_for_every_route_and_no_stale_rules(app: FastAPI) -> None:
    routes = set(route_table(app))
    missing = sorted(routes - RULES.keys())
    assert not missing, f"routes without an access rule in RULES: {missing}"
    stale = sorted(RULES.keys() - routes)
    assert not stale, f"rules for routes that no longer exist: {stale}"


def test_it_enforces_the_matrix_with_zero_leaks(
    app: FastAPI,
    engine: Engine,
    clinic: Clinic,
    persona_client: Callable[[str], TestClient],
) -> None:
    link = new_link(engine, clinic)
    ids = objects(engine, clinic)
    # Handing the browser over as a tablet locks it to the form, and signing out ends the
    # session: those two last, so each persona keeps its session through the rest of the table.
    routes = sorted(
        route_table(app),
        key=lambda r: (r in SIGN_OUTS, r == SIGN_OUTS[0], r[1].endswith("/tablet")),
    )
    failures: list[str] = []
    for persona in PERSONAS:
        client = persona_client(persona)
        if persona == "client_link":
            assert client.get(f"/f/{link.token}").status_code == 200
        own = {**ids, "sign_in_id": spare_sign_in(engine, PERSONAS[persona])}
        for method, path in routes:
            url = concrete(path, clinic, link.token, link.link_id, ids=own)
            response = send(client, method, path, url)
            allowed = persona in RULES[(method, path)]
            where = f"{persona} {method} {path} -> {response.status_code}"
            if response.status_code >= 500:
                failures.append(f"{where}: server error")
            elif allowed and denied(response, path):
                failures.append(f"{where}: refused but the rule allows it")
            elif not allowed and not denied(response, path):
                failures.append(f"{where}: reached but the rule refuses it")
            if persona not in A_READERS and any(s in response.text for s in SECRETS):
                failures.append(f"{where}: LEAK of therapist A's client content")
            if persona != "therapist_a" and TRANSCRIPT_WORDS in response.text:
                failures.append(f"{where}: LEAK of therapist A's unshared transcript")
    assert not failures, "\n".join(failures)


def test_it_never_shows_therapist_a_episode_to_therapist_b(
    clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    other = persona_client("therapist_b")
    for url in (
        f"/episodes/{clinic.rupture_episode}",
        f"/episodes/{clinic.rupture_episode}/details",
        f"/episodes/{clinic.rupture_episode}/report",
        f"/episodes/{clinic.rupture_episode}/chart.json",
        f"/api/episodes/{clinic.rupture_episode}",
        f"/api/episodes/{clinic.rupture_episode}/chart",
    ):
        response = other.get(url)
        assert response.status_code in {403, 404}, url
        assert "RUPT-001" not in response.text


def test_it_gives_break_glass_read_of_one_episode_only(
    app: FastAPI,
    engine: Engine,
    clinic: Clinic,
    persona_client: Callable[[str], TestClient],
) -> None:
    admin = persona_client("admin")
    # Without a grant the admin reads nothing of E, through any route.
    for url in (
        f"/episodes/{clinic.rupture_episode}",
        f"/episodes/{clinic.rupture_episode}/details",
        f"/episodes/{clinic.rupture_episode}/report",
    ):
        response = admin.get(url, follow_redirects=False)
        assert response.status_code == 404, url
        assert not any(s in response.text for s in SECRETS)
    with engine.begin() as conn:
        break_glass.open_grant(
            conn,
            Actor(clinic.admin_id),
            clinic.rupture_episode,
            "Therapist unreachable; client's GP asked for the risk history today.",
        )
    link = new_link(engine, clinic)
    failures: list[str] = []
    read_e = 0
    for method, path in route_table(app):
        if "{episode_id}" not in path:
            continue
        e_url = concrete(path, clinic, link.token, link.link_id)
        e_response = send(admin, method, path, e_url)
        where = f"admin under break glass {method} {path} -> {e_response.status_code}"
        if e_response.status_code >= 500:
            failures.append(f"{where}: server error")
        # Read-only: every page read of E is open, every write and the JSON API stay shut.
        should_read = method == "GET" and not path.startswith("/api/")
        if should_read and denied(e_response, path):
            failures.append(f"{where}: refused a read of E")
        if not should_read and not denied(e_response, path):
            failures.append(f"{where}: reached a write or the API")
        read_e += should_read and not denied(e_response, path)
        # Another episode of the same therapist: the grant is for E only.
        other_url = concrete(path, clinic, link.token, link.link_id, clinic.risk_episode)
        other = send(admin, method, path, other_url)
        if not denied(other, path):
            failures.append(f"admin {method} {path} on another episode -> {other.status_code}")
        if "RISK-002" in other.text:
            failures.append(f"admin {method} {path}: LEAK of another episode under E's grant")
    assert not failures, "\n".join(failures)
    assert read_e >= 5  # the chart, episode, session, chart file and report pages of E
    assert "RUPT-001" in admin.get(f"/episodes/{clinic.rupture_episode}/details").text


def test_a_token_acts_as_its_user_on_every_api_route(
    app: FastAPI, engine: Engine, clinic: Clinic
) -> None:
    """Every /api route as every staff persona with a personal token and no cookie: the same
    rules, zero leaks; a revoked token is refused (401) everywhere."""
    link = new_link(engine, clinic)
    ids = objects(engine, clinic)
    api = [(m, p) for m, p in route_table(app) if p.startswith("/api/")]
    failures: list[str] = []
    with engine.begin() as conn:
        issued = {
            persona: tokens.create_token(conn, username, label="matrix")
            for persona, username in PERSONAS.items()
            if username is not None
        }
    with TestClient(app, client=("10.0.1.1", 50000)) as client:
        for persona, token in issued.items():
            client.headers["Authorization"] = f"Bearer {token.token}"
            for method, path in api:
                url = concrete(path, clinic, link.token, link.link_id, ids=ids)
                response = send(client, method, path, url)
                allowed = persona in RULES[(method, path)]
                where = f"{persona}'s token {method} {path} -> {response.status_code}"
                if response.status_code >= 500:
                    failures.append(f"{where}: server error")
                elif allowed and denied(response, path):
                    failures.append(f"{where}: refused but the rule allows it")
                elif not allowed and not denied(response, path):
                    failures.append(f"{where}: reached but the rule refuses it")
                if persona not in A_READERS and any(s in response.text for s in SECRETS):
                    failures.append(f"{where}: LEAK of therapist A's client content")
                if persona != "therapist_a" and TRANSCRIPT_WORDS in response.text:
                    failures.append(f"{where}: LEAK of therapist A's unshared transcript")
        with engine.begin() as conn:
            tokens.revoke_token(conn, issued["therapist_a"].id)
        client.headers["Authorization"] = f"Bearer {issued['therapist_a'].token}"
        for method, path in api:
            if RULES[(method, path)] == ALL:
                continue
            url = concrete(path, clinic, link.token, link.link_id, ids=ids)
            status = send(client, method, path, url).status_code
            if status != 401:
                failures.append(f"revoked token {method} {path} -> {status}, not 401")
    assert not failures, "\n".join(failures)
