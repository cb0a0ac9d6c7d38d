"""Load with a crash: clinicians browsing and clients submitting at once, one worker SIGKILLed.

The server runs as `alliance serve` in a subprocess on loopback over a fresh demo database:
SQLite with one worker, or PostgreSQL with several (`--engine postgresql --postgres-url URL`).
Client links are created first through the real services. N clinician threads browse the
caseload, chart and episode pages and the API while M client submissions are sent; when half of
them are sent, one worker is SIGKILLed (on SQLite the only one, so the server is restarted; on
PostgreSQL the supervisor starts a new worker). A client that gets no answer sends its form again
after a pause, as a person pressing Send again would. Then it counts requests, 5xx answers,
submissions acknowledged, lost (acknowledged but not stored) and duplicated (stored twice), and
runs `alliance audit verify`. Baseline: /healthz answered in the same run.

Run: python bench/load.py [--clinicians 8] [--submissions 120]
     python bench/load.py --engine postgresql --postgres-url postgresql://USER@HOST/DB
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from alliance.services import links
from alliance.services.passwords import hash_password
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.store.demo import populate
from alliance.store.engine import make_engine

PASSWORD = "bench password 123"
SECRET = "load-bench-secret-key-0123456789"
# PHQ-9, whose wording ships (the SRS is offered only once a clinic adds its licensed wording).
PHQ9 = {f"item_{i}": str(i % 3) for i in range(1, 9)} | {"item_9": "0"}
# A client keeps pressing Send (a second apart) for this long while the server is down.
RETRY_FOR_S = 600.0


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    no_answer: int = 0
    acknowledged: set[str] = field(default_factory=set)
    page_ms: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int, ms: float | None = None) -> None:
        with self.lock:
            self.statuses[status] += 1
            if ms is not None:
                self.page_ms.append(ms)


@dataclass
class Clinic:
    url: str
    usernames: list[str]
    episodes: list[int]
    tokens: list[str]


def fresh_database(engine_name: str, postgres_url: str | None, folder: Path) -> str:
    if engine_name == "sqlite":
        return f"sqlite:///{folder / 'load.db'}"
    if not postgres_url:
        raise SystemExit("--postgres-url is required with --engine postgresql")
    import psycopg

    admin = make_url(postgres_url).set(drivername="postgresql")
    name = f"alliance_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False
    )


def build(database_url: str, submissions: int) -> Clinic:
    """The demo clinic; every clinician gets PASSWORD; links made through the services."""
    engine = make_engine(database_url)
    populate(engine, seed=0)
    with engine.begin() as conn:
        conn.execute(
            update(t.users)
            .where(t.users.c.role == "therapist")
            .values(password_hash=hash_password(PASSWORD), must_change_password=False)
        )
        therapists = conn.execute(
            select(t.users.c.id, t.users.c.username, t.users.c.organisation_id)
            .where(t.users.c.role == "therapist")
            .order_by(t.users.c.id)
            .limit(4)
        ).all()
        episodes = [
            int(i)
            for i in conn.execute(
                select(t.episodes.c.id)
                .where(t.episodes.c.therapist_id == therapists[0].id)
                .where(t.episodes.c.closed_on.is_(None))
                .order_by(t.episodes.c.id)
            ).scalars()
        ]
        first = therapists[0]
        viewer = Viewer(first.id, first.username, "", "therapist", first.organisation_id, None)
        tokens = [
            links.create_link(conn, viewer, episodes[n % len(episodes)], None, "phq9", 600).token
            for n in range(submissions)
        ]
    engine.dispose()
    # The clinicians browse as the therapist whose episodes they open (others' would be 404).
    return Clinic("", [first.username], episodes, tokens)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(database_url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ALLIANCE_SECRET_KEY": SECRET}
    command = [sys.executable, "-m", "alliance", "serve", "--db", database_url]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 600 s")


def children(pid: int) -> list[int]:
    """The worker processes of a multi-worker server (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def signed_in(url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=120)
    client.get("/login")
    csrf = client.cookies.get("alliance_csrf") or ""
    answer = client.post(
        "/login",
        data={"username": username, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    if answer.status_code != 303 or answer.headers["location"] == "/login":
        raise SystemExit(f"sign-in of {username} answered {answer.status_code}")
    return client


def browse(client: httpx.Client, episodes: list[int], stop: threading.Event, tally: Tally) -> None:
    pages = ["/caseload", "/api/caseload"]
    for episode in episodes[:6]:
        pages += [f"/episodes/{episode}", f"/episodes/{episode}/details"]
    n = 0
    while not stop.is_set():
        path = pages[n % len(pages)]
        n += 1
        started = time.perf_counter()
        try:
            status = client.get(path).status_code
        except (httpx.TransportError, RuntimeError):  # down, or the run is over (client closed)
            with tally.lock:
                tally.no_answer += 1
            time.sleep(0.5)
            continue
        tally.count(status, (time.perf_counter() - started) * 1000)


def submit(url: str, token: str, tally: Tally) -> None:
    """One client's form; sent again after a pause while there is no answer."""
    deadline = time.monotonic() + RETRY_FOR_S
    while time.monotonic() < deadline:
        try:
            with httpx.Client(base_url=url, timeout=120) as client:
                client.get(f"/f/{token}")
                csrf = {"X-CSRF-Token": client.cookies.get("alliance_csrf") or ""}
                answer = client.post(f"/f/{token}", data=PHQ9, headers=csrf)
        except httpx.TransportError:
            with tally.lock:
                tally.no_answer += 1
            time.sleep(1.0)
            continue
        tally.count(answer.status_code)
        if answer.status_code == 303 and answer.headers["location"].endswith("/done"):
            with tally.lock:
                tally.acknowledged.add(token)
        if answer.status_code < 500:
            return
        time.sleep(1.0)


@contextmanager
def clients(url: str, usernames: list[str], count: int) -> Iterator[list[httpx.Client]]:
    """`count` clinician browsers sharing the sign-ins of `usernames` (the throttle allows 10)."""
    sessions = [signed_in(url, name) for name in usernames]
    made = []
    for n in range(count):
        copy = httpx.Client(base_url=url, timeout=120, cookies=sessions[n % len(sessions)].cookies)
        made.append(copy)
    try:
        yield made
    finally:
        for client in made + sessions:
            client.close()


def kill_one(server: subprocess.Popen[bytes], workers: int) -> str:
    if workers > 1:
        victim = children(server.pid)[0]
        os.kill(victim, signal.SIGKILL)
        return f"worker {victim} of {workers} SIGKILLed; the server starts a new one"
    server.send_signal(signal.SIGKILL)
    server.wait()
    return "the only worker SIGKILLed; the server restarted"


def run(args: argparse.Namespace, database_url: str, clinic: Clinic) -> dict[str, object]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(database_url, port, args.workers)
    tally, stop = Tally(), threading.Event()
    healthz = [timed(lambda: httpx.get(f"{url}/healthz")) for _ in range(20)]
    with clients(url, clinic.usernames, args.clinicians) as browsers:
        readers = [
            threading.Thread(target=browse, args=(c, clinic.episodes, stop, tally))
            for c in browsers
        ]
        for reader in readers:
            reader.start()
        started = time.perf_counter()
        half = len(clinic.tokens) // 2
        first = send_all(url, clinic.tokens[:half], args.concurrency, tally, wait=False)
        time.sleep(0.5)
        crash = kill_one(server, args.workers)
        if args.workers == 1:
            server = start_server(database_url, port, 1)
        second = send_all(url, clinic.tokens[half:], args.concurrency, tally, wait=False)
        for thread in first + second:
            thread.join()
        elapsed = time.perf_counter() - started
        stop.set()
        for reader in readers:
            reader.join()
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    return {"tally": tally, "crash": crash, "elapsed": elapsed, "healthz": healthz}


def timed(call: object) -> float:
    started = time.perf_counter()
    call()  # type: ignore[operator]
    return (time.perf_counter() - started) * 1000


def send_all(
    url: str, tokens: list[str], concurrency: int, tally: Tally, *, wait: bool
) -> list[threading.Thread]:
    """Send `tokens` from `concurrency` threads (each takes the next token in turn)."""
    queue = list(reversed(tokens))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                token = queue.pop()
            submit(url, token, tally)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    if wait:
        for thread in threads:
            thread.join()
    return threads


def stored(database_url: str, tokens: list[str], before: int) -> tuple[set[str], int]:
    """The tokens whose form is stored, and how many administrations the run added."""
    engine = make_engine(database_url)
    hashes = {links.token_hash(token): token for token in tokens}
    with engine.connect() as conn:
        used = conn.execute(
            select(t.client_links.c.token_hash).where(t.client_links.c.used_at.is_not(None))
        ).scalars()
        done = {hashes[h] for h in used if h in hashes}
        added = conn.execute(select(func.count()).select_from(t.administrations)).scalar_one()
    engine.dispose()
    return done, int(added) - before


def administrations(database_url: str) -> int:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(t.administrations)).scalar_one()
    engine.dispose()
    return int(count)


def audit_verify(database_url: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "alliance", "audit", "verify", "--db", database_url],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"exit {done.returncode}: {(done.stdout + done.stderr).strip().splitlines()[-1]}"


def report(args: argparse.Namespace, outcome: dict[str, object], database_url: str) -> int:
    tally: Tally = outcome["tally"]  # type: ignore[assignment]
    done, added = stored(database_url, args.tokens, args.before)
    lost = tally.acknowledged - done
    duplicated = added - len(done)
    errors = sum(n for status, n in tally.statuses.items() if status >= 500)
    healthz: list[float] = outcome["healthz"]  # type: ignore[assignment]
    page_median = statistics.median(tally.page_ms) if tally.page_ms else 0.0
    base = statistics.median(healthz)
    verified = audit_verify(database_url)
    lines = [
        f"engine {args.engine}, workers {args.workers}, {args.clinicians} clinicians, "
        f"{args.submissions} submissions from {args.concurrency} threads",
        f"crash: {outcome['crash']}",
        f"requests answered: {sum(tally.statuses.values())} in {outcome['elapsed']:.1f} s "
        f"(by status: {dict(sorted(tally.statuses.items()))}); no answer (while down): "
        f"{tally.no_answer}",
        f"5xx: {errors}",
        f"submissions acknowledged: {len(tally.acknowledged)}; stored: {len(done)}; "
        f"lost: {len(lost)}; duplicated: {duplicated}",
        f"page median {page_median:.0f} ms vs /healthz baseline {base:.1f} ms "
        f"(ratio {page_median / base:.1f}x)",
        f"audit verify: {verified}",
    ]
    for line in lines:
        print(line)
    ok = errors == 0 and not lost and duplicated == 0 and verified.startswith("exit 0")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=None, help="a server to create a database on")
    parser.add_argument("--workers", type=int, default=None, help="default: 1 SQLite, 2 PostgreSQL")
    parser.add_argument("--clinicians", type=int, default=8)
    parser.add_argument("--submissions", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=16, help="submitting threads")
    args = parser.parse_args()
    args.workers = args.workers or (1 if args.engine == "sqlite" else 2)
    with tempfile.TemporaryDirectory(prefix="alliance-load-") as folder:
        database_url = fresh_database(args.engine, args.postgres_url, Path(folder))
        clinic = build(database_url, args.submissions)
        args.tokens, args.before = clinic.tokens, administrations(database_url)
        outcome = run(args, database_url, clinic)
        return report(args, outcome, database_url)


if __name__ == "__main__":
    raise SystemExit(main())
