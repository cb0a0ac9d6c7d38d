"""The optional TOTP second factor: enrolment, two-step sign-in, replay, lockout, removal."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, Row, select

from alliance.services import users
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.web.throttle import THROTTLE_ATTEMPTS
from tests.security.conftest import therapist_viewer
from tests.web.clinic import PASSWORD, Clinic
from tests.web.conftest import send_csrf_token, sign_in

# A fixed instant in the middle of a 30-second step: 2025-03-01 12:00:15 UTC.
NOW = datetime(2025, 3, 1, 12, 0, 15, tzinfo=UTC)


@pytest.fixture
def fresh_client(app: FastAPI) -> Iterator[TestClient]:
    """A browser with no session yet, from its own address."""
    with ExitStack() as stack:
        client = stack.enter_context(TestClient(app, client=("10.9.0.1", 50000)))
        send_csrf_token(client)
        yield client


def enable_totp(engine: Engine, viewer: Viewer, now: datetime) -> str:
    """Set up and confirm a second factor through the services; returns the secret."""
    with engine.begin() as conn:
        secret = users.start_totp(conn, viewer)
        users.confirm_totp(conn, viewer, pyotp.TOTP(secret).at(now), now=now)
    return secret


def user_row(engine: Engine, user_id: int) -> Row[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.users).where(t.users.c.id == user_id)).one()


def test_it_switches_on_only_after_a_valid_code_from_the_shown_secret(
    engine: Engine, clinic: Clinic, fresh_client: TestClient
) -> None:
    sign_in(fresh_client, "tess")
    assert "is <strong>off</strong>" in fresh_client.get("/account/totp").text
    started = fresh_client.post("/account/totp/start", follow_redirects=False)
    assert started.status_code == 303
    page = fresh_client.get("/account/totp").text
    shown = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert shown is not None
    secret = user_row(engine, clinic.therapist_id).totp_secret
    assert shown.group(1) == secret
    assert "<svg" in page
    assert "Scan with your authenticator app" in page
    assert not user_row(engine, clinic.therapist_id).totp_enabled

    wrong = fresh_client.post("/account/totp", data={"code": "000000"})
    if wrong.status_code != 400:  # 000000 could be the current code, once in a million
        assert pyotp.TOTP(secret).now() == "000000"
    else:
        assert "not the current 6-digit code" in wrong.text
        assert not user_row(engine, clinic.therapist_id).totp_enabled

    done = fresh_client.post(
        "/account/totp", data={"code": pyotp.TOTP(secret).now()}, follow_redirects=False
    )
    assert done.status_code == 303
    row = user_row(engine, clinic.therapist_id)
    assert row.totp_enabled
    assert row.totp_last_step is not None
    assert "is <strong>on</strong>" in fresh_client.get("/account/totp").text
    with engine.connect() as conn:
        actions = [(e.action, e.object_id) for e in audit.events(conn)]
    assert ("enable_totp", str(clinic.therapist_id)) in actions


def test_it_asks_for_the_code_after_the_password_before_the_session_counts(
    engine: Engine, clinic: Clinic, fresh_client: TestClient
) -> None:
    # Set up three steps ago, so the code of the current step is unspent.
    secret = enable_totp(
        engine, therapist_viewer(clinic), datetime.now(UTC) - timedelta(seconds=90)
    )
    first = fresh_client.post(
        "/login", data={"username": "tess", "password": PASSWORD}, follow_redirects=False
    )
    assert first.status_code == 303
    assert first.headers["location"] == "/login"
    # Password alone is not a session: clinical pages still send the browser to sign in.
    caseload = fresh_client.get("/caseload", follow_redirects=False)
    assert caseload.status_code == 303
    assert caseload.headers["location"] == "/login"
    assert 'name="code"' in fresh_client.get("/login").text

    wrong = fresh_client.post("/login", data={"code": "12345"})
    assert wrong.status_code == 400
    assert "not right" in wrong.text
    code = pyotp.TOTP(secret).now()
    ok = fresh_client.post("/login", data={"code": code}, follow_redirects=False)
    assert ok.status_code == 303
    assert ok.headers["location"] == "/caseload"
    assert fresh_client.get("/caseload").status_code == 200
    assert user_row(engine, clinic.therapist_id).failed_logins == 0


def test_it_accepts_one_step_either_side_and_no_further() -> None:
    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    step = users.time_step(NOW)
    for offset, expected in [(-60, None), (-30, step - 1), (0, step), (30, step + 1), (60, None)]:
        code = totp.at(NOW + timedelta(seconds=offset))
        found = users.match_code(secret, code, None, NOW)
        # Two different steps can share a code by chance; only a miss must be a miss.
        if expected is not None:
            assert found == expected, offset
        elif code not in {totp.at(NOW + timedelta(seconds=s)) for s in (-30, 0, 30)}:
            assert found is None, offset
    assert users.match_code(secret, "12 34", None, NOW) is None
    assert users.match_code(secret, "abcdef", None, NOW) is None


def test_it_refuses_a_code_used_once_within_its_window(engine: Engine, clinic: Clinic) -> None:
    viewer = therapist_viewer(clinic)
    secret = enable_totp(engine, viewer, NOW)
    later = NOW + timedelta(seconds=30)
    code = pyotp.TOTP(secret).at(later)
    with engine.begin() as conn:
        assert users.verify_code(conn, viewer.user_id, code, None, now=later).viewer is not None
    with engine.begin() as conn:
        replay = users.verify_code(conn, viewer.user_id, code, None, now=later)
    assert replay.viewer is None
    assert user_row(engine, viewer.user_id).totp_last_step == users.time_step(later)
    # The code confirming the set-up cannot sign in either (same step as NOW).
    with engine.begin() as conn:
        old = users.verify_code(conn, viewer.user_id, pyotp.TOTP(secret).at(NOW), None, now=later)
    assert old.viewer is None


def test_it_counts_wrong_codes_toward_the_lockout(engine: Engine, clinic: Clinic) -> None:
    viewer = therapist_viewer(clinic)
    secret = enable_totp(engine, viewer, NOW)
    later = NOW + timedelta(seconds=30)
    right = pyotp.TOTP(secret).at(later)
    wrong = "000000" if right != "000000" else "111111"
    with engine.begin() as conn:
        owed = users.authenticate(conn, "tess", PASSWORD, None, now=later)
    assert owed.viewer is None
    assert owed.code_owed_by == viewer.user_id
    for _ in range(users.LOCK_AFTER_FAILURES - 1):
        with engine.begin() as conn:
            users.verify_code(conn, viewer.user_id, wrong, None, now=later)
    # A right password again does not wipe the count: guessing codes still ends in a lock.
    with engine.begin() as conn:
        assert users.authenticate(conn, "tess", PASSWORD, None, now=later).code_owed_by
        users.verify_code(conn, viewer.user_id, wrong, None, now=later)
    row = user_row(engine, viewer.user_id)
    assert row.locked_until is not None
    with engine.begin() as conn:
        locked = users.verify_code(conn, viewer.user_id, right, None, now=later)
    assert locked.viewer is None
    assert locked.error == users.LOCKED


def test_it_throttles_code_attempts_by_address(
    engine: Engine, clinic: Clinic, fresh_client: TestClient
) -> None:
    enable_totp(engine, therapist_viewer(clinic), datetime.now(UTC))
    fresh_client.post("/login", data={"username": "tess", "password": PASSWORD})
    statuses = [
        fresh_client.post("/login", data={"code": "000001"}).status_code
        for _ in range(THROTTLE_ATTEMPTS)
    ]
    assert 429 in statuses  # the password post counted too: the code posts share its limit
    assert user_row(engine, clinic.therapist_id).locked_until is not None


def test_it_requires_the_code_to_unlock_the_tablet(
    engine: Engine, clinic: Clinic, fresh_client: TestClient
) -> None:
    now = datetime.now(UTC)
    secret = enable_totp(engine, therapist_viewer(clinic), now - timedelta(seconds=90))
    fresh_client.post("/login", data={"username": "tess", "password": PASSWORD})
    code = pyotp.TOTP(secret).at(now)
    assert fresh_client.post("/login", data={"code": code}, follow_redirects=False).is_redirect
    locked = fresh_client.post(
        f"/episodes/{clinic.rupture_episode}/sessions/{clinic.rupture_sessions[-1]}/tablet",
        data={"instrument": "srs"},
        follow_redirects=False,
    )
    assert locked.status_code == 303
    assert locked.headers["location"].startswith("/tablet/")
    no_code = fresh_client.post("/tablet/unlock", data={"password": PASSWORD})
    assert no_code.status_code == 400
    assert "code" in no_code.text
    # The same code twice: already spent at sign-in.
    replay = fresh_client.post("/tablet/unlock", data={"password": PASSWORD, "code": code})
    assert replay.status_code == 400
    # The next step's code is unspent and inside the ±1 window.
    fresh = pyotp.TOTP(secret).at(now + timedelta(seconds=30))
    unlocked = fresh_client.post(
        "/tablet/unlock", data={"password": PASSWORD, "code": fresh}, follow_redirects=False
    )
    assert unlocked.status_code == 303
    assert fresh_client.get("/caseload").status_code == 200


def test_it_lets_an_admin_remove_a_lost_second_factor(
    engine: Engine,
    clinic: Clinic,
    persona_client: Callable[[str], TestClient],
    fresh_client: TestClient,
) -> None:
    enable_totp(engine, therapist_viewer(clinic), NOW)
    admin = persona_client("admin")
    assert "Remove second factor" in admin.get("/admin/users").text
    removed = admin.post(f"/admin/users/{clinic.therapist_id}/totp/remove", follow_redirects=False)
    assert removed.status_code == 303
    again = admin.post(f"/admin/users/{clinic.therapist_id}/totp/remove")
    assert again.status_code == 400
    assert "no second factor" in again.text
    row = user_row(engine, clinic.therapist_id)
    assert not row.totp_enabled
    assert row.totp_secret is None
    assert row.totp_last_step is None
    with engine.connect() as conn:
        events = [(e.action, e.actor, e.object_id) for e in audit.events(conn)]
    assert ("remove_totp", clinic.admin_id, str(clinic.therapist_id)) in events
    # Password alone signs in again.
    sign_in(fresh_client, "tess")
    assert fresh_client.get("/caseload").status_code == 200


def test_it_keeps_removal_to_admins(
    persona_client: Callable[[str], TestClient], clinic: Clinic
) -> None:
    for persona in ("therapist_a", "supervisor_of_a"):
        response = persona_client(persona).post(
            f"/admin/users/{clinic.therapist_id}/totp/remove", follow_redirects=False
        )
        assert response.status_code == 403, persona
