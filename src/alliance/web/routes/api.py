"""The JSON API under /api: the same services as the pages, described by /api/openapi.json."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from alliance.errors import FormError
from alliance.services import (
    alerts,
    checkins,
    clinical,
    links,
    practice,
    transcript_practice,
    transcripts,
)
from alliance.services.caseload import caseload
from alliance.store.access import Viewer
from alliance.web.auth import require_role
from alliance.web.routes.clinical import chart_spec, load_detail
from alliance.web.routes.common import public_base, tx
from alliance.web.schemas import (
    AcknowledgeCreate,
    AttendancePublic,
    AttendanceUpdate,
    BoundaryCreate,
    CaseloadRowPublic,
    CheckinPublic,
    ClientCreate,
    ClientCreated,
    ClientPublic,
    ClosingCreate,
    ClosingPublic,
    CodedLinePublic,
    CorrectionCreate,
    CreatedPublic,
    EpisodeCreate,
    EpisodePublic,
    EpisodeSummaryPublic,
    GoalCreate,
    GoalPublic,
    GoalStatusPublic,
    GoalStatusUpdate,
    IncidentCreate,
    LinkCreate,
    LinkPublic,
    NoteCreate,
    ReopenCreate,
    SessionCreate,
    SessionCreated,
    ShareUpdate,
    StageMoveCreate,
    TextDelete,
    TranscriptCreate,
    TranscriptPublic,
    TrendPublic,
    WorksheetCreate,
)

router = APIRouter(prefix="/api", tags=["api"])
# A check-in's link is shown while it can still be answered.
OPEN = ("due", "sent", "opened")
Clinician = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]
Reporter = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]
T = TypeVar("T")


def _run(request: Request, op: Callable[[Any], T]) -> T:
    """One service call in one transaction; a refusal is a 422 naming the field.

    What may not be seen is a 404 (`tx`).
    """
    try:
        with tx(request) as conn:
            return op(conn)
    except FormError as exc:
        raise HTTPException(
            422, [{"field": k, "message": v} for k, v in exc.errors.items()]
        ) from None


def _created(request: Request, op: Callable[[Any], int]) -> CreatedPublic:
    """The answer of a POST that creates one thing: its new id."""
    return CreatedPublic(id=_run(request, op))


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/caseload", response_model=list[CaseloadRowPublic])
def api_caseload(request: Request, viewer: Therapist) -> list[CaseloadRowPublic]:
    rows = _run(request, lambda conn: caseload(conn, viewer))
    return [CaseloadRowPublic.model_validate(r) for r in rows]


def _episode(request: Request, viewer: Viewer, episode_id: int) -> EpisodePublic:
    """The episode as the API shows it: stages, goals, sessions with their scores, open alerts."""
    detail = load_detail(request, viewer, episode_id)
    out = EpisodePublic.model_validate(detail)
    goals = [GoalPublic(id=g["id"], text=g["text"], status=g["status"]) for g in detail.goals]
    alerts = [a for a in out.alerts if not a.acknowledged]
    return out.model_copy(update={"goals": goals, "alerts": alerts})


@router.post("/clients", response_model=ClientCreated, status_code=201)
def api_add_client(request: Request, viewer: Clinician, body: ClientCreate) -> ClientCreated:
    """A new client: a pseudonymous code is generated; name, e-mail and phone are optional."""
    new = _run(
        request,
        lambda c: practice.add_client(
            c, viewer, display_name=body.display_name, email=body.email, phone=body.phone
        ),
    )
    return ClientCreated(id=new.id, code=new.code)


@router.get("/clients/{client_id}", response_model=ClientPublic)
def api_client(request: Request, viewer: Clinician, client_id: int) -> ClientPublic:
    """The client's code, identity (the read is audited) and episodes."""
    detail = _run(request, lambda c: practice.client_detail(c, viewer, client_id))
    return ClientPublic.model_validate(detail)


