"""Admin pages: users and roles, the instrument schedule. No clinical content is reachable here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from alliance.instruments import list_instruments
from alliance.web.auth import ROLES, Viewer, require_role
from alliance.web.routes.common import form_data, page, redirect, tx
from alliance.web.services import admin, users
from alliance.web.services.errors import FormError

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(require_role("admin"))]


def _users_page(
    request: Request,
    viewer: Viewer,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    created: admin.NewAccount | None = None,
    status_code: int = 200,
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
