"""A flood of wrong-password sign-ins against the health check, in one run.

The server runs as `alliance serve` in a subprocess over a fresh SQLite database on 127.0.0.1.
First `/healthz` alone (the baseline), then `/healthz` again while `--flood` wrong-password
sign-ins (unknown usernames, so each costs a full argon2id check and none locks an account)
arrive at once from `--sources` loopback addresses (so the per-address throttle lets them all
reach the password check). Prints the median and p99 of both and their ratios; stops by itself
after the flood or after `--limit-s` seconds, whichever comes first.

Run: python bench/signin_flood.py [--flood 40] [--sources 8] [--probes 200] [--password-checks 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from alliance.services import admin
from alliance.store.engine import make_engine
from alliance.store.migrate import upgrade
from alliance.web.csrf import CSRF_COOKIE, CSRF_HEADER

SERVE = (sys.executable, "-c", "from alliance.cli import main; main()", "serve")


def line(name: str, times: list[float]) -> str:
    median, p99 = statistics.median(times) * 1000, pct(times, 99) * 1000
    return f"{name:22s} n={len(times):4d}  median {median:8.1f} ms  p99 {p99:8.1f} ms"


def start_server(db: Path, port: int, password_checks: int) -> subprocess.Popen[bytes]:
    """`alliance serve` over `db`, answering /healthz before this returns."""
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    with engine.begin() as conn:
        admin.add_account_from_command_line(conn, username="ada", role="admin")
    engine.dispose()
    server = subprocess.Popen(
        [*SERVE, "--db", f"sqlite:///{db}", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={
            **os.environ,
            "ALLIANCE_LOG_LEVEL": "WARNING",
            "ALLIANCE_PASSWORD_CHECKS": str(password_checks),
        },
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start within 60 s")


def pct(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def probe(client: httpx.AsyncClient, until: asyncio.Event | None, n: int) -> list[float]:
    """Sequential /healthz requests: `n` of them, or until `until` is set; seconds each."""
    times: list[float] = []
    while (until is None and len(times) < n) or (until is not None and not until.is_set()):
        started = time.perf_counter()
        response = await client.get("/healthz")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return times


async def wrong_sign_in(client: httpx.AsyncClient, i: int) -> int:
    response = await client.post(
        "/login",
        data={"username": f"guess{i}", "password": "wrong password"},
        headers={CSRF_HEADER: client.cookies.get(CSRF_COOKIE) or ""},
    )
    return response.status_code


async def flood(
    base: str, n: int, sources: int, probe_client: httpx.AsyncClient
) -> dict[str, object]:
    """`n` wrong sign-ins at once from `sources` addresses, /healthz probed meanwhile."""
    clients = [
        httpx.AsyncClient(
            base_url=base,
            transport=httpx.AsyncHTTPTransport(local_address=f"127.0.0.{2 + i % sources}"),
            timeout=120,
        )
        for i in range(n)
    ]
    try:
        for client in clients:  # the session and CSRF cookies a browser would hold
            await client.get("/healthz")
        done = asyncio.Event()
        probing = asyncio.create_task(probe(probe_client, done, 0))
        started = time.perf_counter()
        statuses = await asyncio.gather(*(wrong_sign_in(c, i) for i, c in enumerate(clients)))
        elapsed = time.perf_counter() - started
        done.set()
        times = await probing
    finally:
        for client in clients:
            await client.aclose()
    return {"times": times, "statuses": statuses, "elapsed": elapsed}


async def run(base: str, args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await probe(client, None, 20)  # warm up
        alone = await probe(client, None, args.probes)
        result = await asyncio.wait_for(
            flood(base, args.flood, args.sources, client), timeout=args.limit_s
        )
    during = result["times"]
    assert isinstance(during, list)
    statuses = result["statuses"]
    assert isinstance(statuses, list)
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"server: password_checks={args.password_checks}; cores: {os.cpu_count()}")
    print(line("/healthz alone:", alone))
    print(line("/healthz during flood:", during) + f"  max {max(during) * 1000:8.1f} ms")
    print(
        f"flood: {args.flood} wrong sign-ins from {args.sources} addresses in "
        f"{result['elapsed']:.2f} s; answers {counts}"
    )
    print(
        f"ratio during/alone: median {statistics.median(during) / statistics.median(alone):.2f}x"
        f"  p99 {pct(during, 99) / pct(alone, 99):.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flood", type=int, default=40, help="wrong sign-ins sent at once")
    parser.add_argument("--sources", type=int, default=8, help="loopback addresses they come from")
    parser.add_argument("--probes", type=int, default=200, help="baseline /healthz requests")
    parser.add_argument("--password-checks", type=int, default=2, help="the server's setting")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--limit-s", type=float, default=300, help="stop the flood after this")
    args = parser.parse_args()
    if not args.port:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            args.port = int(sock.getsockname()[1])
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder) / "flood.db", args.port, args.password_checks)
        try:
            asyncio.run(run(f"http://127.0.0.1:{args.port}", args))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