@router.post("/episodes", response_model=CreatedPublic, status_code=201)
def api_open_episode(request: Request, viewer: Therapist, body: EpisodeCreate) -> CreatedPublic:
    """Open an episode today; a returning client's is linked to their last one."""
    return _created(
        request,
        lambda c: practice.open_episode(
            c,
            viewer,
            body.client_id,
            consent_date=body.consent_date.isoformat(),
            therapist=body.therapist,
            goals=body.goals,
        ),
    )


@router.get("/episodes", response_model=list[EpisodeSummaryPublic])
def api_episodes(
    request: Request, viewer: Clinician, status: Literal["open", "closed"] = "open"
) -> list[EpisodeSummaryPublic]:
    """The episodes you may read, open (default) or closed."""
    if status == "closed":
        rows = _run(request, lambda c: practice.closed_episodes(c, viewer))
    else:
        rows = _run(request, lambda c: practice.open_episodes(c, viewer))
    return [EpisodeSummaryPublic.model_validate(r) for r in rows]


@router.get("/episodes/{episode_id}", response_model=EpisodePublic)
def api_episode(request: Request, viewer: Clinician, episode_id: int) -> EpisodePublic:
    return _episode(request, viewer, episode_id)


@router.post("/episodes/{episode_id}/sessions", response_model=SessionCreated, status_code=201)
def api_record_session(
    request: Request, viewer: Therapist, episode_id: int, body: SessionCreate
) -> SessionCreated:
    session_id = _run(
        request,
        lambda c: checkins.record_session(
            c,
            viewer,
            episode_id,
            body.date.isoformat(),
            body.attendance,
            ttl_minutes=request.app.state.settings.link_ttl_minutes,
            key=request.app.state.link_key,
            invite=checkins.Invite(request.app.state.settings, str(request.base_url)),
        ),
    )
    number = _run(request, lambda c: clinical.session_number(c, viewer, episode_id, session_id))
    return SessionCreated(id=session_id, number=number)


@router.post("/episodes/{episode_id}/reopen", response_model=EpisodePublic)
def api_reopen_episode(
    request: Request, viewer: Therapist, episode_id: int, body: ReopenCreate
) -> EpisodePublic:
    """Reopen a closed episode within the clinic's period, with a reason (audited)."""
    days = request.app.state.settings.reopen_days
    _run(
        request,
        lambda c: practice.reopen_episode(c, viewer, episode_id, body.reason, within_days=days),
    )
    return _episode(request, viewer, episode_id)


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
    return _episode(request, viewer, episode_id)


@router.post("/episodes/{episode_id}/goals", response_model=CreatedPublic, status_code=201)
def api_add_goal(
    request: Request, viewer: Therapist, episode_id: int, body: GoalCreate
) -> CreatedPublic:
    return _created(
        request, lambda c: clinical.add_goal(c, viewer, episode_id, body.text, body.status)
    )


@router.post("/episodes/{episode_id}/boundaries", response_model=CreatedPublic, status_code=201)
def api_add_boundary(
    request: Request, viewer: Therapist, episode_id: int, body: BoundaryCreate
) -> CreatedPublic:
    return _created(
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
        lambda c: links.create_link(
            c,
            viewer,
            episode_id,
            body.session_id,
            body.instrument,
            ttl,
            key=request.app.state.link_key,
        ),
    )
    url = links.link_url(public_base(request), new.token)
    return LinkPublic(url=url, expires_at=new.expires_at, instrument=new.instrument_id)


@router.post("/episodes/{episode_id}/worksheets", response_model=CreatedPublic, status_code=201)
def api_add_worksheet(
    request: Request, viewer: Therapist, episode_id: int, body: WorksheetCreate
) -> CreatedPublic:
    """A Miracle Question (its answers become proposed goals) or a relapse-prevention plan."""
    content = (
        {"answers": body.answers}
        if body.kind == "miracle_question"
        else {
            "warning_signs": body.warning_signs,
            "triggers": body.triggers,
            "coping_steps": body.coping_steps,
            "who_to_call": body.who_to_call,
        }
    )
    return _created(
        request, lambda c: clinical.add_worksheet(c, viewer, episode_id, body.kind, content)
    )


