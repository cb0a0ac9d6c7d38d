"""An admin resets a password: one-time, shown once, argon2id, unlocks, audited, then changed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, Row, select, update

from alliance.services.passwords import hash_password, verify_password
from alliance.store import audit, people
from alliance.store import tables as t
from alliance.store.base import Actor, utc_now
from tests.web.clinic import PASSWORD, Clinic
from tests.web.conftest import sign_in


def user_row(engine: Engine, user_id: int) -> Row[Any]:
    with engine.connect() as conn:
        return conn.execute(select(t.users).where(t.users.c.id == user_id)).one()


def test_it_sets_a_one_time_password_that_must_be_changed(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    with engine.begin() as conn:  # a locked account with failures counted
        conn.execute(
            update(t.users)
            .where(t.users.c.id == clinic.other_therapist_id)
            .values(failed_logins=3, locked_until=utc_now().replace(year=2999))
        )
    admin = persona_client("admin")
    response = admin.post(f"/admin/users/{clinic.other_therapist_id}/password")
    assert response.status_code == 200
    found = re.search(r'<code id="reset-otp">([^<]+)</code>', response.text)
    assert found is not None
    one_time = found.group(1)
    assert len(one_time) >= 12
    row = user_row(engine, clinic.other_therapist_id)
    assert row.password_hash.startswith("$argon2id$")
    assert verify_password(row.password_hash, one_time)
    assert not verify_password(row.password_hash, PASSWORD)
    assert row.must_change_password
    assert row.failed_logins == 0
    assert row.locked_until is None
    # Shown once: the users page does not show it again, and it is in no audit row.
    assert one_time not in admin.get("/admin/users").text
    with engine.connect() as conn:
        events = audit.events(conn)
    assert ("reset_password", clinic.admin_id, str(clinic.other_therapist_id)) in [
        (e.action, e.actor, e.object_id) for e in events
    ]
    assert not any(one_time in repr(e) for e in events)

    # The user signs in with it and is held on the password form until they choose their own.
    otto = persona_client("anonymous")
    sign_in(otto, "otto", one_time)
    held = otto.get("/caseload", follow_redirects=False)
    assert held.status_code == 303
    assert held.headers["location"] == "/account/password"
    new = "a brand new passphrase"
    changed = otto.post(
        "/account/password",
        data={"current": one_time, "new": new, "repeat": new},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert otto.get("/caseload").status_code == 200
    assert not user_row(engine, clinic.other_therapist_id).must_change_password


def test_it_ends_the_old_password_and_open_sessions(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    otto = persona_client("therapist_b")
    assert otto.get("/caseload").status_code == 200
    admin = persona_client("admin")
    assert admin.post(f"/admin/users/{clinic.other_therapist_id}/password").status_code == 200
    # A session opened before the reset has ended: whoever holds it must sign in again.
    assert otto.get("/caseload", follow_redirects=False).headers["location"] == "/login"
    stranger = persona_client("anonymous")
    refused = stranger.post("/login", data={"username": "otto", "password": PASSWORD})
    assert refused.status_code == 400


def test_it_refuses_own_account_other_clinics_and_non_admins(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    with engine.begin() as conn:
        elsewhere = people.create_organisation(conn, Actor.system(), "Another clinic")
        stranger_id = people.create_user(
            conn,
            Actor.system(),
            organisation_id=elsewhere,
            username="zoe",
            role="therapist",
            display_name="Zoe",
            password_hash=hash_password(PASSWORD),
            must_change_password=False,
        )
    before = user_row(engine, stranger_id).password_hash
    admin = persona_client("admin")
    assert admin.post(f"/admin/users/{stranger_id}/password").status_code == 404
    assert admin.post("/admin/users/999999/password").status_code == 404
    own = admin.post(f"/admin/users/{clinic.admin_id}/password")
    assert own.status_code == 400
    assert "your own password" in own.text
    assert user_row(engine, stranger_id).password_hash == before
    for persona in ("therapist_a", "supervisor_of_a", "supervisor_of_nobody"):
        response = persona_client(persona).post(
            f"/admin/users/{clinic.other_therapist_id}/password", follow_redirects=False
        )
        assert response.status_code == 403, persona
    assert verify_password(user_row(engine, clinic.other_therapist_id).password_hash, PASSWORD)
