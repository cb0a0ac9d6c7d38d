"""Routers: pages and the /api JSON routes, all over the one service layer."""

from __future__ import annotations

from fastapi import APIRouter

from alliance.web.routes import (
    admin,
    api,
    auth_pages,
    client,
    clinical,
    forms,
    practice,
    supervision,
)

ROUTERS: list[APIRouter] = [
    auth_pages.router,
    practice.router,
    clinical.router,
    client.router,
    supervision.router,
    admin.router,
    forms.router,
    api.router,
]
