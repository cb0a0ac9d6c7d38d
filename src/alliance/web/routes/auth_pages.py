"""Sign in (password, then a TOTP code when on), sign out, the password, the second factor.

A sign-in that still owes a code keeps only `totp_uid` (and when it started) in the session: no
`uid`, so every page but the code form treats the browser as signed out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import Engine

from alliance.errors import FormError
from alliance.services import admin, login_sessions, users
from alliance.store.access import Viewer
from alliance.web.auth import SESSION_KEY, client_ip, require_role
from alliance.web.offload import in_thread
from alliance.web.routes.common import Refused, form_data, page, redirect, submit, tx

router = APIRouter(include_in_schema=False)
START = {"therapist": "/caseload", "supervisor": "/supervision", "admin": "/admin/users"}
# How long a right password waits for its code before the sign-in starts over.
CODE_WAIT_S = 300


@router.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


def _code_owed(request: Request) -> int | None:
    """The user id whose password was right and whose code is still owed, if still fresh."""
    uid, since = request.session.get("totp_uid"), request.session.get("totp_since")
    if not isinstance(uid, int) or not isinstance(since, (int, float)):
        return None
    if time.time() - since > CODE_WAIT_S:
        request.session.pop("totp_uid", None)
        request.session.pop("totp_since", None)
        return None
    return uid


def _signed_in(request: Request, result: users.SignIn, secret: str | None) -> RedirectResponse:
    assert result.viewer is not None
    assert secret is not None
    # A fresh cookie: nothing of the signed-out browser's session (a planted id) carries over.
    request.session.clear()
    request.session[SESSION_KEY] = secret
    if result.must_change_password:
        return RedirectResponse("/account/password", status_code=303)
    return RedirectResponse(START[result.viewer.role], status_code=303)


def _sign_in_work(
    request: Request, check: Callable[[Engine], users.SignIn]
) -> Callable[[], tuple[users.SignIn, str | None]]:
    """`check` (it opens its own transactions), then the new session's row if it lets them in."""
    engine, ip = request.app.state.engine, client_ip(request)
    agent = request.headers.get("user-agent")

    def work() -> tuple[users.SignIn, str | None]:
        result = check(engine)
        if result.viewer is None:
            return result, None
        with engine.begin() as conn:
            return result, login_sessions.start(conn, result.viewer.user_id, ip, agent)

    return work


def _code_check(user_id: int, code: str, ip: str | None) -> Callable[[Engine], users.SignIn]:
    def check(engine: Engine) -> users.SignIn:
        with engine.begin() as conn:
            return users.verify_code(conn, user_id, code, ip)

    return check


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """The sign-in form; on a database with no admin yet, how to create the first one instead."""
    with tx(request) as conn:
        ready = admin.has_admin(conn)
    if not ready:
        return page(request, "first_run.html", {"viewer": None})
    return page(request, "login.html", {"viewer": None, "code_step": _code_owed(request)})


