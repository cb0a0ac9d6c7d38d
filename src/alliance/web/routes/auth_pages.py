"""Sign in, sign out, the first password change, and the start page for each role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from alliance.web.auth import Viewer, client_ip, require_role
from alliance.web.routes.common import form_data, page, redirect, tx
from alliance.web.services import users

router = APIRouter(include_in_schema=False)
START = {"therapist": "/caseload", "supervisor": "/supervision", "admin": "/admin/users"}


@router.get("/healthz")
def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return page(request, "login.html", {"viewer": None})


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    form = await form_data(request)
    username, password = form.get("username", ""), form.get("password", "")
    errors: dict[str, str] = {}
    if not username.strip():
        errors["username"] = "enter your username"
    if not password:
        errors["password"] = "enter your password"  # noqa: S105 (a message, not a secret)
    if not errors:
        with tx(request) as conn:
            result = users.authenticate(conn, username, password, client_ip(request))
        if result.viewer is not None:
            request.session.clear()
            request.session["uid"] = result.viewer.user_id
            if result.must_change_password:
                return RedirectResponse("/account/password", status_code=303)
            return RedirectResponse(START[result.viewer.role], status_code=303)
        errors["form"] = result.error or "sign-in refused"
    return page(
        request, "login.html", {"viewer": None, "errors": errors, "username": username}, 400
    )


@router.post("/logout")
def logout(request: Request) -> RedirectResponse:
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
    with tx(request) as conn:
        errors = users.change_password(
            conn, viewer, form.get("current", ""), form.get("new", ""), form.get("repeat", "")
        )
    if errors:
        return page(request, "password.html", {"viewer": viewer, "errors": errors}, 400)
    return redirect(request, START[viewer.role], "Your password was changed.")
