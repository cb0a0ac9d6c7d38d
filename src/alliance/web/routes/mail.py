"""The admin's mail page: the messaging settings as they are, and a test message."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from alliance.config import Settings
from alliance.services import gateways
from alliance.store.access import Viewer
from alliance.web.auth import require_role
from alliance.web.routes.common import form_data, page

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(require_role("admin"))]


def _shown(settings: Settings) -> list[tuple[str, str]]:
    """Each messaging setting as the page shows it: passwords and headers never."""
    target = settings.smtp
    smtp = "not set: no email"
    if target is not None:
        login = f", user {target.username} (password hidden)" if target.username else ""
        smtp = f"{target.host}:{target.port}, {target.tls.upper()}{login}"
    return [
        ("Mail server (ALLIANCE_SMTP_URL)", smtp),
        ("Sender (ALLIANCE_MAIL_FROM)", settings.mail_from or "not set"),
        ("SMS gateway (ALLIANCE_SMS_URL)", settings.sms_url or "not set: no text messages"),
        ("SMS gateway header", "set (hidden)" if settings.sms_auth_header else "none"),
        ("Public address (ALLIANCE_PUBLIC_URL)", settings.public_url or "the request's address"),
        ("Clinic name", settings.clinic_name or "the clinic's name in Alliance"),
        ("Time zone", settings.clinic_timezone),
        ("Quiet hours", settings.quiet_hours),
        ("Reminders", f"{settings.reminder_max}, {settings.reminder_after_hours} h apart"),
        ("Retry window", f"{settings.retry_window_minutes} minutes"),
        ("Duty contact", settings.duty_email or "none"),
    ]


def _mail_page(request: Request, viewer: Viewer, **extra: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    status = int(extra.pop("status", 200))
    context = {"viewer": viewer, "rows": _shown(settings), **extra}
    return page(request, "admin_mail.html", context, status_code=status)


@router.get("/admin/mail", response_class=HTMLResponse)
def mail_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _mail_page(request, viewer)


@router.post("/admin/mail/test", response_class=HTMLResponse)
async def mail_test(request: Request, viewer: Admin) -> HTMLResponse:
    """Send a test message to an address (or a phone number) and show the gateway's answer."""
    address = (await form_data(request)).get("address", "").strip()[:254]
    settings: Settings = request.app.state.settings
    text = "A test message from Alliance: the set-up works."
    try:
        if "@" in address:
            answer = await asyncio.to_thread(
                gateways.send_email, settings, address, "Alliance: a test message", text
            )
        elif address:
            answer = await asyncio.to_thread(gateways.send_sms, settings, address, text)
        else:
            return _mail_page(
                request, viewer, failure="an address or phone number is required", status=400
            )
    except gateways.GatewayError as error:
        return _mail_page(request, viewer, failure=error.reason, status=400)
    return _mail_page(request, viewer, answer=answer)
