"""Clients and episodes from the caseload: a new client, a returning one, closed episodes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from alliance.errors import FormError, NotVisibleError
from alliance.services import incidents, practice
from alliance.store.access import Access, Viewer
from alliance.web.auth import require_role
from alliance.web.routes.common import form_data, page, redirect, tx

router = APIRouter(include_in_schema=False)
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]
Clinician = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]
Supervisor = Annotated[Viewer, Depends(require_role("supervisor"))]


def goal_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _new_client_page(
    request: Request,
    viewer: Viewer,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "client_new.html",
        {"viewer": viewer, "errors": {"client": errors} if errors else {}, "values": values or {}},
        status_code,
    )


@router.get("/clients/new", response_class=HTMLResponse)
def new_client_page(request: Request, viewer: Therapist) -> HTMLResponse:
    return _new_client_page(request, viewer)


@router.post("/clients", response_model=None)
async def add_client(request: Request, viewer: Therapist) -> Response:
    """A new client and their first episode, in one step and one transaction."""
    form = await form_data(request)
    try:
        with tx(request) as conn:
            client = practice.add_client(
                conn,
                viewer,
                display_name=form.get("display_name"),
                email=form.get("email"),
                phone=form.get("phone"),
            )
            episode_id = practice.open_episode(
                conn,
                viewer,
                client.id,
                consent_date=form.get("consent_date"),
                goals=goal_lines(form.get("goals")),
            )
    except FormError as exc:
        return _new_client_page(request, viewer, exc.errors, form, 400)
    return redirect(
        request,
        f"/episodes/{episode_id}/details",
        f"Client {client.code} added and their episode opened.",
    )


def _client_page(
    request: Request,
    viewer: Viewer,
    client_id: int,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        with tx(request) as conn:
            client = practice.client_detail(conn, viewer, client_id)
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    return page(
        request,
        "client.html",
        {
            "viewer": viewer,
            "client": client,
            "errors": {"episode": errors} if errors else {},
            "values": values or {},
        },
        status_code,
    )


@router.get("/clients/{client_id}", response_class=HTMLResponse)
def client_page(request: Request, viewer: Clinician, client_id: int) -> HTMLResponse:
    return _client_page(request, viewer, client_id)


@router.post("/clients/{client_id}/episodes", response_model=None)
async def open_episode(request: Request, viewer: Therapist, client_id: int) -> Response:
    """A returning client's new episode, linked to their last one."""
    form = await form_data(request)
    try:
        with tx(request) as conn:
            episode_id = practice.open_episode(
                conn,
                viewer,
                client_id,
                consent_date=form.get("consent_date"),
                goals=goal_lines(form.get("goals")),
            )
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    except FormError as exc:
        return _client_page(request, viewer, client_id, exc.errors, form, 400)
    return redirect(request, f"/episodes/{episode_id}/details", "Episode opened.")


@router.get("/caseload/closed", response_class=HTMLResponse)
def closed_page(request: Request, viewer: Clinician) -> HTMLResponse:
    """Closed episodes: search by code, filter by therapist and closing reason."""
    query = request.query_params
    therapist = query.get("therapist", "")
    errors: dict[str, str] = {}
    try:
        with tx(request) as conn:
            access = Access(conn, viewer)
            therapists = access.therapists()
            names = practice.therapist_names(conn, therapists)
            chosen = (
                int(therapist) if therapist.isdigit() and int(therapist) in therapists else None
            )
            rows = practice.closed_episodes(
                conn,
                viewer,
                code=query.get("code"),
                therapist_id=chosen,
                reason=query.get("reason") or None,
            )
    except FormError as exc:
        errors, rows = exc.errors, []
    return page(
        request,
        "closed.html",
        {
            "viewer": viewer,
            "rows": rows,
            "therapists": names,
            "values": dict(query),
            "errors": {"search": errors} if errors else {},
        },
        400 if errors else 200,
    )


def _incident_page(
    request: Request,
    viewer: Viewer,
    incident_id: int,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    try:
        with tx(request) as conn:
            item = incidents.incident(conn, viewer, incident_id)
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    return page(
        request,
        "incident.html",
        {
            "viewer": viewer,
            "i": item,
            "can_act": incidents.can_act(viewer, item),
            "errors": errors or {},
            "values": values or {},
        },
        status_code,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, viewer: Clinician, incident_id: int) -> HTMLResponse:
    return _incident_page(request, viewer, incident_id)


async def _step(request: Request, viewer: Viewer, incident_id: int, step: str) -> Response:
    form = await form_data(request)
    try:
        with tx(request) as conn:
            incidents.take_step(conn, viewer, incident_id, step, form.get("text"))
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    except FormError as exc:
        form_name = {"responded": "respond", "resolved": "resolve"}.get(step, "acknowledge")
        return _incident_page(request, viewer, incident_id, {form_name: exc.errors}, form, 400)
    message = {
        "acknowledged": "Acknowledged.",
        "responded": "Response sent.",
        "resolved": "Resolved.",
    }
    return redirect(request, f"/incidents/{incident_id}", message[step])


@router.post("/incidents/{incident_id}/acknowledge", response_model=None)
async def acknowledge_incident(request: Request, viewer: Supervisor, incident_id: int) -> Response:
    return await _step(request, viewer, incident_id, "acknowledged")


@router.post("/incidents/{incident_id}/respond", response_model=None)
async def respond_to_incident(request: Request, viewer: Supervisor, incident_id: int) -> Response:
    return await _step(request, viewer, incident_id, "responded")


@router.post("/incidents/{incident_id}/resolve", response_model=None)
async def resolve_incident(request: Request, viewer: Supervisor, incident_id: int) -> Response:
    return await _step(request, viewer, incident_id, "resolved")
