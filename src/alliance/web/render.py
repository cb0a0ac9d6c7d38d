"""Jinja2 set-up shared by every page: one Templates object, a few filters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from alliance.domain import ClosingReason
from alliance.web.csrf import install_template_globals
from alliance.web.palette import PALETTE

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y %H:%M")
    return value.strftime("%d %b %Y")


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


templates.env.filters["when"] = _when
templates.env.filters["num"] = _num
templates.env.filters["zip"] = lambda a, b: list(zip(a, b, strict=False))
templates.env.globals["palette"] = PALETTE
# In the enum's order, for the closing form's select and the closed episode's summary.
templates.env.globals["closing_reasons"] = {reason.value: reason.label for reason in ClosingReason}
install_template_globals(templates.env)
