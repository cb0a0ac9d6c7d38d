"""`alliance serve --demo` end to end, and the admin pages' forms."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.store import tables as t
from tests.web.clinic import Clinic
from tests.web.conftest import sign_in
from tests.web.server import free_port


def test_it_serves_the_demo_and_prints_only_the_accounts() -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from alliance.cli import main; main()",
            "serve",
            "--demo",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert server.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            lines.append(line)
            if line.startswith("Alliance at"):
                break
        for _ in range(100):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/login").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=10)
    text = "".join(lines)
    accounts = [line.split() for line in lines if line.startswith("  ")]
    assert {a[0] for a in accounts} == {"therapist", "supervisor", "admin"}
    assert all(len(a) == 3 and len(a[2]) >= 12 for a in accounts)
    assert "C-" not in text  # no client codes, let alone client content


def test_it_creates_an_account_with_a_one_time_password(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "admin")
    empty = app_client.post(
        "/admin/users", data={"username": "", "display_name": "", "role": "therapist"}
    )
    assert empty.status_code == 400
    assert "a username is required" in empty.text
    made = app_client.post(
        "/admin/users",
        data={"username": "nina", "display_name": "Nina", "role": "therapist", "supervisor_id": ""},
    )
    assert 'id="otp"' in made.text
    with engine.connect() as conn:
        row = conn.execute(select(t.users).where(t.users.c.username == "nina")).one()
    assert row.must_change_password
    assert row.password_hash.startswith("$argon2id$")


def test_it_sets_an_instrument_schedule_and_refuses_a_bad_rule(
    app_client: TestClient, clinic: Clinic, engine: Engine
) -> None:
    sign_in(app_client, "admin")
    bad = app_client.post("/admin/schedules", data={"instrument": "srs", "session_rule": "often"})
    assert bad.status_code == 400
    assert "is not a rule" in bad.text
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.instrument_schedules)).scalar() == 0
    app_client.post(
        "/admin/schedules", data={"instrument": "srs", "session_rule": "every", "active": "on"}
    )
    app_client.post(
        "/admin/schedules", data={"instrument": "phq9", "session_rule": "1,4,8", "active": "on"}
    )
    page = app_client.get("/admin/schedules").text
    assert "1,4,8" in page
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.instrument_schedules)).scalar() == 2
