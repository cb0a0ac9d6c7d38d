"""The JSON API under /api: the same services as the pages, described by /api/openapi.json."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from alliance.web.auth import Viewer, require_role
from alliance.web.routes.clinical import chart_spec, load_detail
from alliance.web.routes.common import tx
from alliance.web.schemas import (
    AcknowledgeCreate,
    BoundaryCreate,
    CaseloadRowPublic,
    CreatedPublic,
    EpisodePublic,
    GoalCreate,
    LinkCreate,
    LinkPublic,
    StageMoveCreate,
)
from alliance.web.services import alerts, clinical, links
from alliance.web.services.caseload import caseload
from alliance.web.services.errors import FormError, NotVisibleError

router = APIRouter(prefix="/api", tags=["api"])
Clinician = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]
T = TypeVar("T")


@contextmanager
def _mapped() -> Iterator[None]:
    """Service refusals as HTTP: 404 for what may not be seen, 422 naming the field."""
    try:
        yield
    except NotVisibleError as exc:
        raise HTTPException(404, str(exc)) from None
    except FormError as exc:
        raise HTTPException(
            422, [{"field": k, "message": v} for k, v in exc.errors.items()]
        ) from None


def _run(request: Request, op: Callable[[Any], T]) -> T:
    with _mapped(), tx(request) as conn:
        return op(conn)


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/caseload", response_model=list[CaseloadRowPublic])
def api_caseload(request: Request, viewer: Therapist) -> list[CaseloadRowPublic]:
    rows = _run(request, lambda conn: caseload(conn, viewer))
    return [CaseloadRowPublic.model_validate(r) for r in rows]


@router.get("/episodes/{episode_id}", response_model=EpisodePublic)
def api_episode(request: Request, viewer: Clinician, episode_id: int) -> EpisodePublic:
    detail = load_detail(request, viewer, episode_id)
    return EpisodePublic.model_validate(detail)


@router.get("/episodes/{episode_id}/chart")
def api_chart(request: Request, viewer: Clinician, episode_id: int) -> JSONResponse:
    """The client chart as a Vega-Lite 5 spec."""
    detail = load_detail(request, viewer, episode_id)
    return JSONResponse(chart_spec(request, viewer, detail))


@router.post("/episodes/{episode_id}/stage", response_model=EpisodePublic)
def api_move_stage(
    request: Request, viewer: Therapist, episode_id: int, body: StageMoveCreate
) -> EpisodePublic:
    _run(request, lambda c: clinical.move_stage(c, viewer, episode_id, body.target, body.reason))
    return EpisodePublic.model_validate(load_detail(request, viewer, episode_id))


@router.post("/episodes/{episode_id}/goals", response_model=CreatedPublic, status_code=201)
def api_add_goal(
    request: Request, viewer: Therapist, episode_id: int, body: GoalCreate
) -> CreatedPublic:
    goal_id = _run(
        request, lambda c: clinical.add_goal(c, viewer, episode_id, body.text, body.status)
    )
    return CreatedPublic(id=goal_id)


@router.post("/episodes/{episode_id}/boundaries", response_model=CreatedPublic, status_code=201)
def api_add_boundary(
    request: Request, viewer: Therapist, episode_id: int, body: BoundaryCreate
) -> CreatedPublic:
    event_id = _run(
        request,
        lambda c: clinical.record_boundary(
            c,
            viewer,
            episode_id,
            kind=body.kind,
            description=body.description,
            occurred_on=body.occurred_on.isoformat(),
            client_welfare=body.client_welfare,
            technique_goal=body.technique_goal,
            plan_link=body.plan_link,
        ),
    )
    return CreatedPublic(id=event_id)


@router.post("/episodes/{episode_id}/acknowledgements", status_code=204)
def api_acknowledge(
    request: Request, viewer: Therapist, episode_id: int, body: AcknowledgeCreate
) -> None:
    _run(request, lambda c: alerts.acknowledge(c, viewer, episode_id, body.signal_key, body.note))


@router.post("/episodes/{episode_id}/links", response_model=LinkPublic, status_code=201)
def api_create_link(
    request: Request, viewer: Therapist, episode_id: int, body: LinkCreate
) -> LinkPublic:
    ttl = request.app.state.settings.link_ttl_minutes
    new = _run(
        request,
        lambda c: links.create_link(c, viewer, episode_id, body.session_id, body.instrument, ttl),
    )
    url = str(request.base_url).rstrip("/") + f"/f/{new.token}"
    return LinkPublic(url=url, expires_at=new.expires_at, instrument=new.instrument_id)
