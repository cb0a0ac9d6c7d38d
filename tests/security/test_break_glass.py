"""Break glass: an admin's stated-reason, time-limited, read-only, audited access to one episode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.domain import DomainError
from alliance.errors import NotVisibleError
from alliance.services.caseload import caseload
from alliance.services.episodes import episode_detail
from alliance.store import audit, break_glass, people
from alliance.store import tables as t
from alliance.store.access import Viewer, can_read, check_write
from alliance.store.base import (
    AccessDeniedError,
    Actor,
    NotFoundError,
    load_episode,
    utc_now,
)
from tests.web.clinic import Clinic

REASON = "Therapist on sick leave; client's GP requested the risk history urgently."


def grants(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(t.break_glass_grants)).scalar_one()
        )


def actions(engine: Engine) -> list[tuple[str, int | None, str, str | None]]:
    with engine.connect() as conn:
        return [(e.action, e.actor, e.object_type, e.object_id) for e in audit.events(conn)]


def test_it_requires_a_stated_reason_and_stores_nothing_without_one(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    admin = persona_client("admin")
    assert "Break glass" in admin.get("/admin/break-glass").text
    short = admin.post(
        "/admin/break-glass", data={"episode_id": str(clinic.rupture_episode), "reason": "need"}
    )
    assert short.status_code == 400
    assert f"at least {break_glass.REASON_MIN}" in short.text
    not_a_number = admin.post("/admin/break-glass", data={"episode_id": "E1", "reason": REASON})
    assert not_a_number.status_code == 400
    missing = admin.post("/admin/break-glass", data={"episode_id": "999999", "reason": REASON})
    assert missing.status_code == 400
    assert "does not exist" in missing.text
    assert grants(engine) == 0
    assert not any(a[0] == "break_glass" for a in actions(engine))
    with engine.begin() as conn, pytest.raises(DomainError, match="reason"):
        break_glass.open_grant(conn, Actor(clinic.admin_id), clinic.rupture_episode, " " * 30)


def test_it_opens_one_episode_read_only_and_audits_grant_and_reads(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    admin = persona_client("admin")
    opened = admin.post(
        "/admin/break-glass",
        data={"episode_id": str(clinic.rupture_episode), "reason": REASON},
        follow_redirects=False,
    )
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/episodes/{clinic.rupture_episode}"
    page = admin.get(f"/episodes/{clinic.rupture_episode}/details")
    assert page.status_code == 200
    assert "RUPT-001" in page.text
    assert "Read-only under break glass" in page.text
    # Read-only: no write form is offered and a write is refused at the route and in the store.
    assert f'action="/episodes/{clinic.rupture_episode}/goals"' not in page.text
    write = admin.post(
        f"/episodes/{clinic.rupture_episode}/goals", data={"text": "x"}, follow_redirects=False
    )
    assert write.status_code == 403
    with engine.connect() as conn:
        episode, _ = load_episode(conn, clinic.rupture_episode)
        with pytest.raises(AccessDeniedError):
            check_write(conn, Actor(clinic.admin_id), episode, clinic.rupture_episode)
    # One episode only, even of the same therapist; the JSON API is not opened.
    assert admin.get(f"/episodes/{clinic.risk_episode}/details").status_code == 404
    assert admin.get(f"/api/episodes/{clinic.rupture_episode}").status_code == 403

    log = actions(engine)
    e = str(clinic.rupture_episode)
    assert ("break_glass", clinic.admin_id, "episode", e) in log
    assert ("read", clinic.admin_id, "episode", e) in log
    assert log.index(("break_glass", clinic.admin_id, "episode", e)) < log.index(
        ("read", clinic.admin_id, "episode", e)
    )
    # The reason is kept with the grant, never in the audit log.
    with engine.connect() as conn:
        stored = conn.execute(select(t.break_glass_grants.c.reason)).scalar_one()
        rows = [repr(r) for r in conn.execute(select(t.audit_events)).all()]
    assert stored == REASON
    assert not any("sick leave" in r for r in rows)
    assert "sick leave" in admin.get("/admin/break-glass").text


def test_it_ends_when_the_time_is_up(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    long_ago = utc_now() - timedelta(minutes=break_glass.GRANT_MINUTES + 1)
    with engine.begin() as conn:
        grant = break_glass.open_grant(
            conn, Actor(clinic.admin_id), clinic.rupture_episode, REASON, now=long_ago
        )
    assert grant.expires_at - grant.granted_at == timedelta(minutes=break_glass.GRANT_MINUTES)
    with engine.connect() as conn:
        assert break_glass.has_live_grant(
            conn, clinic.admin_id, clinic.rupture_episode, now=long_ago + timedelta(minutes=59)
        )
        assert not break_glass.has_live_grant(conn, clinic.admin_id, clinic.rupture_episode)
    response = persona_client("admin").get(f"/episodes/{clinic.rupture_episode}/details")
    assert response.status_code == 404
    assert "RUPT-001" not in response.text
    with engine.begin() as conn, pytest.raises(DomainError, match="minutes"):
        break_glass.open_grant(
            conn, Actor(clinic.admin_id), clinic.rupture_episode, REASON, minutes=600
        )


def test_it_shows_the_access_to_the_therapist_and_supervisor(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    with engine.begin() as conn:
        grant = break_glass.open_grant(conn, Actor(clinic.admin_id), clinic.rupture_episode, REASON)
    when = grant.granted_at.strftime("%Y-%m-%d %H:%M")
    for persona in ("therapist_a", "supervisor_of_a"):
        client = persona_client(persona)
        for url in (
            f"/episodes/{clinic.rupture_episode}",
            f"/episodes/{clinic.rupture_episode}/details",
        ):
            text = client.get(url).text
            assert f"Accessed under break glass by admin Admin on {when}" in text, persona
            assert "sick leave" in text
    # Another episode of the same therapist shows nothing of it.
    other = persona_client("therapist_a").get(f"/episodes/{clinic.risk_episode}/details").text
    assert "Accessed under break glass" not in other


def test_it_is_enforced_in_the_store_not_only_the_pages(engine: Engine, clinic: Clinic) -> None:
    admin = Actor(clinic.admin_id)
    viewer = Viewer(clinic.admin_id, "admin", "Admin", "admin", None, None)
    with engine.connect() as conn:
        assert not can_read(conn, admin, clinic.therapist_id, episode_id=clinic.rupture_episode)
        with pytest.raises(NotVisibleError):
            episode_detail(conn, viewer, clinic.rupture_episode)
    with engine.begin() as conn:
        break_glass.open_grant(conn, admin, clinic.rupture_episode, REASON)
    with engine.begin() as conn:
        detail = episode_detail(conn, viewer, clinic.rupture_episode)
        assert detail.client_code == "RUPT-001"
        assert detail.can_write is False
        # Without naming the episode (a caseload, a write path) the grant counts for nothing.
        assert not can_read(conn, admin, clinic.therapist_id)
        assert not can_read(conn, admin, clinic.therapist_id, episode_id=clinic.risk_episode)
        with pytest.raises(NotVisibleError):
            episode_detail(conn, viewer, clinic.risk_episode)
        assert caseload(conn, viewer) == []
    assert actions(engine)[-2] == ("read", clinic.admin_id, "episode", str(clinic.rupture_episode))


def test_it_is_for_active_admins_of_the_episodes_clinic_only(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    with engine.begin() as conn:
        for user_id in (clinic.therapist_id, clinic.supervisor_id, clinic.other_therapist_id):
            with pytest.raises(AccessDeniedError):
                break_glass.open_grant(conn, Actor(user_id), clinic.rupture_episode, REASON)
        elsewhere = people.create_organisation(conn, Actor.system(), "Another clinic")
        outsider = people.create_user(
            conn,
            Actor.system(),
            organisation_id=elsewhere,
            username="oz",
            role="admin",
            display_name="Oz",
            password_hash=None,
            must_change_password=False,
        )
        with pytest.raises(NotFoundError):
            break_glass.open_grant(conn, Actor(outsider), clinic.rupture_episode, REASON)
    for persona in ("therapist_a", "supervisor_of_a", "anonymous"):
        response = persona_client(persona).post(
            "/admin/break-glass",
            data={"episode_id": str(clinic.rupture_episode), "reason": REASON},
            follow_redirects=False,
        )
        assert response.status_code in {303, 403}, persona
        assert response.headers.get("location", "/login").startswith("/login")
    assert grants(engine) == 0
