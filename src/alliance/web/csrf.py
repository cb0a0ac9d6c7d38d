"""CSRF tokens: kept in the session, put in forms, mirrored in a cookie, checked on every write.

`csrf_protect` is an app-wide dependency: every POST, PUT, PATCH or DELETE must carry the
session's token in the `csrf_token` form field or the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping
from typing import Any

from fastapi import Request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException

from alliance.web.request_kind import SAFE_METHODS, is_form

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_COOKIE = "alliance_csrf"
CSRF_SESSION_KEY = "csrf"


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


def ensure_session_token(session: object) -> None:
    """Give the session its token before the app runs, so pages and checks see the same one."""
    if isinstance(session, dict):
        csrf_token(session)


def csrf_cookie(token: str, secure: bool) -> bytes:
    """The Set-Cookie value that mirrors the token."""
    # Readable by the page's own scripts (not HttpOnly) so fetch() can send X-CSRF-Token.
    value = f"{CSRF_COOKIE}={token}; Path=/; SameSite=Strict"
    return (value + ("; Secure" if secure else "")).encode()


def cookie_update(
    session: object, browser_token: str | None, secure: bool
) -> tuple[bytes, bytes] | None:
    """The Set-Cookie header for the session's token, when the browser's copy differs."""
    if not isinstance(session, dict):
        return None
    # A sign-in or sign-out clears the session: a fresh token goes with it.
    token = csrf_token(session)
    if token == browser_token:
        return None
    return b"set-cookie", csrf_cookie(token, secure)


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


def install_template_globals(env: Any) -> None:
    """`{{ csrf_field() }}` in every POST form; `{{ csrf_value() }}` for a meta tag."""
    env.globals["csrf_field"] = csrf_field
    env.globals["csrf_value"] = csrf_value


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: an unsafe method must echo the session's token.

    A request to /api that carries an Authorization header is authenticated by that header
    alone (alliance.web.auth ignores the cookie then), and a browser never adds such a header
    to a cross-site request by itself: CSRF, an attack on cookies, does not apply.
    """
    if request.method in SAFE_METHODS:
        return
    if request.url.path.startswith("/api/") and "authorization" in request.headers:
        return
    expected = request.session.get(CSRF_SESSION_KEY)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and is_form(request):
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
