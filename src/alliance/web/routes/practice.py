"""Clients and episodes from the caseload: a new client, a returning one, closed episodes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection

from alliance.errors import FormError
from alliance.services import contact, incidents, practice
from alliance.store.access import Access, Viewer
from alliance.web.auth import require_role
from alliance.web.routes.common import Refused, page, redirect, submit, tx

router = APIRouter(include_in_schema=False)
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]
Clinician = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]
Supervisor = Annotated[Viewer, Depends(require_role("supervisor"))]


def goal_lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _new_client_page(request: Request, refused: Refused | None = None) -> HTMLResponse:
    return page(request, "client_new.html", {}, refused=refused)


@router.get("/clients/new", response_class=HTMLResponse)
def new_client_page(request: Request, viewer: Therapist) -> HTMLResponse:
    return _new_client_page(request)


def _add_client(conn: Connection, viewer: Viewer, form: dict[str, str]) -> tuple[str, int]:
    """A new client and their first episode: the client's code and the episode's id."""
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
    if form.get("contact_consent") == "yes":
        contact.set_contact_consent(conn, viewer, client.id, "yes")
    return client.code, episode_id


def _client_added(request: Request, added: tuple[str, int]) -> Response:
    code, episode_id = added
    return redirect(
        request,
        f"/episodes/{episode_id}/details",
        f"Client {code} added and their episode opened.",
    )


@router.post("/clients", response_model=None)
async def add_client(request: Request, viewer: Therapist) -> Response:
    """A new client and their first episode, in one step and one transaction."""
    return await submit(
        request,
        lambda conn, form: _add_client(conn, viewer, form),
        lambda added: _client_added(request, added),
        lambda refused: _new_client_page(request, refused),
        form_name="client",
    )


def _client_page(
    request: Request, viewer: Viewer, client_id: int, refused: Refused | None = None
) -> HTMLResponse:
    with tx(request) as conn:
        client = practice.client_detail(conn, viewer, client_id)
        consent = contact.contact_consent(conn, viewer, client_id)
    context = {"client": client, "contact_consent": consent}
    return page(request, "client.html", context, refused=refused)


@router.get("/clients/{client_id}", response_class=HTMLResponse)
def client_page(request: Request, viewer: Clinician, client_id: int) -> HTMLResponse:
    return _client_page(request, viewer, client_id)


@router.post("/clients/{client_id}/contact_consent", response_model=None)
async def set_contact_consent(request: Request, viewer: Therapist, client_id: int) -> Response:
    """Record or withdraw the client's consent to check-ins by email or text message."""
    return await submit(
        request,
        lambda conn, form: contact.set_contact_consent(
            conn, viewer, client_id, form.get("consent", "")
        ),
        lambda agreed: redirect(
            request,
            f"/clients/{client_id}",
            "Consent to be contacted recorded." if agreed else "Consent to be contacted withdrawn.",
        ),
        lambda refused: _client_page(request, viewer, client_id, refused),
        form_name="contact",
    )


@router.post("/clients/{client_id}/episodes", response_model=None)
async def open_episode(request: Request, viewer: Therapist, client_id: int) -> Response:
    """A returning client's new episode, linked to their last one."""
    return await submit(
        request,
        lambda conn, form: practice.open_episode(
            conn,
            viewer,
            client_id,
            consent_date=form.get("consent_date"),
            goals=goal_lines(form.get("goals")),
        ),
        lambda episode_id: redirect(request, f"/episodes/{episode_id}/details", "Episode opened."),
        lambda refused: _client_page(request, viewer, client_id, refused),
        form_name="episode",
    )


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
            "rows": rows,
            "therapists": names,
            "values": dict(query),
            "errors": {"search": errors} if errors else {},
        },
        400 if errors else 200,
    )


def _incident_page(
    request: Request, viewer: Viewer, incident_id: int, refused: Refused | None = None
) -> HTMLResponse:
    with tx(request) as conn:
        item = incidents.incident(conn, viewer, incident_id)
    return page(
        request,
        "incident.html",
        {"i": item, "can_act": incidents.can_act(viewer, item)},
        refused=refused,
    )


@router.get("/incidents/{incident_id}", response_class=HTMLResponse)
def incident_page(request: Request, viewer: Clinician, incident_id: int) -> HTMLResponse:
    return _incident_page(request, viewer, incident_id)


STEPS = {
    # step: (the form on the incident page, what the flash says once done)
    "acknowledged": ("acknowledge", "Acknowledged."),
    "responded": ("respond", "Response sent."),
    "resolved": ("resolve", "Resolved."),
}


async def _step(request: Request, viewer: Viewer, incident_id: int, step: str) -> Response:
    form_name, message = STEPS[step]
    return await submit(
        request,
        lambda conn, form: incidents.take_step(conn, viewer, incident_id, step, form.get("text")),
        lambda _: redirect(request, f"/incidents/{incident_id}", message),
        lambda refused: _incident_page(request, viewer, incident_id, refused),
        form_name=form_name,
    )


@router.post("/incidents/{incident_id}/acknowledge", response_model=None)
async def acknowledge_incident(request: Request, viewer: Supervisor, incident_id: int) -> Response:
    return await _step(request, viewer, incident_id, "acknowledged")


@router.post("/incidents/{incident_id}/respond", response_model=None)
async def respond_to_incident(request: Request, viewer: Supervisor, incident_id: int) -> Response:
    return await _step(request, viewer, incident_id, "responded")


@router.post("/incidents/{incident_id}/resolve", response_model=None)
async def resolve_incident(request: Request, viewer: Supervisor, incident_id: int) -> Response:
    return await _step(request, viewer, incident_id, "resolved")
