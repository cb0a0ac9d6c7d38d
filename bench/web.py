"""Web load: client-form submissions and the caseload page, from a second process on loopback.

The server runs as `alliance serve` in a subprocess over a SQLite demo database to which one
therapist's caseload is grown to 200 open episodes; this process drives it with httpx from
threads. Baseline: the trivial /healthz endpoint, measured in the same run.

Client-form submissions are also run against a server with --write-batch 1 (each submission
its own commit, as before group commit) for the ratio. "caseload page after a new score" loads
the page right after a submission, so the cached analysis is recomputed each time.

Run: python bench/web.py [--submissions 3000] [--caseload 200] [--threads 8] [--compare-batch 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine, func, select, update

from alliance.services import links
from alliance.services.passwords import hash_password
from alliance.store import episodes, people, sessions
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.administrations import record_administration
from alliance.store.base import Actor
from alliance.store.demo import populate
from alliance.store.engine import make_engine

PASSWORD = "bench password 123"
console = Console()


def build(db: Path, open_episodes: int, n_links: int) -> tuple[str, list[str]]:
    """Demo clinic, one therapist grown to `open_episodes` open episodes, and fresh link tokens."""
    engine = make_engine(f"sqlite:///{db}")
    populate(engine, seed=0)
    system = Actor.system()
    today = date.today()
    with engine.begin() as conn:
        therapist = conn.execute(
            select(t.users.c.id, t.users.c.username, t.users.c.organisation_id)
            .where(t.users.c.role == "therapist")
            .order_by(t.users.c.id)
        ).first()
        assert therapist is not None
        conn.execute(
            update(t.users)
            .where(t.users.c.id == therapist.id)
            .values(password_hash=hash_password(PASSWORD), must_change_password=False)
        )
        have = conn.execute(
            select(func.count())
            .select_from(t.episodes)
            .where(t.episodes.c.therapist_id == therapist.id, t.episodes.c.closed_on.is_(None))
        ).scalar_one()
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Growing the caseload", total=open_episodes - have)
        with engine.begin() as conn:
            for n in range(open_episodes - have):
                client = people.create_client(
                    conn, system, organisation_id=therapist.organisation_id
                )
                start = today - timedelta(weeks=8)
                episode = episodes.open_episode(
                    conn, system, client_id=client, therapist_id=therapist.id, opened_on=start
                )
                for k in range(1, 7):
                    sid = sessions.record_session(conn, system, episode, start + timedelta(weeks=k))
                    srs = 38.0 - (4.0 if (n + k) % 9 == 0 else 0.0)
                    record_administration(
                        conn,
                        system,
                        episode,
                        "srs",
                        {"1": srs / 4, "2": srs / 4, "3": srs / 4, "4": srs / 4},
                        session_id=sid,
                    )
                    phq = max(0, 18 - k - n % 4)
                    answers = {str(i): min(3, max(0, phq - 3 * (i - 1))) for i in range(1, 10)}
                    record_administration(conn, system, episode, "phq9", answers, session_id=sid)
                progress.advance(task)
        viewer = Viewer(therapist.id, therapist.username, "", "therapist", None, "127.0.0.1")
        first = conn_first_episode(engine, therapist.id)
        tokens = []
        with engine.begin() as conn:
            for _ in range(n_links):
                tokens.append(links.create_link(conn, viewer, first, None, "srs", 600).token)
    engine.dispose()
    return therapist.username, tokens


def conn_first_episode(engine: Engine, therapist_id: int) -> int:
    with engine.connect() as conn:
        found = conn.execute(
            select(t.episodes.c.id)
            .where(t.episodes.c.therapist_id == therapist_id, t.episodes.c.closed_on.is_(None))
            .limit(1)
        ).scalar_one()
    return int(found)


def run_load(
    name: str,
    total: int,
    threads: int,
    request: Callable[[httpx.Client, int], None],
    base: str,
    cookies: dict[str, str] | None = None,
) -> tuple[float, list[float]]:
    """`total` requests over `threads` threads; returns (requests per second, latencies in ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
            # As a browser does: one page load gives the session its CSRF token.
            client.get("/login")
            client.headers["X-CSRF-Token"] = client.cookies.get("alliance_csrf") or ""
            mine = []
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    break
                started = time.perf_counter()
                request(client, i)
                mine.append((time.perf_counter() - started) * 1000)
            with lock:
                latencies.extend(mine)

    started = time.perf_counter()
    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    return total / elapsed, latencies


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def start_server(db: Path, port: int, write_batch: int) -> subprocess.Popen[bytes]:
    """`alliance serve` over `db`, answering /healthz before this returns."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from alliance.cli import main; main()",
            "serve",
            "--db",
            f"sqlite:///{db}",
            "--port",
            str(port),
            "--write-batch",
            str(write_batch),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "ALLIANCE_LOG_LEVEL": "WARNING"},
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)


def sign_in(base: str, username: str) -> dict[str, str]:
    with httpx.Client(base_url=base) as browser:
        browser.get("/login")
        login = browser.post(
            "/login",
            data={"username": username, "password": PASSWORD},
            headers={"X-CSRF-Token": (browser.cookies.get("alliance_csrf") or "")},
            follow_redirects=False,
        )
        assert login.status_code == 303, login.text
        return {"alliance_session": browser.cookies["alliance_session"]}


def show(name: str, rate: float, lat: list[float], cpu_ms: float | None = None) -> None:
    cpu = f"  server CPU {cpu_ms:5.2f} ms/req" if cpu_ms is not None else ""
    console.print(
        f"{name:<34} {rate:7.1f}/s  p50 {pct(lat, 50):6.1f} ms  "
        f"p95 {pct(lat, 95):6.1f} ms  p99 {pct(lat, 99):6.1f} ms{cpu}",
        soft_wrap=True,
    )


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """User + system CPU time the server process has used so far (Linux /proc; else 0)."""
    try:
        fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=3000)
    parser.add_argument("--caseload", type=int, default=200)
    parser.add_argument("--page-loads", type=int, default=200)
    parser.add_argument("--fresh-page-loads", type=int, default=30)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--write-batch", type=int, default=64)
    parser.add_argument(
        "--compare-batch",
        type=int,
        default=1,
        help="also run the submissions against a server with this write batch (0: skip)",
    )
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="alliance-bench-"))
    db = folder / "bench.db"
    console.print(f"Building the database in {folder} ...")
    n_compare = args.submissions if args.compare_batch else 0
    username, tokens = build(
        db, args.caseload, args.submissions + n_compare + args.fresh_page_loads
    )
    base = f"http://127.0.0.1:{args.port}"
    console.print(f"load average at start: {load_average()}")
    n_health = max(args.submissions, 1000)
    offset = 0

    def health(client: httpx.Client, i: int) -> None:
        assert client.get("/healthz").status_code == 200

    def submit(client: httpx.Client, i: int) -> None:
        response = client.post(
            f"/f/{tokens[offset + i]}", data={f"item_{k}": "9.5" for k in range(1, 5)}
        )
        assert response.status_code == 303, response.status_code

    def caseload(client: httpx.Client, i: int) -> None:
        response = client.get("/caseload")
        assert response.status_code == 200
        assert response.text.count("data-episode=") >= 200

    results: list[tuple[str, float, list[float]]] = []
    compare: tuple[float, list[float]] | None = None
    # Server CPU per request: a figure the other jobs on a shared machine disturb much less.
    cpu_ms: dict[str, float] = {}

    def measured(
        server: subprocess.Popen[bytes],
        key: str,
        n: int,
        load: Callable[[], tuple[float, list[float]]],
    ) -> tuple[float, list[float]]:
        before = cpu_seconds(server)
        out = load()
        cpu_ms[key] = (cpu_seconds(server) - before) * 1000 / n
        return out

    if args.compare_batch:
        server = start_server(db, args.port, args.compare_batch)
        try:
            run_load("warm-up", 50, 2, health, base)
            compare = measured(
                server,
                f"client-form submission (batch {args.compare_batch})",
                args.submissions,
                lambda: run_load("submit", args.submissions, args.threads, submit, base),
            )
            offset += args.submissions
        finally:
            stop_server(server)
    server = start_server(db, args.port, args.write_batch)
    try:
        cookies = sign_in(base, username)
        run_load("warm-up", 50, 2, health, base)
        for name, n, load in (
            (
                "healthz (baseline)",
                n_health,
                lambda: run_load("health", n_health, args.threads, health, base),
            ),
            (
                f"client-form submission (batch {args.write_batch})",
                args.submissions,
                lambda: run_load("submit", args.submissions, args.threads, submit, base),
            ),
            (
                "caseload page",
                args.page_loads,
                lambda: run_load("caseload", args.page_loads, 2, caseload, base, cookies),
            ),
        ):
            results.append((name, *measured(server, name, n, load)))
            if name.startswith("client-form"):
                offset += args.submissions
        # Each load right after a new score on the caseload: the analysis is computed afresh.
        fresh: list[float] = []
        with httpx.Client(base_url=base, cookies=cookies, timeout=30) as client:
            client.get("/login")
            client.headers["X-CSRF-Token"] = client.cookies.get("alliance_csrf") or ""
            for i in range(args.fresh_page_loads):
                response = client.post(
                    f"/f/{tokens[offset + i]}", data={f"item_{k}": "9.5" for k in range(1, 5)}
                )
                assert response.status_code == 303, response.status_code
                started = time.perf_counter()
                caseload(client, i)
                fresh.append((time.perf_counter() - started) * 1000)
        if fresh:
            results.append(
                ("caseload page after a new score", 1000 / statistics.mean(fresh), fresh)
            )
    finally:
        stop_server(server)
    console.print(f"threads: {args.threads}; open episodes on the caseload: {args.caseload}")
    if compare is not None:
        name = f"client-form submission (batch {args.compare_batch})"
        show(name, *compare, cpu_ms.get(name))
    for name, rate, lat in results:
        show(name, rate, lat, cpu_ms.get(name))
    rate_h, lat_h = results[0][1], results[0][2]
    rate_s = results[1][1]
    console.print(f"submissions / healthz throughput ratio: {rate_s / rate_h:.2f}")
    if compare is not None:
        console.print(
            f"submissions, batch {args.write_batch} / batch {args.compare_batch}: "
            f"{rate_s / compare[0]:.2f}x throughput"
        )
    console.print(
        f"caseload p95 / healthz p95 ratio: {pct(results[2][2], 95) / pct(lat_h, 95):.1f}"
    )
    console.print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
