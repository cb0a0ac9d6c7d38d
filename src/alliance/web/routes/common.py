"""Small helpers the page routes share."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import urlsplit

import segno
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection
from starlette.exceptions import HTTPException

from alliance.config import is_loopback
from alliance.errors import FormError, NotVisibleError
from alliance.services import resets, risk
from alliance.services.links import link_url
from alliance.store import audit
from alliance.store.access import Viewer
from alliance.store.engine import reading, writing
from alliance.web.offload import in_thread
from alliance.web.render import templates

T = TypeVar("T")


READS = frozenset({"GET", "HEAD"})


@contextmanager
def tx(request: Request) -> Iterator[Connection]:
    """One transaction for the request: committed on success, rolled back on any error.

    A GET reads in a read transaction that never takes the write lock (on SQLite in WAL mode a
    reader neither waits for writers nor holds them up); the audit events it records are written
    through the group-commit writer right after, before the page is answered. Any other method
    writes in one write transaction (alliance.store.engine.writing).

    What the viewer may not see is a 404 once rolled back: not visible and not found are one answer.
    """
    try:
        if request.method in READS:
            pending: list[audit.PendingEvent] = []
            with reading(request.app.state.engine, audit_later=pending) as conn:
                yield conn
            if pending:
                request.app.state.writer.run(partial(audit.record_pending, pending=pending))
            return
        with writing(request.app.state.engine) as conn:
            yield conn
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None


async def form_data(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


@dataclass(frozen=True)
class Refused:
    """A form sent back: its errors (by form, then field) and the values typed."""

    errors: Mapping[str, Any]
    values: dict[str, str]


def page(
    request: Request,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    refused: Refused | None = None,
) -> HTMLResponse:
    """Render a page; a refused form is shown again with its errors and values, as a 400.

    The page's `viewer` is the request's signed-in user (require_role puts it on the request);
    a page for no one (sign-in, the client's form) passes `"viewer": None`.
    """
    if refused is not None:
        context.update(errors=refused.errors, values=refused.values)
        status_code = 400
    viewer = context.setdefault("viewer", getattr(request.state, "viewer", None))
    if isinstance(viewer, Viewer) and viewer.after_reset and "reset_notice" not in context:
        with tx(request) as conn:
            context["reset_notice"] = resets.for_owner(conn, viewer)
    context.setdefault("risk_notices", _risk_notices(request, viewer))
    context.setdefault("errors", {})
    context.setdefault("values", {})
    flash = request.session.pop("flash", None)
    if flash:
        context.setdefault("flash", flash)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _risk_notices(request: Request, viewer: Viewer | None) -> list[risk.RiskNotice]:
    """A therapist's unacknowledged risk notices: the banner on every page they open."""
    if viewer is None or viewer.role != "therapist":
        return []
    with request.app.state.engine.connect() as conn:
        return risk.open_notices(conn, viewer)


def redirect(request: Request, url: str, message: str | None = None) -> RedirectResponse:
    if message:
        request.session["flash"] = {"kind": "ok", "text": message}
    return RedirectResponse(url, status_code=303)


async def submit(
    request: Request,
    write: Callable[[Connection, dict[str, str]], T],
    done: Callable[[T], Response],
    again: Callable[[Refused], Response],
    form_name: str | None = None,
) -> Response:
    """Run one form: `write` in one transaction, then answer with `done` once it is committed.

    A refusal answers with `again`: the form's page with its errors (under `form_name` where the
    page holds several forms) and the values typed.
    """
    form = await form_data(request)

    def run() -> T:
        with tx(request) as conn:
            return write(conn, form)

    try:
        # The write (its checks, the scoring, the alerts it refreshes) runs in a worker thread:
        # the event loop goes on serving other requests meanwhile.
        result = await in_thread(run)
    except FormError as exc:
        return again(Refused({form_name: exc.errors} if form_name else exc.errors, form))
    return done(result)


def public_base(request: Request) -> str:
    """Where client links point: the clinic's public_url, else the address this request used."""
    configured: str | None = request.app.state.settings.public_url
    return configured or str(request.base_url).rstrip("/")


def link_address(request: Request, token: str) -> dict[str, Any]:
    """A client link as a page shows it: the address, its short form and its QR code."""
    url = link_url(public_base(request), token)
    return {
        "url": url,
        "short": url.split("://", 1)[-1],
        "qr": segno.make(url, error="m").svg_inline(scale=4, title="Scan to open the check-in"),
        "loopback": is_loopback(urlsplit(url).hostname),
    }
