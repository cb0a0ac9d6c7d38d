"""Supervisor pages: supervisees, their caseloads and the clinic figures; drill down to a chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.exceptions import HTTPException

from alliance.services import resets
from alliance.services.caseload import caseload
from alliance.services.incidents import open_incidents
from alliance.services.supervision import clinic_table, supervisees
from alliance.store.access import Access, Viewer
from alliance.web.auth import require_role
from alliance.web.routes.common import page, tx

router = APIRouter(include_in_schema=False)
Supervisor = Annotated[Viewer, Depends(require_role("supervisor"))]


@router.get("/supervision", response_class=HTMLResponse)
def supervision_page(request: Request, viewer: Supervisor) -> HTMLResponse:
    with tx(request) as conn:
        context = {
            "people": supervisees(conn, viewer),
            "figures": clinic_table(conn, viewer),
            "incidents": open_incidents(conn, viewer),
            "password_resets": resets.for_supervisor(conn, viewer),
        }
    return page(request, "supervision.html", context)


@router.get("/supervision/therapists/{therapist_id}", response_class=HTMLResponse)
def therapist_caseload(request: Request, viewer: Supervisor, therapist_id: int) -> HTMLResponse:
    with tx(request) as conn:
        if therapist_id not in Access(conn, viewer).therapists():
            raise HTTPException(404, "therapist not found")
        rows = caseload(conn, viewer, therapist_id)
    return page(request, "caseload.html", {"rows": rows, "supervising": True})
