"""Small helpers the page routes share."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import Connection

from alliance.web.render import templates


@contextmanager
def tx(request: Request) -> Iterator[Connection]:
    """One transaction for the request: committed on success, rolled back on any error."""
    with request.app.state.engine.begin() as conn:
        yield conn


async def form_data(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def page(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context.setdefault("viewer", getattr(request.state, "viewer", None))
    context.setdefault("errors", {})
    flash = request.session.pop("flash", None)
    if flash:
        context.setdefault("flash", flash)
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def redirect(request: Request, url: str, message: str | None = None) -> RedirectResponse:
    if message:
        request.session["flash"] = {"kind": "ok", "text": message}
    return RedirectResponse(url, status_code=303)
