"""Benchmark: the client chart page for an episode with 20 sessions × 4 measures, against /healthz.

The server runs as `alliance serve` in a subprocess over a fresh SQLite database holding one
therapist and one open episode: 20 sessions, each with a PHQ-9, a GAD-7, an ORS and an SRS. This
process signs in and loads the chart page (`/episodes/{id}`) and `/healthz` alternately, one
request at a time, so both see the same machine load; it prints p50 and p95 of each.

Target (issue "Alerts a clinician can trust"): chart page p95 under 150 ms.

Run: python bench/chart.py [--loads 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
from rich.console import Console

from alliance.services.passwords import hash_password
from alliance.store import episodes, people, sessions
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.migrate import upgrade

PASSWORD = "correct horse battery"
SESSIONS = 20
TARGET_MS = 150.0
console = Console()


def build(db: Path) -> int:
    """One therapist, one open episode of 20 sessions × PHQ-9, GAD-7, ORS and SRS."""
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    system = Actor.system()
    start = date(2026, 1, 5)
    with engine.begin() as conn:
        org = people.create_organisation(conn, system, "Bench clinic")
        therapist = people.create_user(
            conn,
            system,
            organisation_id=org,
            username="tess",
            role="therapist",
            display_name="Tess",
            password_hash=hash_password(PASSWORD),
            must_change_password=False,
        )
        client = people.create_client(conn, system, organisation_id=org, code="CHART-01")
        episode = episodes.open_episode(
            conn, system, client_id=client, therapist_id=therapist, opened_on=start
        )
        for n in range(1, SESSIONS + 1):
            sid = sessions.record_session(conn, system, episode, start + timedelta(weeks=n))
            level = float(max(0, 3 - n // 6))
            forms: dict[str, dict[str, float]] = {
                "phq9": {str(i): level for i in range(1, 10)} | {"9": 0.0},
                "gad7": {str(i): level for i in range(1, 8)},
                "ors": {str(i): 4.0 + n * 0.2 for i in range(1, 5)},
                "srs": {str(i): 9.5 - (2.0 if n == 9 else 0.0) for i in range(1, 5)},
            }
            for instrument, answers in forms.items():
                record_administration(conn, system, episode, instrument, answers, session_id=sid)
    engine.dispose()
    return episode


def start_server(db: Path, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [
            sys.executable,
            *("-c", "from alliance.cli import main; main()", "serve"),
            *("--db", f"sqlite:///{db}", "--port", str(port)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ALLIANCE_LOG_LEVEL": "WARNING"},
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def sign_in(client: httpx.Client) -> None:
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": "tess", "password": PASSWORD},
        headers={"X-CSRF-Token": client.cookies.get("alliance_csrf") or ""},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=100)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"load average at start (1, 5, 15 min): {load}")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "chart.db"
        episode = build(db)
        server = start_server(db, args.port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{args.port}", timeout=60) as client:
                sign_in(client)
                page = f"/episodes/{episode}"
                assert client.get(page).status_code == 200
                timings: dict[str, list[float]] = {page: [], "/healthz": []}
                for _ in range(args.loads):
                    for path in timings:
                        start = time.perf_counter()
                        response = client.get(path)
                        timings[path].append((time.perf_counter() - start) * 1000)
                        assert response.status_code == 200, path
        finally:
            server.terminate()
            server.wait(timeout=30)
    for path, values in timings.items():
        name = "chart page (20 sessions × 4 measures)" if path != "/healthz" else "/healthz"
        console.print(
            f"{name:<40} p50 {pct(values, 50):7.1f} ms  p95 {pct(values, 95):7.1f} ms  "
            f"max {max(values):7.1f} ms",
            soft_wrap=True,
        )
    chart = timings[f"/episodes/{episode}"]
    health = timings["/healthz"]
    console.print(
        f"ratio chart page / /healthz: p50 {pct(chart, 50) / pct(health, 50):.1f}x, "
        f"p95 {pct(chart, 95) / pct(health, 95):.1f}x"
    )
    met = "met" if pct(chart, 95) < TARGET_MS else "NOT met"
    console.print(f"target p95 < {TARGET_MS:.0f} ms: {met}")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    console.print(f"load average at end (1, 5, 15 min): {load}")


if __name__ == "__main__":
    main()
