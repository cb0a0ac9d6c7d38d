"""The real server in a thread on 127.0.0.1 and a random port, over a SQLite database.

The demo server holds the synthetic clinic; the empty one only the schema, as after `init`.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn
from sqlalchemy import Engine, select

from alliance.config import load_settings
from alliance.store import tables as t
from alliance.store.demo import DemoAccount, populate
from alliance.store.engine import make_engine
from alliance.store.migrate import upgrade
from alliance.web import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser


@contextmanager
def chromium(executable: Path, args: list[str]) -> Iterator[Browser]:
    """Chromium from the system's packages, launched once for a module's browser tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(executable), args=args)
        yield launched
        launched.close()


@dataclass
class LiveServer:
    url: str
    engine: Engine
    accounts: list[DemoAccount]
    db: str = ""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _add_demo_wording(engine: Engine) -> None:
    """The demo clinic's made-up "licensed" wording, so its ORS and SRS can be sent to clients."""
    from tests.web.clinic import add_test_wording

    with engine.begin() as conn:
        admin = conn.execute(
            select(t.users.c.id, t.users.c.organisation_id).where(t.users.c.role == "admin")
        ).first()
        assert admin is not None, "the demo has no admin"
        add_test_wording(conn, admin.id, admin.organisation_id)


@contextmanager
def live_demo_server(folder: Path) -> Iterator[LiveServer]:
    with live_server(folder, demo=True) as live:
        yield live


@contextmanager
def live_server(folder: Path, *, demo: bool, **settings: object) -> Iterator[LiveServer]:
    """The app on a random port; `settings` are passed on to it (outbox_poll_seconds=0.5)."""
    database_url = f"sqlite:///{folder / 'alliance.db'}"
    engine = make_engine(database_url)
    if demo:
        accounts = populate(engine, seed=0)
        _add_demo_wording(engine)
    else:
        upgrade(engine)
        accounts = []
    app = create_app(load_settings(database_url=database_url, **settings), engine=engine)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the server did not start within 30 s")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", engine, accounts, database_url)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()
