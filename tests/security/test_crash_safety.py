"""Kill the real server with SIGKILL mid-load: every acknowledged submission survives whole.

The server runs as `alliance serve` in a subprocess; single-use links are made beforehand through
the services; clients submit concurrently; the process is killed once some answers have been
acknowledged. After a restart, each acknowledged answer is stored with its link marked used, and
no link is half-claimed (used but without its administration) or the other way round.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from alliance.store import tables as t
from alliance.store.engine import make_engine
from alliance.web.csrf import CSRF_COOKIE, CSRF_HEADER
from tests.security.conftest import SECRET, new_link
from tests.web.clinic import build_clinic

pytestmark = pytest.mark.slow
LINKS = 40
KILL_AFTER = 12


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(database_url: str, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    command = [str(Path(sys.executable).with_name("alliance")), "serve", "--db", database_url]
    env = {**os.environ, "ALLIANCE_SECRET_KEY": SECRET}
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    try:
        yield process, base
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)


def answers_for(n: int) -> dict[str, str]:
    """SRS answers that tell the submissions apart (items 0..10, one decimal)."""
    return {"item_1": str(n % 11), "item_2": "5", "item_3": str((n * 3) % 11), "item_4": "7"}


def test_it_keeps_every_acknowledged_submission_across_sigkill(
    database_url: str, tmp_path: Path
) -> None:
    engine = make_engine(database_url)
    clinic = build_clinic(engine)
    tokens = [new_link(engine, clinic).token for _ in range(LINKS)]
    engine.dispose()
    log = tmp_path / "server.log"
    acknowledged: dict[int, dict[str, str]] = {}
    lock = threading.Lock()
    enough = threading.Event()

    with server(database_url, log) as (process, base):

        def submit(n: int) -> None:
            try:
                with httpx.Client(base_url=base, timeout=10) as client:
                    client.get(f"/f/{tokens[n]}")
                    token = client.cookies.get(CSRF_COOKIE) or ""
                    response = client.post(
                        f"/f/{tokens[n]}", data=answers_for(n), headers={CSRF_HEADER: token}
                    )
            except httpx.HTTPError:
                return  # no answer came back: not acknowledged
            if 200 <= response.status_code < 400:
                with lock:
                    acknowledged[n] = answers_for(n)
                    if len(acknowledged) >= KILL_AFTER:
                        enough.set()

        with ThreadPoolExecutor(max_workers=6) as pool:
            for n in range(LINKS):
                pool.submit(submit, n)
            assert enough.wait(timeout=120), "too few submissions were acknowledged"
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    assert KILL_AFTER <= len(acknowledged) < LINKS, "the kill did not land mid-load"
    with server(database_url, log) as (_, base):
        for n in acknowledged:
            assert httpx.get(f"{base}/f/{tokens[n]}").status_code == 410
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            linked = conn.execute(
                select(t.client_links, t.administrations.c.answers, t.administrations.c.source)
                .outerjoin(
                    t.administrations,
                    t.administrations.c.id == t.client_links.c.administration_id,
                )
                .where(t.client_links.c.episode_id == clinic.rupture_episode)
            ).all()
            stored_from_links = (
                conn.execute(
                    select(t.administrations.c.id).where(t.administrations.c.source == "link")
                )
                .scalars()
                .all()
            )
            from alliance.store import audit

            chain_break = audit.verify(conn)
    finally:
        engine.dispose()
    from alliance.services.links import token_hash

    by_hash = {row.token_hash: row for row in linked}
    for n, answers in acknowledged.items():
        row = by_hash[token_hash(tokens[n])]
        assert row.used_at is not None, f"acknowledged submission {n} lost its claim"
        assert row.administration_id is not None, f"acknowledged submission {n} lost"
        expected = {k.removeprefix("item_"): float(v) for k, v in answers.items()}
        assert {k: float(v) for k, v in row.answers.items()} == expected
    for row in linked:
        # All or nothing: a link is used exactly when its administration exists.
        assert (row.used_at is None) == (row.administration_id is None)
    assert sorted(stored_from_links) == sorted(
        r.administration_id for r in linked if r.administration_id is not None
    )
    assert chain_break is None
    output = log.read_text(encoding="utf-8", errors="replace")
    assert not any(token in output for token in tokens), "a link token reached the server log"
