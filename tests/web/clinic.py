"""A small clinic built through the store's own operations, for the web tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine

from alliance.services import wording
from alliance.services.passwords import hash_password
from alliance.store import episodes, goals, people, sessions
from alliance.store.access import Viewer
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.migrate import upgrade
from tests.conftest import read_utc_clock

PASSWORD = "correct horse battery"
# Made-up wording in the format of a licensed wording file: the measures whose wording does not
# ship are offered to clients only once a clinic has added it.
WORDING_FILES = {"ors": "ors.json", "srs": "srs.json", "wai_sr": "wai_sr.csv"}
WORDING_DIR = Path(__file__).parent / "wording"

# SRS totals per session for the rupture client: a V at session 3 (Stiles-like rupture, repaired).
RUPTURE_SRS = [38.0, 38.5, 27.0, 38.0, 38.5, 38.0]
RUPTURE_PHQ9 = [18, 17, 17, 15, 13, 12]


@dataclass
class Clinic:
    organisation_id: int
    admin_id: int
    supervisor_id: int
    therapist_id: int
    other_therapist_id: int
    rupture_episode: int
    risk_episode: int
    other_episode: int
    today: date
    rupture_sessions: list[int] = field(default_factory=list)
    usernames: dict[str, str] = field(default_factory=dict)


def srs_answers(total: float) -> dict[str, float]:
    quarter = round(total / 4, 1)
    last = round(total - 3 * quarter, 1)
    return {"1": quarter, "2": quarter, "3": quarter, "4": last}


def phq9_answers(total: int, item9: int = 0) -> dict[str, int]:
    answers = {str(i): 0 for i in range(1, 10)}
    remaining = total - item9
    for i in range(1, 9):
        step = min(3, remaining)
        answers[str(i)] = step
        remaining -= step
    answers["9"] = item9
    return answers


def add_test_wording(conn: Connection, admin_id: int, organisation_id: int) -> None:
    """The test clinic's "licensed" wording of ORS, SRS and WAI-SR, through the admin's upload."""
    admin = Viewer(admin_id, "admin", "Admin", "admin", organisation_id, None)
    for instrument_id, name in WORDING_FILES.items():
        content = (WORDING_DIR / name).read_bytes()
        wording.upload_wording(
            conn,
            admin,
            instrument_id,
            name,
            content,
            "Test clinic",
            read_utc_clock().today.isoformat(),
        )


def build_clinic(engine: Engine, today: date | None = None) -> Clinic:
    """Org, admin, supervisor, two therapists; a rupture, a risk and another's episode.

    Dates count back from `today` (by default the real UTC date): the app reads the real UTC
    clock and refuses a date after its today, so a local date would fail east of Greenwich.
    """
    upgrade(engine)
    system = Actor.system()
    today = today or read_utc_clock().today
    with engine.begin() as conn:
        org = people.create_organisation(conn, system, "Test clinic")

        def user(name: str, role: str, supervisor: int | None = None) -> int:
            return people.create_user(
                conn,
                system,
                organisation_id=org,
                username=name,
                role=role,
                display_name=name.title(),
                password_hash=hash_password(PASSWORD),
                supervisor_id=supervisor,
                must_change_password=False,
            )

        admin = user("admin", "admin")
        supervisor = user("sam", "supervisor")
        therapist = user("tess", "therapist", supervisor)
        other = user("otto", "therapist")

        def episode(therapist_id: int, code: str, opened: date) -> int:
            client = people.create_client(conn, system, organisation_id=org, code=code)
            return episodes.open_episode(
                conn, system, client_id=client, therapist_id=therapist_id, opened_on=opened
            )

        start = today - timedelta(weeks=len(RUPTURE_SRS) + 1)
        rupture = episode(therapist, "RUPT-001", start)
        episodes.record_consent(conn, system, rupture, start)
        goals.add_goal(conn, system, rupture, "Sleep through most nights")
        episodes.move_stage(conn, system, rupture, "process")
        session_ids = []
        for n, (srs, phq) in enumerate(zip(RUPTURE_SRS, RUPTURE_PHQ9, strict=True), start=1):
            sid = sessions.record_session(conn, system, rupture, start + timedelta(weeks=n))
            session_ids.append(sid)
            record_administration(conn, system, rupture, "srs", srs_answers(srs), session_id=sid)
            record_administration(conn, system, rupture, "phq9", phq9_answers(phq), session_id=sid)
        risk = episode(therapist, "RISK-002", today - timedelta(days=7))
        sid = sessions.record_session(conn, system, risk, today - timedelta(days=1))
        record_administration(conn, system, risk, "phq9", phq9_answers(16, item9=1), session_id=sid)
        other_episode = episode(other, "OTHR-003", today - timedelta(days=7))
        add_test_wording(conn, admin, org)
    return Clinic(
        organisation_id=org,
        admin_id=admin,
        supervisor_id=supervisor,
        therapist_id=therapist,
        other_therapist_id=other,
        rupture_episode=rupture,
        risk_episode=risk,
        other_episode=other_episode,
        today=today,
        rupture_sessions=session_ids,
        usernames={"admin": "admin", "supervisor": "sam", "therapist": "tess", "other": "otto"},
    )
