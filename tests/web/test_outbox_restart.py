"""Kill the real server (SIGKILL) with messages queued: after a restart each is sent once.

`alliance serve` runs in a subprocess over a SQLite file; invitations are queued through the
services while it runs (its sender polls only hourly, so they stay queued); the process is
killed. A second server, and two `alliance outbox run --once` beside it, then share the queue:
the SMTP server on loopback receives every invitation exactly once.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from alliance.config import load_settings
from alliance.services import links, outbox
from alliance.store import people
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.base import Actor, utc_now
from alliance.store.engine import make_engine
from tests.security.conftest import SECRET, therapist_viewer
from tests.security.test_crash_safety import server
from tests.web.clinic import build_clinic
from tests.web.gateways import smtp_server

pytestmark = pytest.mark.slow
MESSAGES = 8
CLIENT_EMAIL = "jo.client@example.org"


def queue_invitations(
    database_url: str, viewer: Viewer, episode_id: int, session_id: int
) -> list[str]:
    settings = load_settings(database_url=database_url, secret_key=SECRET)
    engine = make_engine(database_url)
    tokens = []
    with engine.begin() as conn:
        for _ in range(MESSAGES):
            new = links.create_link(conn, viewer, episode_id, session_id, "srs", 3 * 24 * 60)
            outbox.queue_invitation(
                conn,
                viewer,
                settings,
                SECRET,
                episode_id=episode_id,
                link_id=new.link_id,
                token=new.token,
                channel="email",
                base_url="http://127.0.0.1:8000/",
            )
            tokens.append(new.token)
    engine.dispose()
    return tokens


def test_it_sends_each_queued_message_exactly_once_after_sigkill(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'alliance.db'}"
    engine = make_engine(database_url)
    clinic = build_clinic(engine)
    with engine.begin() as conn:
        client_id = conn.execute(
            select(t.episodes.c.client_id).where(t.episodes.c.id == clinic.rupture_episode)
        ).scalar_one()
        people.set_client_identity(
            conn, Actor.system(), client_id, name=None, contact=None, email=CLIENT_EMAIL
        )
        conn.execute(
            t.client_identities.update()
            .where(t.client_identities.c.client_id == client_id)
            .values(contact_consent_at=utc_now())
        )
    log = tmp_path / "server.log"
    with smtp_server() as box:
        env = {
            "ALLIANCE_SMTP_URL": box.url(),
            "ALLIANCE_MAIL_FROM": "checkins@riverside.example.org",
            "ALLIANCE_OUTBOX_POLL_SECONDS": "3600",
        }
        os.environ.update(env)
        try:
            with server(database_url, log) as (process, _):
                tokens = queue_invitations(
                    database_url,
                    therapist_viewer(clinic),
                    clinic.rupture_episode,
                    clinic.rupture_sessions[-1],
                )
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=20)
            assert box.received == []
            os.environ["ALLIANCE_OUTBOX_POLL_SECONDS"] = "0.2"
            alliance = str(Path(sys.executable).with_name("alliance"))
            with server(database_url, log):
                cron = [
                    subprocess.Popen(
                        [alliance, "outbox", "run", "--once", "--db", database_url],
                        env={**os.environ, "ALLIANCE_SECRET_KEY": SECRET},
                        stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT,
                    )
                    for _ in range(2)
                ]
                for process in cron:
                    assert process.wait(timeout=120) == 0, process.stdout
                deadline = time.monotonic() + 60
                while len(box.received) < MESSAGES and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1)  # a duplicate, were there one, would arrive now
        finally:
            for name in env:
                os.environ.pop(name, None)
    sent = [
        re.search(r"/f/(\S+)", m.get_payload(decode=True).decode())[1]  # type: ignore[union-attr,index]
        for m in box.received
    ]
    assert sorted(sent) == sorted(tokens)
    with engine.connect() as conn:
        states = conn.execute(select(t.outbox_messages.c.state, t.outbox_messages.c.attempts)).all()
    assert states == [("sent", 1)] * MESSAGES
    engine.dispose()