@router.post("/episodes/{episode_id}/goal-status", response_model=GoalStatusPublic)
def api_set_goal_status(
    request: Request, viewer: Therapist, episode_id: int, body: GoalStatusUpdate
) -> GoalStatusPublic:
    """Agree, achieve or drop one of the episode's goals (e.g. agree a proposed one)."""
    status = _run(
        request,
        lambda c: clinical.set_goal_status(c, viewer, episode_id, body.goal_id, body.status),
    )
    return GoalStatusPublic(goal_id=body.goal_id, status=status)


@router.post("/episodes/{episode_id}/notes", response_model=CreatedPublic, status_code=201)
def api_add_note(
    request: Request, viewer: Therapist, episode_id: int, body: NoteCreate
) -> CreatedPublic:
    return _created(
        request,
        lambda c: clinical.add_note(c, viewer, episode_id, body.kind, body.text, body.tags),
    )


@router.post("/episodes/{episode_id}/incidents", response_model=CreatedPublic, status_code=201)
def api_report_incident(
    request: Request, viewer: Reporter, episode_id: int, body: IncidentCreate
) -> CreatedPublic:
    """A suspected boundary violation, addressed to the therapist's supervisor."""
    return _created(
        request,
        lambda c: clinical.report_incident(
            c, viewer, episode_id, body.description, body.occurred_on.isoformat()
        ),
    )


@router.post("/episodes/{episode_id}/close", response_model=ClosingPublic)
def api_close_episode(
    request: Request, viewer: Therapist, episode_id: int, body: ClosingCreate
) -> ClosingPublic:
    """Close the episode; `warnings` says, e.g., that no relapse-prevention plan was written."""
    closing = clinical.Closing(body.closed_on.isoformat(), body.closing_reason, body.summary)
    result = _run(request, lambda c: clinical.close_episode(c, viewer, episode_id, closing))
    return ClosingPublic(
        episode_id=result.episode_id,
        closed_on=result.closed_on,
        closing_reason=result.reason.value,
        warnings=result.warnings,
    )


@router.post(
    "/episodes/{episode_id}/sessions/{session_id}/attendance", response_model=AttendancePublic
)
def api_set_attendance(
    request: Request, viewer: Therapist, episode_id: int, session_id: int, body: AttendanceUpdate
) -> AttendancePublic:
    attendance = _run(
        request,
        lambda c: clinical.set_attendance(c, viewer, episode_id, session_id, body.attendance),
    )
    return AttendancePublic(session_id=session_id, attendance=attendance)


def _transcript_public(view: transcripts.TranscriptView) -> TranscriptPublic:
    return TranscriptPublic(
        id=view.id,
        episode_id=view.episode_id,
        session_id=view.session_id,
        status=view.status,
        progress=view.progress,
        error=view.error,
        file_format=view.file_format,
        shared=view.shared,
        text_kept=view.keep_text and not view.text_deleted,
        profile=view.profile,
        lines=[
            CodedLinePublic(
                line=ln["line"],
                speaker=ln["speaker"],
                code=ln["code"],
                confidence=ln["confidence"],
                markers=[m["name"] for m in ln.get("markers", [])],
                corrected=bool(ln.get("corrected")),
                text=ln.get("text"),
            )
            for ln in view.lines
        ],
        warnings=view.warnings,
    )


@router.get(
    "/episodes/{episode_id}/sessions/{session_id}/transcripts",
    response_model=list[TranscriptPublic],
)
def api_session_transcripts(
    request: Request, viewer: Clinician, episode_id: int, session_id: int
) -> list[TranscriptPublic]:
    """A session's transcripts this reader may see: a supervisor, only those shared."""
    views = _run(request, lambda c: transcripts.for_session(c, viewer, episode_id, session_id))
    return [_transcript_public(v) for v in views]


