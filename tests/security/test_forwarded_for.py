"""X-Forwarded-For is believed only from a configured proxy, under `alliance serve` itself.

Run as a user runs it: a separate `alliance serve` process on loopback. By default a client that
claims a new address on every try is still counted at its own address, and throttled.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import select

from alliance.store import tables as t
from alliance.store.engine import make_engine
from alliance.web.csrf import CSRF_COOKIE, CSRF_HEADER
from alliance.web.throttle import THROTTLE_ATTEMPTS
from tests.web.clinic import build_clinic
from tests.web.server import free_port


@contextmanager
def serving(database_url: str, *extra: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "alliance", "serve", "--db", database_url]
    process = subprocess.Popen(
        [*command, "--port", str(port), *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, "serve stopped before it answered"
            assert time.monotonic() < deadline, (
                "serve did not answer within 600 s (a loaded machine imports slowly)"
            )
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def _guesses(url: str) -> list[int]:
    """One more try than the throttle allows, each claiming a different forwarded address."""
    with httpx.Client(base_url=url, timeout=60) as client:
        client.get("/login")
        csrf = {CSRF_HEADER: client.cookies.get(CSRF_COOKIE) or ""}
        return [
            client.post(
                "/login",
                data={"username": "nobody", "password": "a guess"},
                headers={**csrf, "X-Forwarded-For": f"203.0.113.{n}"},
            ).status_code
            for n in range(1, THROTTLE_ATTEMPTS + 2)
        ]


def test_forwarded_addresses_are_ignored_by_default_and_believed_from_a_trusted_proxy(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = make_engine(database_url)
    build_clinic(engine)
    with serving(database_url) as url:
        statuses = _guesses(url)
    assert statuses[:THROTTLE_ATTEMPTS] == [400] * THROTTLE_ATTEMPTS
    assert statuses[-1] == 429  # counted at 127.0.0.1, whatever the header claimed
    with engine.connect() as conn:
        keys = set(conn.execute(select(t.sign_in_attempts.c.key)).scalars())
    assert keys == {"127.0.0.1"}
    with serving(database_url, "--forwarded-allow-ips", "127.0.0.1") as url:
        statuses = _guesses(url)
    assert statuses == [400] * (THROTTLE_ATTEMPTS + 1)  # each forwarded address counted alone
    with engine.connect() as conn:
        keys = set(conn.execute(select(t.sign_in_attempts.c.key)).scalars())
    engine.dispose()
    # 127.0.0.1's own attempts may have aged out of the window while the second server started.
    assert keys - {"127.0.0.1"} == {f"203.0.113.{n}" for n in range(1, THROTTLE_ATTEMPTS + 2)}
