"""An admin's password reset leaves a trace: no silent reading of clinical data as the therapist.

The admin is shown the one-time password, so they could sign in as the therapist and read
clinical data without break glass, the audit showing the reads as the therapist's. Now the first
sign-in after the reset is audited as `reset_sign_in` naming the admin, every event of that
sign-in carries `_after_reset`, the therapist sees a banner naming the admin and the date, and
their supervisor sees the reset on the supervision page.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from alliance.store import tables as t
from tests.web.clinic import Clinic
from tests.web.conftest import sign_in

NEW_PASSWORD = "a brand new passphrase"


def events_of(engine: Engine, user_id: int) -> list[tuple[str, str, str | None]]:
    a = t.audit_events
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.c.action, a.c.object_type, a.c.object_id)
            .where(a.c.actor == user_id)
            .order_by(a.c.seq)
        ).all()
    return [(r.action, r.object_type, r.object_id) for r in rows]


def reset_and_sign_in(clinic: Clinic, persona_client: Callable[[str], TestClient]) -> TestClient:
    """The admin resets Tess's password, and whoever holds the one-time password signs in."""
    admin = persona_client("admin")
    page = admin.post(f"/admin/users/{clinic.therapist_id}/password")
    found = re.search(r'<code id="reset-otp">([^<]+)</code>', page.text)
    assert found is not None
    one_time = found.group(1)
    holder = persona_client("anonymous")
    sign_in(holder, "tess", one_time)
    holder.post(
        "/account/password",
        data={"current": one_time, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD},
    )
    return holder


def test_it_marks_the_sign_in_and_reads_after_an_admin_reset(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    holder = reset_and_sign_in(clinic, persona_client)
    assert holder.get(f"/episodes/{clinic.rupture_episode}").status_code == 200
    events = events_of(engine, clinic.therapist_id)
    assert ("reset_sign_in", "user", str(clinic.admin_id)) in events
    assert ("read_after_reset", "episode", str(clinic.rupture_episode)) in events
    assert ("read", "episode", str(clinic.rupture_episode)) not in events
    # Every page of that sign-in names the admin and the date to the account's owner.
    banner = holder.get("/caseload").text
    assert 'id="reset-notice"' in banner
    assert "Your password was reset by Admin on " in banner


def test_it_tells_the_supervisor_of_the_reset(
    clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    supervisor = persona_client("supervisor_of_a")
    assert 'id="password-resets"' not in supervisor.get("/supervision").text
    reset_and_sign_in(clinic, persona_client)
    page = supervisor.get("/supervision").text
    assert 'id="password-resets"' in page
    assert "Tess: reset by Admin on" in page
    assert "not confirmed by Tess" in page
    # Another supervisor's page says nothing of it.
    assert (
        'id="password-resets"'
        not in persona_client("supervisor_of_nobody").get("/supervision").text
    )


def test_it_stops_marking_once_the_owner_confirms_the_reset(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    holder = reset_and_sign_in(clinic, persona_client)
    confirmed = holder.post("/account/reset/confirm", follow_redirects=False)
    assert confirmed.status_code == 303
    assert ("confirm_reset_after_reset", "user", str(clinic.therapist_id)) in events_of(
        engine, clinic.therapist_id
    )
    assert holder.post("/account/reset/confirm").status_code == 400
    again = persona_client("anonymous")
    sign_in(again, "tess", NEW_PASSWORD)
    assert 'id="reset-notice"' not in again.get("/caseload").text
    again.get(f"/episodes/{clinic.rupture_episode}")
    assert ("read", "episode", str(clinic.rupture_episode)) in events_of(
        engine, clinic.therapist_id
    )
