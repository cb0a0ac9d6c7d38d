"""Request hardening: CSRF, login throttling, body limits, security headers, request ids, logs.

`SecurityMiddleware` wraps the whole app (inside the session middleware, so it sees the session):
it gives each request an id, refuses oversized bodies and too-frequent sign-in attempts, sets the
security headers, keeps a CSRF token in the session (mirrored in a
readable cookie for scripts), turns unhandled errors into a bare 500 and writes one structured
log line per request. The log line holds the route *pattern*, never the raw path or query (a
client link's token is a credential), and nothing from the body.

`csrf_protect` is an app-wide dependency: every POST, PUT, PATCH or DELETE must carry the
session's token in the `csrf_token` form field or the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_COOKIE = "alliance_csrf"
CSRF_SESSION_KEY = "csrf"
REQUEST_ID_HEADER = "X-Request-ID"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Forms and JSON here are small: the largest is a measure's answers or a boundary entry.
MAX_BODY_BYTES = 256 * 1024
# Paths where a password is tried; each address gets THROTTLE_ATTEMPTS per THROTTLE_WINDOW_S.
THROTTLED_PATHS = frozenset({"/login", "/tablet/unlock", "/account/password", "/account/totp"})
THROTTLE_ATTEMPTS = 10
THROTTLE_WINDOW_S = 60.0
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

# Vega compiles its expressions with Function(), so charts need 'unsafe-eval'; inline scripts
# stay forbidden, which is what stops injected markup from running.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}

access_log = logging.getLogger("alliance.web.access")
error_log = logging.getLogger("alliance.web.error")


class CsrfError(HTTPException):
    """A state-changing request without the session's CSRF token."""

    def __init__(self) -> None:
        super().__init__(
            403,
            "the form's security token is missing or out of date; reload the page and try again",
        )


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token, created on first use."""
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str) or not token:
        token = new_token()
        session[CSRF_SESSION_KEY] = token
    return token


@pass_context
def csrf_field(context: Context) -> Markup:
    """A hidden input with the token, for every POST form (a Jinja global)."""
    request = context.get("request")
    if request is None or "session" not in request.scope:
        return Markup("")
    token = csrf_token(request.session)
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


@pass_context
def csrf_value(context: Context) -> str:
    request = context.get("request")
    if request is None or "session" not in request.scope:
        return ""
    return csrf_token(request.session)


def _form_content(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind in {"application/x-www-form-urlencoded", "multipart/form-data"}


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: an unsafe method must echo the session's token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _form_content(request):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if (
        not isinstance(expected, str)
        or not expected
        or not sent
        or not hmac.compare_digest(expected.encode(), sent.encode())
    ):
        raise CsrfError


# C0 controls but tab, line feed and carriage return; DEL; C1 controls. PostgreSQL refuses NUL
# outright and the rest only hide text from the reader.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class ControlCharacterError(HTTPException):
    def __init__(self, field: str, char: str) -> None:
        super().__init__(
            400,
            f"{field[:40]}: contains the control character U+{ord(char):04X}; "
            "only tab and line breaks are allowed in text",
        )


def _walk(value: object, path: str) -> None:
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found:
            raise ControlCharacterError(path or "body", found.group())
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(str(key), path or "body")
            _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")


# Both databases keep ids as 64-bit integers; a larger number cannot name any record.
MAX_ID = 2**63 - 1


async def screen_input(request: Request) -> None:
    """App-wide dependency: no out-of-range ids in the path, no control characters anywhere."""
    for value in request.path_params.values():
        text = str(value)
        if text.lstrip("-").isdigit() and abs(int(text)) > MAX_ID:
            raise HTTPException(404, "not found")
    for key, value in request.query_params.multi_items():
        _walk(value, key)
    if request.method in SAFE_METHODS:
        return
    if _form_content(request):
        form = await request.form()
        for key, item in form.multi_items():
            _walk(key, "form")
            if isinstance(item, str):
                _walk(item, key)
        return
    body = await request.body()
    if body and request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # FastAPI answers malformed JSON with 422 itself
        _walk(parsed, "")


@dataclass
class Throttle:
    """A sliding window of attempts per key (an address); thread-safe, in memory."""

    attempts: int = THROTTLE_ATTEMPTS
    window_s: float = THROTTLE_WINDOW_S
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def hit(self, key: str) -> float | None:
        """Count one attempt; None if allowed, else the seconds until the next is allowed."""
        now = self.clock()
        with self._lock:
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self.window_s:
                seen.popleft()
            if len(seen) >= self.attempts:
                return max(0.0, seen[0] + self.window_s - now)
            seen.append(now)
            if len(self._seen) > 10_000:
                # Forget idle addresses so a scan of many sources cannot grow memory for ever.
                for stale in [k for k, v in self._seen.items() if not v or k != key][:5_000]:
                    del self._seen[stale]
            return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str = "INFO") -> None:
    """Structured logs on stderr for the `alliance` loggers (idempotent)."""
    logger = logging.getLogger("alliance")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)


def _route_pattern(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "/static" if str(scope.get("path", "")).startswith("/static/") else "(unmatched)"


def _json_response(
    status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]
) -> tuple[Message, Message]:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    start: Message = {"type": "http.response.start", "status": status, "headers": headers + extra}
    return start, {"type": "http.response.body", "body": data}


class BodyTooLargeError(Exception):
    pass


class SecurityMiddleware:
    """The outer guard of every HTTP request (see the module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        throttle: Throttle | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.throttle = throttle or Throttle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get(REQUEST_ID_HEADER.lower(), "")
        request_id = incoming if _INCOMING_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        secure = scope.get("scheme") == "https"
        method = scope["method"]
        id_header = (REQUEST_ID_HEADER.lower().encode(), request_id.encode())
        status_seen: list[int] = []

        def log(status: int, event: str = "request") -> None:
            state = scope.get("state", {})
            viewer = state.get("viewer")
            access_log.info(
                event,
                extra={
                    "fields": {
                        "request_id": request_id,
                        "method": method,
                        "route": _route_pattern(scope),
                        "status": status,
                        "ms": round((time.perf_counter() - started) * 1000, 1),
                        "user": getattr(viewer, "user_id", None),
                    }
                },
            )

        async def refuse(status: int, detail: str, extra: list[tuple[bytes, bytes]]) -> None:
            start, body = _json_response(
                status, {"detail": detail, "request_id": request_id}, [id_header, *extra]
            )
            await send(start)
            await send(body)
            log(status)

        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body_bytes:
            await refuse(413, f"the request body is over {self.max_body_bytes} bytes", [])
            return
        if method == "POST" and scope["path"] in THROTTLED_PATHS:
            client = scope.get("client")
            wait = self.throttle.hit(client[0] if client else "unknown")
            if wait is not None:
                retry = str(int(wait) + 1)
                await refuse(
                    429,
                    f"too many attempts from this address; try again in {retry} seconds",
                    [(b"retry-after", retry.encode())],
                )
                return

        session = scope.get("session")
        if isinstance(session, dict):
            csrf_token(session)
        cookie_token = _cookie(headers.get("cookie", ""), CSRF_COOKIE)
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_seen.append(int(message["status"]))
                out = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
                present = {k.lower() for k, _ in out}
                for name, value in SECURITY_HEADERS.items():
                    if name.encode() not in present:
                        out.append((name.encode(), value.encode()))
                if b"cache-control" not in present and not scope["path"].startswith("/static/"):
                    # Pages hold clinical content: no copies in shared or browser caches.
                    out.append((b"cache-control", b"no-store"))
                if secure:
                    out.append((b"strict-transport-security", b"max-age=31536000"))
                out.append(id_header)
                current = scope.get("session")
                if isinstance(current, dict):
                    # A sign-in or sign-out clears the session: a fresh token goes with it.
                    token = csrf_token(current)
                    if token != cookie_token:
                        out.append((b"set-cookie", _csrf_cookie(token, secure)))
                message = {**message, "headers": out}
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except BodyTooLargeError:
            if not status_seen:
                await refuse(413, f"the request body is over {self.max_body_bytes} bytes", [])
            return
        except Exception as exc:  # the last guard: no message, no traceback goes out
            # Exception messages can carry SQL parameters or form values: log the type only.
            error_log.error(
                "unhandled error",
                extra={"fields": {"request_id": request_id, "error": type(exc).__name__}},
            )
            if not status_seen:
                await refuse(500, "internal error; quote the request id when reporting it", [])
            return
        log(status_seen[0] if status_seen else 500)


class SecureCookieMiddleware:
    """Outermost: over TLS every cookie, the session's included, is marked Secure."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [_secure_cookie(k, v) for k, v in message.get("headers", [])]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, secure_send)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _csrf_cookie(token: str, secure: bool) -> bytes:
    # Readable by the page's own scripts (not HttpOnly) so fetch() can send X-CSRF-Token.
    value = f"{CSRF_COOKIE}={token}; Path=/; SameSite=Strict"
    return (value + ("; Secure" if secure else "")).encode()


def _secure_cookie(key: bytes, value: bytes) -> tuple[bytes, bytes]:
    if key.lower() == b"set-cookie" and b"secure" not in value.lower():
        return key, value + b"; Secure"
    return key, value


def install_template_globals(env: Any) -> None:
    """`{{ csrf_field() }}` in every POST form; `{{ csrf_value() }}` for a meta tag."""
    env.globals["csrf_field"] = csrf_field
    env.globals["csrf_value"] = csrf_value
