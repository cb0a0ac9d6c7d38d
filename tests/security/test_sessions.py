"""Sign-in sessions can be ended: a copied cookie stops working at once.

Each test copies therapist A's session cookie into a second browser (the "thief"), checks the
copy reads `/api/caseload`, then ends the session one way and checks the copy gets 401. Before
server-side sessions, the cookie held only the user id and every one of these copies kept
reading for up to 8 hours.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from alliance.services import login_sessions, tokens
from alliance.store import tables as t
from alliance.web.app import SESSION_COOKIE
from tests.conftest import UtcClock
from tests.web.clinic import PASSWORD, Clinic
from tests.web.conftest import send_csrf_token, sign_in

NEW_PASSWORD = "a brand new passphrase"


def thief_of(app: FastAPI, victim: TestClient) -> TestClient:
    """Another browser, elsewhere, holding a copy of the victim's session cookie."""
    thief = TestClient(app, client=("10.66.0.1", 40000))
    thief.cookies.set(SESSION_COOKIE, victim.cookies[SESSION_COOKIE])
    assert thief.get("/api/caseload").status_code == 200
    return thief


def session_secret(client: TestClient) -> str:
    """The secret inside the signed cookie (its payload is base64 JSON before the signature)."""
    payload = client.cookies[SESSION_COOKIE].split(".")[0]
    data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return str(data["sid"])


def open_sessions(engine: Engine, user_id: int) -> int:
    s = t.login_sessions
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.c.id).where(s.c.user_id == user_id, s.c.ended_at.is_(None))
        ).all()
    return len(rows)


