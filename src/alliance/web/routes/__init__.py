"""Routers: pages and the /api JSON routes, all over the one service layer."""

from __future__ import annotations

from fastapi import APIRouter

from alliance.web.routes import (
    account,
    admin,
    api,
    auth_pages,
    client,
    clinical,
    forms,
    mail,
    practice,
    supervision,
    transcripts,
)

ROUTERS: list[APIRouter] = [
    auth_pages.router,
    account.router,
    practice.router,
    clinical.router,
    transcripts.router,
    client.router,
    supervision.router,
    admin.router,
    mail.router,
    forms.router,
    api.router,
]
