"""The admin's mail page: the mail server (typed here or set in the environment), the other
messaging settings as they are, and a test message."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from alliance.config import Settings
from alliance.errors import FormError
from alliance.services import gateways, mail_settings
from alliance.store.access import Viewer
from alliance.web.auth import require_role
from alliance.web.offload import in_thread
from alliance.web.routes.common import Refused, form_data, page, redirect, tx

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(require_role("admin"))]


def _shown(settings: Settings) -> list[tuple[str, str]]:
    """Each other messaging setting as the page shows it: passwords and headers never."""
    return [
        ("SMS gateway (ALLIANCE_SMS_URL)", settings.sms_url or "not set: no text messages"),
        ("SMS gateway header", "set (hidden)" if settings.sms_auth_header else "none"),
        ("Public address (ALLIANCE_PUBLIC_URL)", settings.public_url or "the request's address"),
        ("Clinic name", settings.clinic_name or "the clinic's name in Alliance"),
        ("Time zone", settings.clinic_timezone),
        ("Quiet hours", settings.quiet_hours),
        ("Reminders", f"{settings.reminder_max}, {settings.reminder_after_hours:g} h apart"),
        ("Retry window", f"{settings.retry_window_minutes} minutes"),
        ("Duty contact", settings.duty_email or "none"),
    ]


def _environment_server(settings: Settings) -> str | None:
    target = settings.smtp
    if target is None:
        return None
    login = f", user {target.username} (password hidden)" if target.username else ""
    security = "TLS" if target.tls == "implicit" else "STARTTLS"
    return f"{target.host}:{target.port}, {security}{login}, from {settings.mail_from}"


def _mail_page(
    request: Request, viewer: Viewer, refused: Refused | None = None, **extra: Any
) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    status = int(extra.pop("status", 200))
    with tx(request) as conn:
        server = mail_settings.stored(conn)
    context = {
        "viewer": viewer,
        "rows": _shown(settings),
        "environment": _environment_server(settings),
        "server": server,
        "security": mail_settings.SECURITY,
        **extra,
    }
    return page(request, "admin_mail.html", context, status_code=status, refused=refused)


@router.get("/admin/mail", response_class=HTMLResponse)
def mail_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _mail_page(request, viewer)


@router.post("/admin/mail/server", response_model=None)
async def mail_server_save(request: Request, viewer: Admin) -> Response:
    """Check the fields, then connect and log in (nothing sent), and only then keep it."""
    form = await form_data(request)
    key: str = request.app.state.secret_key

    def check() -> str:
        with request.app.state.engine.connect() as conn:
            checked = mail_settings.check_form(conn, key, form)
        # The connection is tried outside any transaction: a slow server holds no lock.
        how = mail_settings.try_server(checked)
        with tx(request) as conn:
            mail_settings.save(conn, viewer, checked, key)
        return how

    try:
        how = await in_thread(check)
    except FormError as exc:
        form.pop("password", None)  # a typed password is never sent back in the page
        return _mail_page(request, viewer, Refused({"server": exc.errors}, form))
    return redirect(request, "/admin/mail", f"Mail server saved: connected and logged in ({how}).")


@router.post("/admin/mail/server/remove", response_model=None)
def mail_server_remove(request: Request, viewer: Admin) -> Response:
    with tx(request) as conn:
        removed = mail_settings.remove(conn, viewer)
    message = "Mail server removed: no email is sent." if removed else "No mail server was set."
    return redirect(request, "/admin/mail", message)


@router.post("/admin/mail/test", response_class=HTMLResponse)
async def mail_test(request: Request, viewer: Admin) -> HTMLResponse:
    """Send a test message to an address (or a phone number) and show the gateway's answer."""
    address = (await form_data(request)).get("address", "").strip()[:254]
    settings: Settings = request.app.state.settings
    key: str = request.app.state.secret_key
    text = "A test message from Alliance: the set-up works."

    def send_email() -> str:
        with request.app.state.engine.connect() as conn:
            server = mail_settings.mail_server(conn, settings, key)
        return gateways.send_email(server, address, "Alliance: a test message", text)

    try:
        if "@" in address:
            answer = await in_thread(send_email)
        elif address:
            answer = await in_thread(lambda: gateways.send_sms(settings, address, text))
        else:
            return _mail_page(
                request, viewer, failure="an address or phone number is required", status=400
            )
    except gateways.GatewayError as error:
        return _mail_page(request, viewer, failure=error.reason, status=400)
    return _mail_page(request, viewer, answer=answer)
