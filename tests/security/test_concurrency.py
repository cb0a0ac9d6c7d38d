"""Under concurrency: SQLite readers never meet "database is locked", the lockout counts every
wrong password across engines, and the audit chain holds under two writer processes.

The SQLite case runs the real app under a real server: 16 browsing clinicians and client
submissions at once, on a file database, must get no 5xx and lose no submission.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, func, select

from alliance.config import load_settings
from alliance.services import users
from alliance.store import audit
from alliance.store import tables as t
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.web import create_app
from alliance.web.csrf import CSRF_COOKIE, CSRF_HEADER
from tests.security.conftest import SECRET, new_link, therapist_viewer
from tests.web.clinic import PASSWORD, Clinic, build_clinic
from tests.web.server import free_port

READERS = 16
PAGES_EACH = 6
SUBMISSIONS = 40
SRS = {"item_1": "7.5", "item_2": "6", "item_3": "9.1", "item_4": "8"}


def _browser(url: str, username: str) -> httpx.Client:
    """A signed-in browser: the CSRF cookie echoed as its header, as the pages' scripts do."""
    client = httpx.Client(base_url=url, timeout=120)

    def echo(request: httpx.Request) -> None:
        token = client.cookies.get(CSRF_COOKIE)
        if token:
            request.headers[CSRF_HEADER] = token

    client.event_hooks["request"].append(echo)
    client.get("/healthz")
    signed = client.post("/login", data={"username": username, "password": PASSWORD})
    assert signed.status_code in (200, 303), signed.status_code
    return client


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Engine, Clinic]]:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = make_engine(url)
    clinic = build_clinic(engine)
    app = create_app(load_settings(database_url=url, secret_key=SECRET), engine=engine)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.05)
    try:
        yield f"http://127.0.0.1:{port}", engine, clinic
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()


def test_sqlite_serves_16_clinicians_and_submissions_at_once_without_a_5xx(
    served: tuple[str, Engine, Clinic],
) -> None:
    url, engine, clinic = served
    tokens = [new_link(engine, clinic).token for _ in range(SUBMISSIONS)]
    tess, sam = _browser(url, "tess"), _browser(url, "sam")
    pages = [
        (tess, "/caseload"),
        (tess, f"/episodes/{clinic.rupture_episode}"),
        (tess, f"/episodes/{clinic.risk_episode}/details"),
        (tess, "/api/caseload"),
        (sam, "/supervision"),
        (sam, f"/episodes/{clinic.rupture_episode}"),
    ]

    def browse(n: int) -> list[int]:
        return [
            pages[(n + i) % len(pages)][0].get(pages[(n + i) % len(pages)][1]).status_code
            for i in range(PAGES_EACH)
        ]

    def submit(token: str) -> int:
        with httpx.Client(base_url=url, timeout=120) as client:
            client.get(f"/f/{token}")
            csrf = client.cookies.get(CSRF_COOKIE) or ""
            sent = client.post(f"/f/{token}", data=SRS, headers={CSRF_HEADER: csrf})
            # Stored: redirected to the thank-you page (a refusal would be a 4xx, an error 5xx).
            return sent.status_code if sent.headers.get("location", "").endswith("/done") else -1

    with ThreadPoolExecutor(READERS + 8) as pool:
        reads = [pool.submit(browse, n) for n in range(READERS)]
        writes = [pool.submit(submit, token) for token in tokens]
        read_statuses = [s for f in reads for s in f.result()]
        write_statuses = [f.result() for f in writes]
    assert [s for s in read_statuses if s >= 500] == []
    assert set(read_statuses) == {200}
    assert set(write_statuses) == {303}
    with engine.connect() as conn:
        used = conn.execute(
            select(func.count())
            .select_from(t.client_links)
            .where(t.client_links.c.used_at.is_not(None))
        ).scalar_one()
        assert used == SUBMISSIONS
        assert audit.verify(conn) is None


def _wrong_password(database_url: str, barrier: threading.Barrier) -> None:
    engine = make_engine(database_url)
    try:
        barrier.wait()
        with engine.begin() as conn:
            result = users.authenticate(conn, "tess", "not the password", "10.0.0.9")
        assert result.viewer is None
    finally:
        engine.dispose()


def test_five_wrong_passwords_at_once_through_separate_engines_lock_the_account(
    database_url: str, clinic: Clinic, engine: Engine
) -> None:
    """Each attempt on its own engine (as each worker holds one): not one failure is lost."""
    barrier = threading.Barrier(users.LOCK_AFTER_FAILURES)
    threads = [
        threading.Thread(target=_wrong_password, args=(database_url, barrier))
        for _ in range(users.LOCK_AFTER_FAILURES)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    with engine.connect() as conn:
        row = conn.execute(
            select(t.users.c.locked_until, t.users.c.failed_logins).where(
                t.users.c.id == clinic.therapist_id
            )
        ).one()
    assert row.locked_until is not None, f"{row.failed_logins} failures counted, not locked"
    with engine.begin() as conn:
        right = users.authenticate(conn, "tess", PASSWORD, None)
    assert right.error == users.LOCKED


def test_a_wrong_current_password_counts_toward_the_lockout(clinic: Clinic, engine: Engine) -> None:
    viewer = therapist_viewer(clinic)
    for _ in range(users.LOCK_AFTER_FAILURES):
        with engine.begin() as conn:
            errors = users.change_password(conn, viewer, "a wrong guess", "x" * 20, "x" * 20)
        assert errors["current"] == "the current password is not right"
    with engine.begin() as conn:
        assert users.authenticate(conn, "tess", PASSWORD, None).error == users.LOCKED
        refused = users.change_password(conn, viewer, PASSWORD, "y" * 20, "y" * 20)
    assert refused == {"current": users.LOCKED}


def _append_events(database_url: str, count: int, start: Event) -> None:
    engine = make_engine(database_url)
    try:
        start.wait()
        for n in range(count):
            with engine.begin() as conn:
                audit.record(conn, Actor.system(), "create", "test", n)
    finally:
        engine.dispose()


def test_two_writer_processes_keep_the_audit_chain_on_postgresql(
    database_url: str, clinic: Clinic, engine: Engine
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("two processes writing at once is the PostgreSQL case; SQLite has one writer")
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    per_process = 60
    processes = [
        context.Process(target=_append_events, args=(database_url, per_process, start))
        for _ in range(2)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(120)
        assert process.exitcode == 0
    with engine.connect() as conn:
        assert audit.verify(conn) is None
        appended = conn.execute(
            select(func.count())
            .select_from(t.audit_events)
            .where(t.audit_events.c.object_type == "test")
        ).scalar_one()
    assert appended == 2 * per_process
