"""The ASGI middleware that guards every HTTP request, from its id to its log line."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alliance.services import sign_in_throttle
from alliance.store.writer import GroupCommitWriter
from alliance.web.body_limit import (
    MAX_BODY_BYTES,
    BodyTooLargeError,
    declared_too_large,
    is_upload,
    limit_body,
    limit_for,
)
from alliance.web.cookies import read_cookie
from alliance.web.csrf import CSRF_COOKIE, cookie_update, ensure_session_token
from alliance.web.headers import harden
from alliance.web.logs import log_error, log_request
from alliance.web.request_id import REQUEST_ID_HEADER, choose_request_id
from alliance.web.throttle import (
    THROTTLE_ATTEMPTS,
    THROTTLE_WINDOW_S,
    THROTTLED_PATHS,
    Throttle,
)

Header = tuple[bytes, bytes]


def _json_response(
    status: int, body: dict[str, Any], extra: list[Header]
) -> tuple[Message, Message]:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    start: Message = {"type": "http.response.start", "status": status, "headers": headers + extra}
    return start, {"type": "http.response.body", "body": data}


@dataclass
class _Exchange:
    """One request in flight: its id and start time, and the status the app answered with."""

    scope: Scope
    reply: Send
    headers: dict[str, str]
    request_id: str
    started: float
    secure: bool
    status: int | None = None

    @classmethod
    def begin(cls, scope: Scope, send: Send) -> _Exchange:
        """Start the clock, read the headers and give the request its id (also in its state)."""
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = choose_request_id(headers)
        scope.setdefault("state", {})["request_id"] = request_id
        return cls(scope, send, headers, request_id, started, scope.get("scheme") == "https")

    @property
    def id_header(self) -> Header:
        return REQUEST_ID_HEADER.lower().encode(), self.request_id.encode()

    def log(self, status: int) -> None:
        log_request(self.scope, self.request_id, status, self.started)

    async def refuse(self, status: int, detail: str, extra: Iterable[Header] = ()) -> None:
        """Answer with a JSON error naming the request id, without the app, and log it."""
        start, body = _json_response(
            status, {"detail": detail, "request_id": self.request_id}, [self.id_header, *extra]
        )
        await self.reply(start)
        await self.reply(body)
        self.log(status)

    async def refuse_upload(self) -> None:
        """An upload over the cap, from a page form: a page that says so and links back."""
        back = self.scope["path"].rsplit("/", 1)[0]
        data = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<title>File too large · Alliance</title>"
            '<link rel="stylesheet" href="/static/css/alliance.css"></head>'
            '<body><main id="main"><h1>File too large</h1>'
            '<p class="flash error" role="alert">file: the transcript is over the 2 MB limit. '
            "Nothing was stored. Split the file, or export it without video or audio.</p>"
            f'<p><a href="{back}">Back to the session</a></p></main></body></html>'
        ).encode()
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(data)).encode()),
            (b"connection", b"close"),
            self.id_header,
        ]
        await self.reply({"type": "http.response.start", "status": 413, "headers": headers})
        await self.reply({"type": "http.response.body", "body": data})
        self.log(413)

    def guarded_send(self) -> Send:
        """The `send` handed to the app: it notes the status and hardens the headers."""
        browser_token = read_cookie(self.headers.get("cookie", ""), CSRF_COOKIE)

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                if self.status is None:
                    self.status = int(message["status"])
                headers = self._response_headers(message.get("headers", []), browser_token)
                message = {**message, "headers": headers}
            await self.reply(message)

        return send

    def _response_headers(
        self, headers: Iterable[Header], browser_token: str | None
    ) -> list[Header]:
        out = harden(headers, path=self.scope["path"], secure=self.secure)
        out.append(self.id_header)
        cookie = cookie_update(self.scope.get("session"), browser_token, self.secure)
        if cookie is not None:
            out.append(cookie)
        return out


class SecurityMiddleware:
    """The outer guard of every HTTP request.

    It sits inside the session middleware, so it sees the session. It gives each request an id,
    refuses oversized bodies and too-frequent sign-in attempts, sets the security headers, keeps
    a CSRF token in the session (mirrored in a readable cookie for scripts), turns unhandled
    errors into a bare 500 and writes one structured log line per request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        throttle: Throttle | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # None: the buckets live in the database, shared by every worker process
        # (alliance.services.sign_in_throttle); a Throttle keeps them in this process's memory.
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange.begin(scope, send)
        if await self._refused_at_the_door(exchange):
            return
        await self._serve(exchange, receive)

    async def _refused_at_the_door(self, exchange: _Exchange) -> bool:
        """Refuse, before the app runs, a declared body too large or a throttled sign-in."""
        limit = limit_for(exchange.scope["path"], self.max_body_bytes)
        if declared_too_large(exchange.headers, limit):
            await self._refuse_too_large(exchange, limit)
            return True
        wait = await self._throttle_wait(exchange.scope)
        if wait is None:
            return False
        retry = str(int(wait) + 1)
        await exchange.refuse(
            429,
            f"too many attempts from this address; try again in {retry} seconds",
            [(b"retry-after", retry.encode())],
        )
        return True

    async def _throttle_wait(self, scope: Scope) -> float | None:
        """Count a password attempt; the seconds to wait if its address has tried too often."""
        if scope["method"] != "POST" or scope["path"] not in THROTTLED_PATHS:
            return None
        client = scope.get("client")
        key = client[0] if client else "unknown"
        if self.throttle is not None:
            return self.throttle.hit(key)
        # Counted through the app's writer: one short write, off the event loop.
        writer: GroupCommitWriter = scope["app"].state.writer
        count = partial(
            sign_in_throttle.hit, key=key, attempts=THROTTLE_ATTEMPTS, window_s=THROTTLE_WINDOW_S
        )
        return await writer.run_async(count)

    async def _serve(self, exchange: _Exchange, receive: Receive) -> None:
        """Run the app on a capped body; an error it raises becomes a bare answer."""
        ensure_session_token(exchange.scope.get("session"))
        limit = limit_for(exchange.scope["path"], self.max_body_bytes)
        try:
            await self.app(exchange.scope, limit_body(receive, limit), exchange.guarded_send())
        except BodyTooLargeError:
            if exchange.status is None:
                await self._refuse_too_large(exchange, limit)
            return
        except Exception as exc:  # the last guard: no message, no traceback goes out
            log_error(exchange.request_id, exc)
            if exchange.status is None:
                await exchange.refuse(500, "internal error; quote the request id when reporting it")
            return
        exchange.log(exchange.status if exchange.status is not None else 500)

    async def _refuse_too_large(self, exchange: _Exchange, limit: int) -> None:
        if is_upload(exchange.scope["path"]):
            await exchange.refuse_upload()
        else:
            await exchange.refuse(413, f"the request body is over {limit} bytes")