@router.post(
    "/episodes/{episode_id}/sessions/{session_id}/transcripts",
    response_model=TranscriptPublic,
    status_code=202,
)
def api_upload_transcript(
    request: Request, viewer: Therapist, episode_id: int, session_id: int, body: TranscriptCreate
) -> TranscriptPublic:
    """Code a transcript in the background; poll GET /api/transcripts/{id} for its progress."""
    tid = _run(
        request,
        lambda c: transcripts.upload_and_map(
            c,
            viewer,
            episode_id,
            session_id,
            text=body.text,
            fmt=body.format,
            speakers=body.speakers,
            keep_text=body.keep_text,
        ),
    )
    request.app.state.transcript_jobs.submit(tid)
    return _transcript_public(_run(request, lambda c: transcripts.transcript(c, viewer, tid)))


@router.get("/transcripts/{transcript_id}", response_model=TranscriptPublic)
def api_transcript(request: Request, viewer: Clinician, transcript_id: int) -> TranscriptPublic:
    return _transcript_public(
        _run(request, lambda c: transcripts.transcript(c, viewer, transcript_id))
    )


def _after(
    request: Request, viewer: Viewer, transcript_id: int, op: Callable[[Any], object]
) -> TranscriptPublic:
    """Run one transcript write, then answer with the transcript as it now is."""
    _run(request, op)
    return api_transcript(request, viewer, transcript_id)


@router.post("/transcripts/{transcript_id}/corrections", response_model=TranscriptPublic)
def api_correct(
    request: Request, viewer: Therapist, transcript_id: int, body: CorrectionCreate
) -> TranscriptPublic:
    """Correct one line's code; kept for retraining, the profile recounted."""
    return _after(
        request,
        viewer,
        transcript_id,
        lambda c: transcripts.correct(c, viewer, transcript_id, str(body.line), body.code),
    )


@router.post("/transcripts/{transcript_id}/share", response_model=TranscriptPublic)
def api_share(
    request: Request, viewer: Therapist, transcript_id: int, body: ShareUpdate
) -> TranscriptPublic:
    """Share the profile with your supervisor, or stop sharing it."""
    shared = "yes" if body.shared else "no"
    return _after(
        request,
        viewer,
        transcript_id,
        lambda c: transcripts.set_shared(c, viewer, transcript_id, shared),
    )


@router.post("/transcripts/{transcript_id}/delete-text", response_model=TranscriptPublic | None)
def api_delete_text(
    request: Request, viewer: Therapist, transcript_id: int, body: TextDelete
) -> TranscriptPublic | None:
    """Delete the words (send confirm: true); the codes and the profile stay."""
    confirm = "delete" if body.confirm else ""
    left = _run(request, lambda c: transcripts.delete_text(c, viewer, transcript_id, confirm))
    return api_transcript(request, viewer, transcript_id) if left else None


@router.get("/practice/transcripts", response_model=list[TrendPublic])
def api_practice(request: Request, viewer: Clinician) -> list[TrendPublic]:
    """Coded sessions over time beside the client's ratings (a supervisor: shared ones)."""
    rows = _run(request, lambda c: transcript_practice.practice_trends(c, viewer))
    return [TrendPublic.model_validate(r) for r in rows]


@router.get(
    "/episodes/{episode_id}/sessions/{session_id}/checkins", response_model=list[CheckinPublic]
)
def api_session_checkins(
    request: Request, viewer: Clinician, episode_id: int, session_id: int
) -> list[CheckinPublic]:
    """A session's check-ins: their measures in order, what is answered, state and link."""
    key = request.app.state.link_key
    found = _run(
        request, lambda c: checkins.session_checkins(c, viewer, episode_id, session_id, key=key)
    )
    base = public_base(request)
    return [
        CheckinPublic(
            id=c.id,
            timing=c.timing,
            measures=[m.instrument_id for m in c.measures],
            answered=[m.instrument_id for m in c.measures if m.answered],
            state=c.state,
            expires_at=c.expires_at,
            url=links.link_url(base, c.token) if c.token and c.state in OPEN else None,
        )
        for c in found
    ]
