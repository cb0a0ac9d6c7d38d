"""Admin pages: users and roles, resets, break glass, the instrument schedule.

No clinical content is reachable here; break glass opens one episode's ordinary read-only pages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from alliance.errors import FormError
from alliance.instruments import list_instruments
from alliance.services import admin, tokens, users, wording
from alliance.store import break_glass
from alliance.store.access import Viewer
from alliance.store.base import utc_now
from alliance.web.auth import ROLES, require_role
from alliance.web.routes.common import Refused, page, redirect, submit, tx

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(require_role("admin"))]


def _users_page(
    request: Request,
    viewer: Viewer,
    refused: Refused | None = None,
    *,
    created: admin.NewAccount | None = None,
    reset: admin.NewAccount | None = None,
) -> HTMLResponse:
    with tx(request) as conn:
        rows = users.list_users(conn, viewer)
        api_tokens = tokens.list_tokens(conn, viewer.organisation_id)
    return page(
        request,
        "admin_users.html",
        {
            "users": rows,
            "tokens": api_tokens,
            "now": utc_now(),
            "roles": ROLES,
            "created": created,
            "reset": reset,
        },
        refused=refused,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _users_page(request, viewer)


@router.post("/admin/users", response_model=None)
async def users_create(request: Request, viewer: Admin) -> Response:
    return await submit(
        request,
        lambda conn, form: admin.create_account(
            conn,
            viewer,
            username=form.get("username", ""),
            display_name=form.get("display_name", ""),
            role=form.get("role", ""),
            supervisor_id=form.get("supervisor_id", ""),
        ),
        lambda created: _users_page(request, viewer, created=created),
        lambda refused: _users_page(request, viewer, refused),
    )


@router.post("/admin/users/{user_id}/password", response_model=None)
def users_reset_password(request: Request, viewer: Admin, user_id: int) -> Response:
    """A new one-time password, shown once on the page that answers."""
    try:
        with tx(request) as conn:
            done = admin.reset_password(conn, viewer, user_id)
    except FormError as exc:
        return _users_page(request, viewer, Refused(exc.errors, {}))
    return _users_page(request, viewer, reset=done)


@router.post("/admin/users/{user_id}/totp/remove", response_model=None)
def users_remove_totp(request: Request, viewer: Admin, user_id: int) -> Response:
    try:
        with tx(request) as conn:
            username = admin.remove_totp(conn, viewer, user_id)
    except FormError as exc:
        return _users_page(request, viewer, Refused(exc.errors, {}))
    return redirect(request, "/admin/users", f"Second factor removed for {username}.")


def _account_page(
    request: Request, viewer: Viewer, user_id: int, refused: Refused | None = None
) -> HTMLResponse:
    with tx(request) as conn:
        account = admin.account(conn, viewer, user_id)
        everyone = users.list_users(conn, viewer)
    return page(
        request,
        "admin_user.html",
        {
            "u": account,
            "role_options": [(role, role.capitalize()) for role in ROLES],
            "supervisor_options": [("", "None")]
            + [
                (u.id, u.display_name)
                for u in everyone
                if u.role == "supervisor" and u.active and u.id != user_id
            ],
        },
        refused=refused,
    )


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def account_page(request: Request, viewer: Admin, user_id: int) -> HTMLResponse:
    return _account_page(request, viewer, user_id)


@router.post("/admin/users/{user_id}", response_model=None)
async def account_update(request: Request, viewer: Admin, user_id: int) -> Response:
    """Name, role and supervisor; every change audited, nothing changed on a refusal."""
    return await submit(
        request,
        lambda conn, form: admin.update_account(
            conn,
            viewer,
            user_id,
            display_name=form.get("display_name", ""),
            role=form.get("role", ""),
            supervisor_id=form.get("supervisor_id", ""),
            email=form.get("email", ""),
        ),
        lambda _: redirect(request, "/admin/users", "Account updated."),
        lambda refused: _account_page(request, viewer, user_id, refused),
        form_name="user",
    )


def _set_active(request: Request, viewer: Viewer, user_id: int, *, active: bool) -> Response:
    try:
        with tx(request) as conn:
            username = admin.set_active(conn, viewer, user_id, active=active)
    except FormError as exc:
        return _users_page(request, viewer, Refused(exc.errors, {}))
    done = "reactivated" if active else "deactivated: they can no longer sign in"
    return redirect(request, "/admin/users", f"{username} {done}.")


@router.post("/admin/users/{user_id}/deactivate", response_model=None)
def account_deactivate(request: Request, viewer: Admin, user_id: int) -> Response:
    """They cannot sign in, and their open sessions and API tokens stop at once."""
    return _set_active(request, viewer, user_id, active=False)


@router.post("/admin/users/{user_id}/reactivate", response_model=None)
def account_reactivate(request: Request, viewer: Admin, user_id: int) -> Response:
    return _set_active(request, viewer, user_id, active=True)


@router.post("/admin/tokens/{token_id}/revoke", response_model=None)
def token_revoke(request: Request, viewer: Admin, token_id: int) -> Response:
    try:
        with tx(request) as conn:
            tokens.revoke_for_admin(conn, viewer, token_id)
    except FormError as exc:
        refused = Refused({"user": next(iter(exc.errors.values()))}, {})
        return _users_page(request, viewer, refused)
    return redirect(request, "/admin/users", "Token revoked.")


def _break_glass_page(
    request: Request, viewer: Viewer, refused: Refused | None = None
) -> HTMLResponse:
    with tx(request) as conn:
        grants = admin.break_glass_grants(conn, viewer)
    return page(
        request,
        "admin_break_glass.html",
        {
            "grants": grants,
            "minutes": break_glass.GRANT_MINUTES,
            "reason_min": break_glass.REASON_MIN,
            "now": utc_now(),
        },
        refused=refused,
    )


@router.get("/admin/break-glass", response_class=HTMLResponse)
def break_glass_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _break_glass_page(request, viewer)


def _break_glass_opened(request: Request, grant: break_glass.Grant) -> Response:
    until = grant.expires_at.strftime("%H:%M")
    return redirect(
        request,
        f"/episodes/{grant.episode_id}",
        f"Break glass: read-only access until {until} UTC. This is audited.",
    )


@router.post("/admin/break-glass", response_model=None)
async def break_glass_open(request: Request, viewer: Admin) -> Response:
    """Read-only access to one episode for a limited time, for a stated reason (audited)."""
    return await submit(
        request,
        lambda conn, form: admin.open_break_glass(
            conn, viewer, form.get("episode_id", ""), form.get("reason", "")
        ),
        lambda grant: _break_glass_opened(request, grant),
        lambda refused: _break_glass_page(request, viewer, refused),
    )


def _schedules_page(
    request: Request, viewer: Viewer, refused: Refused | None = None
) -> HTMLResponse:
    with tx(request) as conn:
        rows = admin.schedules(conn, viewer)
        offers = {o.instrument_id: o for o in wording.offers(conn, viewer.organisation_id)}
    return page(
        request,
        "admin_schedules.html",
        {"rows": rows, "instruments": list_instruments(), "offers": offers},
        refused=refused,
    )


@router.get("/admin/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _schedules_page(request, viewer)


@router.post("/admin/schedules", response_model=None)
async def schedules_set(request: Request, viewer: Admin) -> Response:
    return await submit(
        request,
        lambda conn, form: admin.set_schedule(
            conn,
            viewer,
            form.get("instrument", ""),
            form.get("session_rule", ""),
            form.get("active", "on") == "on",
        ),
        lambda _: redirect(request, "/admin/schedules", "Schedule saved."),
        lambda refused: _schedules_page(request, viewer, refused),
    )
