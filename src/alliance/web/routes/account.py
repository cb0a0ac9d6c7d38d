"""The user's own sign-ins: the devices signed in, ending one or all, and a reset to confirm."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alliance.errors import FormError
from alliance.services import login_sessions, resets
from alliance.store.access import Viewer
from alliance.web.auth import require_role
from alliance.web.routes.common import Refused, page, redirect, tx

router = APIRouter(include_in_schema=False)
Anyone = Annotated[Viewer, Depends(require_role())]


def _sessions_page(request: Request, viewer: Viewer, refused: Refused | None = None) -> Response:
    with tx(request) as conn:
        rows = login_sessions.list_active(conn, viewer, request.app.state.timeouts)
        notice = resets.for_owner(conn, viewer)
    return page(
        request,
        "account_sessions.html",
        {
            "sessions": rows,
            "reset_notice": notice,
            "idle_minutes": request.app.state.settings.session_idle_minutes,
            "max_hours": request.app.state.settings.session_max_hours,
        },
        refused=refused,
    )


@router.get("/account/sessions", response_class=HTMLResponse)
def sessions_page(request: Request, viewer: Anyone) -> Response:
    """Where the user is signed in: device, address, when it began and was last used."""
    return _sessions_page(request, viewer)


@router.post("/account/sessions/{sign_in_id}/end", response_model=None)
def session_end(request: Request, viewer: Anyone, sign_in_id: int) -> Response:
    """End one sign-in (a device left signed in); this very one is ended by signing out."""
    with tx(request) as conn:
        login_sessions.end_one(conn, viewer, sign_in_id)
    if sign_in_id == viewer.session_id:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    return redirect(request, "/account/sessions", "That sign-in has ended.")


@router.post("/account/sessions/end-others", response_model=None)
def sessions_end_others(request: Request, viewer: Anyone) -> Response:
    with tx(request) as conn:
        ended = login_sessions.end_everywhere(conn, viewer, keep_this=True)
    return redirect(request, "/account/sessions", f"Signed out on {ended} other device(s).")


@router.post("/account/sessions/end-all", response_model=None)
def sessions_end_all(request: Request, viewer: Anyone) -> Response:
    """Sign out everywhere, here included: for a lost device or a leaked cookie."""
    with tx(request) as conn:
        login_sessions.end_everywhere(conn, viewer, keep_this=False)
    request.session.clear()
    done = {"kind": "ok", "text": "You are signed out on every device, this one too."}
    return page(request, "login.html", {"viewer": None, "flash": done})


@router.post("/account/reset/confirm", response_model=None)
def reset_confirm(request: Request, viewer: Anyone) -> Response:
    """The user confirms an admin's reset of their password was theirs to ask for."""
    try:
        with tx(request) as conn:
            resets.acknowledge(conn, viewer)
    except FormError as exc:
        return _sessions_page(request, viewer, Refused(exc.errors, {}))
    return redirect(request, "/account/sessions", "Thank you: the reset is confirmed.")
