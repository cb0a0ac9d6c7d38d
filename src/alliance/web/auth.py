"""Who is asking: the sign-in session behind the cookie, and the role check on every route.

Every route declares `Depends(require_role(...))` (or is in PUBLIC_PATHS); object-level checks
(whose episode is this?) live in the service layer, so pages and the API share them.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request
from starlette.exceptions import HTTPException

from alliance.services import login_sessions, tokens
from alliance.store.access import RoleName as Role
from alliance.store.access import Viewer

ROLES: tuple[Role, ...] = ("therapist", "supervisor", "admin")
CLINICAL_ROLES: tuple[Role, ...] = ("therapist", "supervisor")
# The session cookie's key for the sign-in session's secret (alliance.services.login_sessions).
SESSION_KEY = "sid"

# The paths reachable without a login: the client form (its token is the credential), login,
# the health check and static assets. A test walks app.routes and fails on any other route
# that lacks a role dependency.
PUBLIC_PATHS = frozenset(
    {
        "/login",
        "/logout",
        "/healthz",
        "/api/health",
        "/f/{token}",
        "/f/{token}/done",
        "/static",
        # Tablet pages answer only on a device a signed-in therapist locked to that form.
        "/tablet/unlock",
        "/tablet/{link_id}",
    }
)


class LoginRequiredError(Exception):
    """No valid session or token: pages redirect to /login, the API answers 401."""


class PasswordChangeRequiredError(Exception):
    """A one-time password is in use: every page but the password form redirects to it."""


class TabletLockedError(Exception):
    """This browser is handed to a client: everything but the form redirects to it."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def require_role(*roles: Role) -> Callable[[Request], Viewer]:
    """A dependency: the signed-in, active user; 403 unless their role is in `roles`."""
    allowed = frozenset(roles or ROLES)

    def dependency(request: Request) -> Viewer:
        if request.url.path.startswith("/api/") and "authorization" in request.headers:
            by_token = _bearer_viewer(request)
            if by_token.role not in allowed:
                raise HTTPException(403, f"this route is for {', '.join(sorted(allowed))}")
            request.state.viewer = by_token
            return by_token
        tablet = request.session.get("tablet")
        if tablet:
            raise TabletLockedError(f"/tablet/{tablet}")
        viewer = session_viewer(request)
        if viewer is None:
            raise LoginRequiredError
        if viewer.must_change_password and request.url.path != "/account/password":
            raise PasswordChangeRequiredError
        if viewer.role not in allowed:
            raise HTTPException(403, f"this page is for {', '.join(sorted(allowed))}")
        request.state.viewer = viewer
        return viewer

    dependency.allowed_roles = allowed  # type: ignore[attr-defined]
    return dependency


def _bearer_viewer(request: Request) -> Viewer:
    """The user a personal API token acts for; the session cookie is not consulted at all.

    CSRF guards cookies only (alliance.web.csrf): a browser never sends this header on its own.
    """
    scheme, _, token = request.headers["authorization"].partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise LoginRequiredError
    viewer = tokens.viewer_for_token(request.app.state.engine, token.strip(), client_ip(request))
    if viewer is None:
        raise LoginRequiredError
    request.state.bearer = True
    return viewer


def session_viewer(request: Request) -> Viewer | None:
    """The user of the browser's live sign-in session, or None (the cookie is then emptied).

    The cookie holds only the session's secret; the server's row decides whether it still
    counts, so a sign-out, a password change or reset, a deactivation or a timeout ends it.
    """
    secret = request.session.get(SESSION_KEY)
    if not isinstance(secret, str):
        return None
    viewer = login_sessions.viewer_for(
        request.app.state.engine, secret, client_ip(request), request.app.state.timeouts
    )
    if viewer is None:
        request.session.clear()
    return viewer
