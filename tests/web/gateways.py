"""Real gateways on loopback, started by the tests: an SMTP server (aiosmtpd) and an SMS
gateway (http.server) that records each body and answers with the statuses it is given."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.web.server import free_port


@dataclass
class Mailbox:
    host: str
    port: int
    received: list[Message] = field(default_factory=list)

    def url(self, user: str | None = None, password: str | None = None) -> str:
        login = f"{user}:{password}@" if user else ""
        return f"smtp://{login}{self.host}:{self.port}"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.received if m["To"] == address]


class _Collect:
    def __init__(self, box: Mailbox) -> None:
        self.box = box

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.box.received.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(login: tuple[str, str] | None = None) -> Iterator[Mailbox]:
    """An SMTP server on 127.0.0.1; with `login`, it demands AUTH with that user and password."""
    box = Mailbox("127.0.0.1", free_port())
    options: dict[str, Any] = {}
    if login is not None:

        def check(
            server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = (
                isinstance(data, LoginPassword)
                and (
                    data.login.decode(),
                    data.password.decode(),
                )
                == login
            )
            return AuthResult(success=ok, handled=False)

        options = {"authenticator": check, "auth_required": True, "auth_require_tls": False}
    controller = Controller(_Collect(box), hostname=box.host, port=box.port, **options)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Gateway:
    url: str
    statuses: list[int]
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


@contextmanager
def sms_gateway(statuses: list[int] | None = None) -> Iterator[Gateway]:
    """An HTTP gateway: answers each POST with the next status (then 200), keeping the bodies."""
    port = free_port()
    gateway = Gateway(f"http://127.0.0.1:{port}/send", list(statuses or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            gateway.bodies.append(json.loads(self.rfile.read(length)))
            gateway.headers.append(dict(self.headers.items()))
            status = gateway.statuses.pop(0) if gateway.statuses else 200
            reply = b'{"id": "msg-1"}' if status == 200 else b"provider unavailable"
            self.send_response(status)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