async def _login_code(request: Request, user_id: int, code: str) -> Response:
    """The second step: the code posts to /login too, so the same throttle covers it."""
    if not code.strip():
        errors = {"code": "enter the 6-digit code from your authenticator app"}
    else:
        ip = client_ip(request)
        result, secret = await in_thread(_sign_in_work(request, _code_check(user_id, code, ip)))
        if result.viewer is not None:
            return _signed_in(request, result, secret)
        errors = {"code": result.error or "sign-in refused"}
        if result.error == users.LOCKED:
            request.session.clear()
            return page(
                request, "login.html", {"viewer": None, "errors": {"form": errors["code"]}}, 400
            )
    return page(
        request, "login.html", {"viewer": None, "code_step": user_id, "errors": errors}, 400
    )


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    form = await form_data(request)
    owed = _code_owed(request)
    if owed is not None and "code" in form:
        return await _login_code(request, owed, form["code"])
    username, password = form.get("username", ""), form.get("password", "")
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = "enter your username"
    if not password:
        errors["password"] = "enter your password"  # noqa: S105 (a message, not a secret)
    if not errors:
        ip = client_ip(request)
        result, secret = await request.app.state.password_gate.run(
            _sign_in_work(
                request, lambda engine: users.check_password(engine, username, password, ip)
            )
        )
        if result.viewer is not None:
            return _signed_in(request, result, secret)
        if result.code_owed_by is not None:
            request.session.clear()
            request.session["totp_uid"] = result.code_owed_by
            request.session["totp_since"] = time.time()
            return RedirectResponse("/login", status_code=303)
        errors["form"] = result.error or "sign-in refused"
    return page(
        request, "login.html", {"viewer": None, "errors": errors, "username": username}, 400
    )


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
    """End this sign-in on the server, so a copy of the cookie is worthless too."""
    secret = request.session.get(SESSION_KEY)
    if isinstance(secret, str):
        with tx(request) as conn:
            login_sessions.end(conn, secret)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home(viewer: Annotated[Viewer, Depends(require_role())]) -> RedirectResponse:
    return RedirectResponse(START[viewer.role], status_code=303)


@router.get("/account/password", response_class=HTMLResponse)
def password_form(
    request: Request, viewer: Annotated[Viewer, Depends(require_role())]
) -> HTMLResponse:
    return page(request, "password.html", {"viewer": viewer})


@router.post("/account/password", response_model=None)
async def password_change(
    request: Request, viewer: Annotated[Viewer, Depends(require_role())]
) -> Response:
    form = await form_data(request)
    engine, ip = request.app.state.engine, client_ip(request)
    agent = request.headers.get("user-agent")

    def work() -> tuple[dict[str, str], str | None]:
        with engine.begin() as conn:
            errors = users.change_password(
                conn,
                viewer,
                form.get("current", ""),
                form.get("new", ""),
                form.get("repeat", ""),
                revoke_tokens=form.get("keep_tokens") != "on",
            )
            if errors:
                return errors, None
            # Every session of the user ended with the change, this one too: a fresh one here.
            return {}, login_sessions.start(conn, viewer.user_id, ip, agent)

    errors, secret = await request.app.state.password_gate.run(work)
    if errors or secret is None:
        return page(request, "password.html", {"viewer": viewer, "errors": errors}, 400)
    request.session.clear()
    request.session[SESSION_KEY] = secret
    return redirect(
        request, START[viewer.role], "Your password was changed; every other sign-in has ended."
    )


def _totp_page(request: Request, viewer: Viewer, refused: Refused | None = None) -> HTMLResponse:
    with tx(request) as conn:
        state = users.totp_state(conn, viewer)
    return page(request, "account_totp.html", {"viewer": viewer, "totp": state}, refused=refused)


@router.get("/account/totp", response_class=HTMLResponse)
def totp_page(request: Request, viewer: Annotated[Viewer, Depends(require_role())]) -> HTMLResponse:
    return _totp_page(request, viewer)


@router.post("/account/totp/start", response_model=None)
def totp_start(request: Request, viewer: Annotated[Viewer, Depends(require_role())]) -> Response:
    """A new secret to scan; nothing changes at sign-in until a code confirms it."""
    try:
        with tx(request) as conn:
            users.start_totp(conn, viewer)
    except FormError as exc:
        return _totp_page(request, viewer, Refused(exc.errors, {}))
    return redirect(request, "/account/totp")


@router.post("/account/totp", response_model=None)
async def totp_confirm(
    request: Request, viewer: Annotated[Viewer, Depends(require_role())]
) -> Response:
    return await submit(
        request,
        lambda conn, form: users.confirm_totp(conn, viewer, form.get("code", "")),
        lambda _: redirect(
            request, "/account/totp", "Two-step sign-in is on: you will be asked for a code."
        ),
        lambda refused: _totp_page(request, viewer, refused),
    )
