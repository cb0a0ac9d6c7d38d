"""Admin pages: users and roles, resets, break glass, the instrument schedule.

No clinical content is reachable here; break glass opens one episode's ordinary read-only pages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from alliance.errors import FormError, NotVisibleError
from alliance.instruments import list_instruments
from alliance.services import admin, users
from alliance.store import break_glass
from alliance.store.access import Viewer
from alliance.store.base import utc_now
from alliance.web.auth import ROLES, require_role
from alliance.web.routes.common import form_data, page, redirect, tx

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(require_role("admin"))]


def _users_page(
    request: Request,
    viewer: Viewer,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    created: admin.NewAccount | None = None,
    status_code: int = 200,
    reset: admin.NewAccount | None = None,
) -> HTMLResponse:
    with tx(request) as conn:
        rows = users.list_users(conn, viewer)
    return page(
        request,
        "admin_users.html",
        {
            "viewer": viewer,
            "users": rows,
            "roles": ROLES,
            "errors": errors or {},
            "values": values or {},
            "created": created,
            "reset": reset,
        },
        status_code,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _users_page(request, viewer)


@router.post("/admin/users", response_model=None)
async def users_create(request: Request, viewer: Admin) -> Response:
    form = await form_data(request)
    try:
        with tx(request) as conn:
            created = admin.create_account(
                conn,
                viewer,
                username=form.get("username", ""),
                display_name=form.get("display_name", ""),
                role=form.get("role", ""),
                supervisor_id=form.get("supervisor_id", ""),
            )
    except FormError as exc:
        return _users_page(request, viewer, exc.errors, form, status_code=400)
    return _users_page(request, viewer, created=created)


@router.post("/admin/users/{user_id}/password", response_model=None)
def users_reset_password(request: Request, viewer: Admin, user_id: int) -> Response:
    """A new one-time password, shown once on the page that answers."""
    try:
        with tx(request) as conn:
            done = admin.reset_password(conn, viewer, user_id)
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    except FormError as exc:
        return _users_page(request, viewer, exc.errors, status_code=400)
    return _users_page(request, viewer, reset=done)


@router.post("/admin/users/{user_id}/totp/remove", response_model=None)
def users_remove_totp(request: Request, viewer: Admin, user_id: int) -> Response:
    try:
        with tx(request) as conn:
            username = admin.remove_totp(conn, viewer, user_id)
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    except FormError as exc:
        return _users_page(request, viewer, exc.errors, status_code=400)
    return redirect(request, "/admin/users", f"Second factor removed for {username}.")


def _break_glass_page(
    request: Request,
    viewer: Viewer,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with tx(request) as conn:
        grants = admin.break_glass_grants(conn, viewer)
    return page(
        request,
        "admin_break_glass.html",
        {
            "viewer": viewer,
            "grants": grants,
            "minutes": break_glass.GRANT_MINUTES,
            "reason_min": break_glass.REASON_MIN,
            "now": utc_now(),
            "errors": errors or {},
            "values": values or {},
        },
        status_code,
    )


@router.get("/admin/break-glass", response_class=HTMLResponse)
def break_glass_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _break_glass_page(request, viewer)


@router.post("/admin/break-glass", response_model=None)
async def break_glass_open(request: Request, viewer: Admin) -> Response:
    """Read-only access to one episode for a limited time, for a stated reason (audited)."""
    form = await form_data(request)
    try:
        with tx(request) as conn:
            grant = admin.open_break_glass(
                conn, viewer, form.get("episode_id", ""), form.get("reason", "")
            )
    except FormError as exc:
        return _break_glass_page(request, viewer, exc.errors, form, 400)
    until = grant.expires_at.strftime("%H:%M")
    return redirect(
        request,
        f"/episodes/{grant.episode_id}",
        f"Break glass: read-only access until {until} UTC. This is audited.",
    )


def _schedules_page(
    request: Request,
    viewer: Viewer,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    with tx(request) as conn:
        rows = admin.schedules(conn, viewer)
    return page(
        request,
        "admin_schedules.html",
        {
            "viewer": viewer,
            "rows": rows,
            "instruments": list_instruments(),
            "errors": errors or {},
            "values": values or {},
        },
        status_code,
    )


@router.get("/admin/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _schedules_page(request, viewer)


@router.post("/admin/schedules", response_model=None)
async def schedules_set(request: Request, viewer: Admin) -> Response:
    form = await form_data(request)
    try:
        with tx(request) as conn:
            admin.set_schedule(
                conn,
                viewer,
                form.get("instrument", ""),
                form.get("session_rule", ""),
                form.get("active", "on") == "on",
            )
    except FormError as exc:
        return _schedules_page(request, viewer, exc.errors, form, 400)
    return redirect(request, "/admin/schedules", "Schedule saved.")