def test_it_keeps_only_a_hash_of_the_cookie_secret(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    secret = session_secret(tess)
    with engine.connect() as conn:
        stored = conn.execute(
            select(t.login_sessions.c.secret_hash, t.login_sessions.c.user_agent).where(
                t.login_sessions.c.user_id == clinic.therapist_id
            )
        ).all()
    assert [row.secret_hash for row in stored] == [login_sessions.secret_hash(secret)]
    assert secret not in repr(stored)
    # The cookie names no user: a cookie with another user's id cannot be forged from it.
    assert "uid" not in json.loads(
        base64.b64decode(tess.cookies[SESSION_COOKIE].split(".")[0] + "==")
    )


def test_it_ends_a_copied_cookie_at_sign_out(
    app: FastAPI, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    thief = thief_of(app, tess)
    assert tess.post("/logout", follow_redirects=False).status_code == 303
    assert thief.get("/api/caseload").status_code == 401
    assert thief.get("/caseload", follow_redirects=False).headers["location"] == "/login"


def test_it_ends_every_session_at_a_password_change_and_keeps_the_changer_in(
    app: FastAPI, engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    thief = thief_of(app, tess)
    changed = tess.post(
        "/account/password",
        data={"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert thief.get("/api/caseload").status_code == 401
    # The one who changed it holds a fresh session, the only one open.
    assert tess.get("/api/caseload").status_code == 200
    assert open_sessions(engine, clinic.therapist_id) == 1


def test_it_ends_sessions_and_tokens_at_an_admin_reset_and_after_the_new_password(
    app: FastAPI, engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    with engine.begin() as conn:
        token = tokens.create_token(conn, "tess", label="reset test")
    tess = persona_client("therapist_a")
    thief = thief_of(app, tess)
    bearer = {"Authorization": f"Bearer {token.token}"}
    assert thief.get("/api/caseload", headers=bearer).status_code == 200
    admin = persona_client("admin")
    page = admin.post(f"/admin/users/{clinic.therapist_id}/password")
    assert page.status_code == 200
    assert thief.get("/api/caseload").status_code == 401
    assert thief.get("/api/caseload", headers=bearer).status_code == 401
    # The user signs in with the one-time password and picks a new one: the copy stays dead.
    one_time = one_time_password(engine, page.text)
    fresh = persona_client("anonymous")
    sign_in(fresh, "tess", one_time)
    fresh.post(
        "/account/password",
        data={"current": one_time, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    assert fresh.get("/api/caseload").status_code == 200
    assert thief.get("/api/caseload").status_code == 401


def one_time_password(engine: Engine, page: str) -> str:
    """The one-time password the admin's page shows (in the element the page gives it)."""
    marker = '<code id="reset-otp">'
    start = page.index(marker) + len(marker)
    return page[start : page.index("<", start)].strip()


def test_it_ends_sessions_and_tokens_at_deactivation_for_good(
    app: FastAPI, engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    with engine.begin() as conn:
        token = tokens.create_token(conn, "otto", label="deactivation test")
    otto = persona_client("therapist_b")
    thief = thief_of(app, otto)
    admin = persona_client("admin")
    assert (
        admin.post(
            f"/admin/users/{clinic.other_therapist_id}/deactivate", follow_redirects=False
        ).status_code
        == 303
    )
    assert thief.get("/api/caseload").status_code == 401
    # Reactivated, the account's old session and token are still over.
    assert (
        admin.post(
            f"/admin/users/{clinic.other_therapist_id}/reactivate", follow_redirects=False
        ).status_code
        == 303
    )
    assert thief.get("/api/caseload").status_code == 401
    assert otto.get("/api/caseload").status_code == 401
    bearer = {"Authorization": f"Bearer {token.token}"}
    assert thief.get("/api/caseload", headers=bearer).status_code == 401


def test_it_signs_out_everywhere_and_ends_one_other_device(
    app: FastAPI, engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    laptop = TestClient(app, client=("10.0.9.9", 50000), headers={"User-Agent": "Laptop/1"})
    send_csrf_token(laptop)
    sign_in(laptop, "tess")
    listed = tess.get("/account/sessions")
    assert listed.status_code == 200
    assert "Laptop/1" in listed.text
    assert "10.0.9.9" in listed.text
    assert "(this session)" in listed.text
    laptop_id = next(
        s.id for s in _sessions(engine, clinic.therapist_id) if s.user_agent == "Laptop/1"
    )
    assert tess.post(f"/account/sessions/{laptop_id}/end").status_code == 200
    assert laptop.get("/api/caseload").status_code == 401
    assert tess.get("/api/caseload").status_code == 200
    # Another user's session is not theirs to end, nor to know of.
    otto = persona_client("therapist_b")
    otto_id = _sessions(engine, clinic.other_therapist_id)[0].id
    assert tess.post(f"/account/sessions/{otto_id}/end").status_code == 404
    assert otto.get("/api/caseload").status_code == 200
    # Sign out everywhere: the copy of this very cookie ends too.
    thief = thief_of(app, tess)
    assert tess.post("/account/sessions/end-all").status_code == 200
    assert thief.get("/api/caseload").status_code == 401
    assert tess.get("/api/caseload").status_code == 401
    assert open_sessions(engine, clinic.therapist_id) == 0


def _sessions(engine: Engine, user_id: int) -> list[login_sessions.SessionRow]:
    s = t.login_sessions
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.c.id, s.c.created_at, s.c.last_seen_at, s.c.ip, s.c.user_agent)
            .where(s.c.user_id == user_id, s.c.ended_at.is_(None))
            .order_by(s.c.id)
        ).all()
    return [
        login_sessions.SessionRow(r.id, r.created_at, r.last_seen_at, r.ip, r.user_agent, False)
        for r in rows
    ]


def _age(engine: Engine, user_id: int, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(t.login_sessions).where(t.login_sessions.c.user_id == user_id).values(**values)
        )


def test_it_ends_a_session_idle_for_the_idle_timeout(
    app: FastAPI,
    engine: Engine,
    clinic: Clinic,
    persona_client: Callable[[str], TestClient],
    utc_clock: UtcClock,
) -> None:
    tess = persona_client("therapist_a")
    idle = timedelta(minutes=app.state.settings.session_idle_minutes)
    _age(engine, clinic.therapist_id, last_seen_at=utc_clock.now - idle + timedelta(minutes=2))
    assert tess.get("/api/caseload").status_code == 200
    _age(engine, clinic.therapist_id, last_seen_at=utc_clock.now - idle - timedelta(seconds=5))
    assert tess.get("/api/caseload").status_code == 401
    with engine.connect() as conn:
        reason = conn.execute(select(t.login_sessions.c.end_reason)).scalar_one()
    assert reason == "idle"


def test_it_ends_a_busy_session_at_the_absolute_timeout(
    app: FastAPI,
    engine: Engine,
    clinic: Clinic,
    persona_client: Callable[[str], TestClient],
    utc_clock: UtcClock,
) -> None:
    tess = persona_client("therapist_a")
    longest = timedelta(hours=app.state.settings.session_max_hours)
    _age(engine, clinic.therapist_id, created_at=utc_clock.now - longest + timedelta(minutes=2))
    assert tess.get("/api/caseload").status_code == 200
    _age(
        engine,
        clinic.therapist_id,
        created_at=utc_clock.now - longest - timedelta(seconds=5),
        last_seen_at=utc_clock.now,
    )
    assert tess.get("/api/caseload").status_code == 401
