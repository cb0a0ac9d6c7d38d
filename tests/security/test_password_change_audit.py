"""A password change is audited (who, whose account, when), and a refused one writes nothing."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from alliance.store import audit
from tests.web.clinic import PASSWORD, Clinic


def changes(engine: Engine) -> list[tuple[int | None, str | None]]:
    with engine.connect() as conn:
        return [(e.actor, e.object_id) for e in audit.events(conn) if e.action == "change_password"]


def test_it_audits_a_password_change_and_not_a_refused_one(
    engine: Engine, clinic: Clinic, persona_client: Callable[[str], TestClient]
) -> None:
    tess = persona_client("therapist_a")
    new = "a brand new passphrase"
    refused = tess.post(
        "/account/password",
        data={"current": "not my password", "new": new, "repeat": new},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert changes(engine) == []
    done = tess.post(
        "/account/password",
        data={"current": PASSWORD, "new": new, "repeat": new},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert changes(engine) == [(clinic.therapist_id, str(clinic.therapist_id))]
    with engine.connect() as conn:
        assert audit.verify(conn) is None  # the chain still checks out
