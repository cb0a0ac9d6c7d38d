"""Therapist pages: caseload, client chart, episode page, session page, charts and the report."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection
from starlette.exceptions import HTTPException

from alliance.errors import FormError
from alliance.instruments import Instrument, list_instruments
from alliance.services import alerts as alert_service
from alliance.services import (
    checkins,
    clinical,
    links,
    measures,
    outbox,
    practice,
    reports,
    transcripts,
    wording,
)
from alliance.services.caseload import caseload_audited
from alliance.services.episodes import EpisodeDetail, episode_detail
from alliance.store.access import Viewer
from alliance.transcripts.model import CLIENT_CODES, THERAPIST_CODES
from alliance.web import charts
from alliance.web.auth import require_role
from alliance.web.routes.common import (
    Refused,
    form_data,
    link_address,
    page,
    redirect,
    submit,
    tx,
)

router = APIRouter(include_in_schema=False)
RELAPSE_FIELDS = ("warning_signs", "triggers", "coping_steps", "who_to_call")
# Readers: an admin passes the role check but sees an episode only under a live break-glass
# grant (alliance.store.access); writes stay with the therapist.
Clinician = Annotated[Viewer, Depends(require_role("therapist", "supervisor", "admin"))]
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]
# Whoever may read the episode clinically may report a suspected boundary violation.
Reporter = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]
# A link that is done or expired opens nothing: the page shows its state, not its address.
FINISHED = ("done", "expired")


def expected_band(
    request: Request, detail: EpisodeDetail, organisation_id: int | None
) -> list[charts.ExpectedPoint]:
    """The expected-response band for each outcome measure, from the clinic's or shipped models."""
    if detail.frame.height == 0:
        return []
    with tx(request) as conn:
        models = alert_service.etr_models(conn, organisation_id)
    out: list[charts.ExpectedPoint] = []
    for instrument, model in models.items():
        rows = detail.frame.filter(detail.frame["instrument"] == instrument).sort("session")
        if rows.height == 0 or not model.usable:
            continue
        intake = float(rows["total"][0])
        sessions = np.arange(1, int(rows["session"][-1]) + 3, dtype=np.float64)
        mean, low, high = model.expected(intake, sessions)
        out.extend(
            charts.ExpectedPoint(int(s), instrument, float(lo), float(hi), float(m))
            for s, m, lo, hi in zip(sessions, mean, low, high, strict=True)
        )
    return out


def load_detail(request: Request, viewer: Viewer, episode_id: int) -> EpisodeDetail:
    with tx(request) as conn:
        return episode_detail(conn, viewer, episode_id)


def chart_spec(request: Request, viewer: Viewer, detail: EpisodeDetail) -> dict[str, Any]:
    band = expected_band(request, detail, viewer.organisation_id)
    return charts.client_chart_spec(charts.chart_data(detail, band))


@router.get("/caseload", response_class=HTMLResponse)
def caseload_page(request: Request, viewer: Therapist) -> HTMLResponse:
    rows = caseload_audited(request.app.state.engine, request.app.state.writer, viewer)
    return page(request, "caseload.html", {"rows": rows})


@router.get("/episodes/{episode_id}", response_class=HTMLResponse)
def chart_page(request: Request, viewer: Clinician, episode_id: int) -> HTMLResponse:
    detail = load_detail(request, viewer, episode_id)
    spec = chart_spec(request, viewer, detail)
    return page(
        request,
        "chart.html",
        {"e": detail, "spec_json": json.dumps(spec).replace("</", "<\\/")},
    )


def _episode_page(
    request: Request, viewer: Viewer, episode_id: int, refused: Refused | None = None
) -> HTMLResponse:
    detail = load_detail(request, viewer, episode_id)
    with tx(request) as conn:
        schedule = checkins.episode_schedule(conn, viewer, episode_id)
    return page(
        request,
        "episode.html",
        {"e": detail, "instruments": list_instruments(), "schedule": schedule},
        refused=refused,
    )


@router.get("/episodes/{episode_id}/details", response_class=HTMLResponse)
def episode_page(request: Request, viewer: Clinician, episode_id: int) -> HTMLResponse:
    return _episode_page(request, viewer, episode_id)


@router.post("/episodes/{episode_id}/incidents", response_model=None)
async def report_incident(request: Request, viewer: Reporter, episode_id: int) -> Response:
    """A suspected boundary violation goes to the supervisor; a supervisor may also report one."""
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "incidents",
        "Incident reported to the supervisor.",
        lambda conn, form: clinical.report_incident(
            conn, viewer, episode_id, form.get("description", ""), form.get("occurred_on", "")
        ),
    )


async def _episode_form(
    request: Request,
    viewer: Viewer,
    episode_id: int,
    form_name: str,
    message: str,
    write: Callable[[Connection, dict[str, str]], object],
) -> Response:
    """Run one episode-page form: saved and back to the page, or the form again with its error."""
    return await submit(
        request,
        write,
        lambda _: redirect(request, f"/episodes/{episode_id}/details", message),
        lambda refused: _episode_page(request, viewer, episode_id, refused),
        form_name,
    )


@router.post("/episodes/{episode_id}/stage", response_model=None)
async def move_stage(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "stage",
        "Stage moved.",
        lambda conn, form: clinical.move_stage(
            conn, viewer, episode_id, form.get("target", ""), form.get("reason")
        ),
    )


@router.post("/episodes/{episode_id}/consent", response_model=None)
async def record_consent(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "consent",
        "Consent recorded.",
        lambda conn, form: clinical.record_consent(
            conn, viewer, episode_id, form.get("consent_on", "")
        ),
    )


@router.post("/episodes/{episode_id}/goals", response_model=None)
async def add_goal(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "goals",
        "Goal added.",
        lambda conn, form: clinical.add_goal(
            conn, viewer, episode_id, form.get("text", ""), form.get("status", "agreed")
        ),
    )


@router.post("/episodes/{episode_id}/goal_status", response_model=None)
async def set_goal_status(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "goal_status",
        "Goal updated.",
        lambda conn, form: clinical.set_goal_status(
            conn, viewer, episode_id, form.get("goal_id", ""), form.get("status", "")
        ),
    )


def _add_task(conn: Connection, viewer: Viewer, episode_id: int, form: dict[str, str]) -> int:
    goal = form.get("goal_id", "")
    if not goal.isdigit():
        raise FormError({"goal_id": "Choose the goal this task serves."})
    return clinical.add_task(
        conn,
        viewer,
        episode_id,
        int(goal),
        form.get("description", ""),
        form.get("kind", "technique"),
    )


@router.post("/episodes/{episode_id}/tasks", response_model=None)
async def add_task(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "tasks",
        "Task added.",
        lambda conn, form: _add_task(conn, viewer, episode_id, form),
    )


@router.post("/episodes/{episode_id}/boundaries", response_model=None)
async def record_boundary(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "boundaries",
        "Boundary entry recorded.",
        lambda conn, form: clinical.record_boundary(
            conn,
            viewer,
            episode_id,
            kind=form.get("kind", ""),
            description=form.get("description", ""),
            occurred_on=form.get("occurred_on", ""),
            client_welfare=form.get("client_welfare", ""),
            technique_goal=form.get("technique_goal", ""),
            plan_link=form.get("plan_link", ""),
        ),
    )


@router.post("/episodes/{episode_id}/notes", response_model=None)
async def add_note(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "notes",
        "Relational note added.",
        lambda conn, form: clinical.add_note(
            conn,
            viewer,
            episode_id,
            form.get("kind", ""),
            form.get("text", ""),
            form.get("tags", ""),
        ),
    )


@router.post("/episodes/{episode_id}/miracle_question", response_model=None)
async def save_miracle_question(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "miracle_question",
        "Miracle Question saved; its answers are proposed goals.",
        lambda conn, form: clinical.add_worksheet(
            conn,
            viewer,
            episode_id,
            "miracle_question",
            {"answers": clinical.lines(form.get("answers"))},
        ),
    )


@router.post("/episodes/{episode_id}/relapse_prevention", response_model=None)
async def save_relapse_plan(request: Request, viewer: Therapist, episode_id: int) -> Response:
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "relapse_prevention",
        "Relapse-prevention plan saved.",
        lambda conn, form: clinical.add_worksheet(
            conn,
            viewer,
            episode_id,
            "relapse_prevention",
            {name: clinical.lines(form.get(name)) for name in RELAPSE_FIELDS},
        ),
    )


@router.post("/episodes/{episode_id}/sessions", response_model=None)
async def record_session(request: Request, viewer: Therapist, episode_id: int) -> Response:
    """A new session opens its own page, where its measures are entered or sent."""
    return await submit(
        request,
        lambda conn, form: checkins.record_session(
            conn,
            viewer,
            episode_id,
            form.get("held_on", ""),
            form.get("attendance", ""),
            ttl_minutes=request.app.state.settings.link_ttl_minutes,
            key=request.app.state.link_key,
            invite=checkins.Invite(request.app.state.settings, str(request.base_url)),
        ),
        lambda session_id: redirect(
            request, f"/episodes/{episode_id}/sessions/{session_id}", "Session recorded."
        ),
        lambda refused: _episode_page(request, viewer, episode_id, refused),
        "sessions",
    )


@router.post("/episodes/{episode_id}/schedule", response_model=None)
async def set_episode_schedule(request: Request, viewer: Therapist, episode_id: int) -> Response:
    """This episode's own rule for a measure, in place of the clinic's (blank: the clinic's)."""
    return await submit(
        request,
        lambda conn, form: checkins.set_episode_rule(
            conn, viewer, episode_id, form.get("instrument", ""), form.get("session_rule", "")
        ),
        lambda _: redirect(request, f"/episodes/{episode_id}/details#schedule-h", "Rule saved."),
        lambda refused: _episode_page(request, viewer, episode_id, refused),
        "schedule",
    )


@router.post("/episodes/{episode_id}/close", response_model=None)
async def close_episode(request: Request, viewer: Therapist, episode_id: int) -> Response:
    """Close the episode after a confirmation step; its warnings (no relapse plan) stay visible.

    The first post checks the form and shows what closing means; only the second, carrying
    `confirm=yes`, closes.
    """

    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        closing = clinical.Closing(
            form.get("closed_on", ""), form.get("closing_reason"), form.get("summary")
        )
        if form.get("confirm") != "yes":
            warnings = clinical.check_close(conn, viewer, episode_id, closing)
            return lambda: _close_confirm_page(request, viewer, episode_id, form, warnings)
        result = clinical.close_episode(conn, viewer, episode_id, closing)
        return lambda: _closed(request, episode_id, result.warnings)

    return await submit(
        request,
        write,
        lambda answer: answer(),
        lambda refused: _episode_page(request, viewer, episode_id, refused),
        "close",
    )


def _close_confirm_page(
    request: Request, viewer: Viewer, episode_id: int, form: dict[str, str], warnings: list[str]
) -> HTMLResponse:
    detail = load_detail(request, viewer, episode_id)
    return page(
        request,
        "close_confirm.html",
        {
            "e": detail,
            "values": form,
            "warnings": warnings,
            "reopen_days": request.app.state.settings.reopen_days,
        },
    )


def _closed(request: Request, episode_id: int, warnings: list[str]) -> Response:
    text = "Episode closed."
    if warnings:
        text += " Warning: " + " ".join(warnings)
    request.session["flash"] = {"kind": "warn" if warnings else "ok", "text": text}
    return redirect(request, f"/episodes/{episode_id}/details")


@router.post("/episodes/{episode_id}/reopen", response_model=None)
async def reopen_episode(request: Request, viewer: Therapist, episode_id: int) -> Response:
    """Within the clinic's period after closing, with a reason (audited)."""
    days = request.app.state.settings.reopen_days
    return await _episode_form(
        request,
        viewer,
        episode_id,
        "reopen",
        "Episode reopened.",
        lambda conn, form: practice.reopen_episode(
            conn, viewer, episode_id, form.get("reason", ""), within_days=days
        ),
    )


@router.post("/episodes/{episode_id}/ack", response_model=None)
async def acknowledge_alert(request: Request, viewer: Therapist, episode_id: int) -> Response:
    """The alert card sits on the chart page, so a refusal is shown there."""
    form = await form_data(request)
    try:
        with tx(request) as conn:
            alert_service.acknowledge(
                conn, viewer, episode_id, form.get("signal_key", ""), form.get("note")
            )
    except FormError as exc:
        request.session["flash"] = {"kind": "error", "text": str(exc)}
        return redirect(request, f"/episodes/{episode_id}")
    return redirect(request, f"/episodes/{episode_id}", "Alert acknowledged.")


def _not_offered(request: Request, viewer: Viewer) -> list[wording.Offer]:
    with tx(request) as conn:
        return wording.not_offered(conn, viewer.organisation_id)


def render_session(
    request: Request,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    refused: Refused | None = None,
    new_link: links.NewLink | None = None,
) -> HTMLResponse:
    detail = load_detail(request, viewer, episode_id)
    session = next((s for s in detail.sessions if s.id == session_id), None)
    if session is None:
        raise HTTPException(404, "session not found")
    typed = refused.values if refused else {}
    paper_id = typed.get("instrument") or request.query_params.get("paper") or ""
    context: dict[str, Any] = {
        "e": detail,
        "s": session,
        "instruments": list_instruments(),
        "paper": _paper(paper_id, asked_in_query=refused is None),
        "not_offered": _not_offered(request, viewer),
        "message_kinds": outbox.KIND_WORDS,
        "message_states": outbox.STATE_WORDS,
        "therapist_codes": THERAPIST_CODES,
        "client_codes": CLIENT_CODES,
        "transcript_limit_mb": transcripts.TRANSCRIPT_MAX_BYTES // 1048576,
    }
    with tx(request) as conn:
        context["messages"] = outbox.messages(conn, viewer, episode_id, session_id)
        context["transcripts"] = transcripts.for_session(conn, viewer, episode_id, session_id)
        found = checkins.session_checkins(
            conn, viewer, episode_id, session_id, key=request.app.state.link_key
        )
    context["checkins"] = [
        (c, link_address(request, c.token) if c.token and c.state not in FINISHED else None)
        for c in found
    ]
    if new_link is not None:
        context["link"] = link_address(request, new_link.token) | {
            "expires_at": new_link.expires_at,
            "instrument": new_link.instrument_id,
            "id": new_link.link_id,
            "token": new_link.token,
        }
    return page(request, "session.html", context, refused=refused)


def _paper(instrument_id: str, *, asked_in_query: bool) -> Instrument | None:
    """The paper form to show; an unknown measure in the address is a 400, not a 500."""
    if not instrument_id:
        return None
    try:
        return measures.known_instrument(instrument_id)
    except FormError:
        if asked_in_query:
            raise HTTPException(
                400,
                f"paper: {instrument_id[:40]!r} is not a known measure; allowed: "
                + ", ".join(i.id for i in list_instruments()),
            ) from None
        return None  # the refused form already says the measure is unknown


@router.get("/episodes/{episode_id}/sessions/{session_id}", response_class=HTMLResponse)
def session_page(
    request: Request, viewer: Clinician, episode_id: int, session_id: int
) -> HTMLResponse:
    return render_session(request, viewer, episode_id, session_id)


async def _session_form(
    request: Request,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    form_name: str,
    write: Callable[[Connection, dict[str, str]], Callable[[], Response]],
) -> Response:
    """Run one session-page form, then build its answer once the write is committed.

    A refusal shows the session page again with its error.
    """
    return await submit(
        request,
        write,
        lambda respond: respond(),
        lambda refused: render_session(request, viewer, episode_id, session_id, refused),
        form_name,
    )


@router.post("/episodes/{episode_id}/sessions/{session_id}/attendance", response_model=None)
async def set_attendance(
    request: Request, viewer: Therapist, episode_id: int, session_id: int
) -> Response:
    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        clinical.set_attendance(conn, viewer, episode_id, session_id, form.get("attendance", ""))
        url = f"/episodes/{episode_id}/sessions/{session_id}"
        return lambda: redirect(request, url, "Attendance saved.")

    return await _session_form(request, viewer, episode_id, session_id, "attendance", write)


@router.post("/episodes/{episode_id}/sessions/{session_id}/paper", response_model=None)
async def enter_paper_scores(
    request: Request, viewer: Therapist, episode_id: int, session_id: int
) -> Response:
    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        measures.enter_paper_scores(
            conn, viewer, episode_id, session_id, form.get("instrument", ""), form
        )
        url = f"/episodes/{episode_id}/sessions/{session_id}"
        return lambda: redirect(request, url, "Scores saved.")

    return await _session_form(request, viewer, episode_id, session_id, "paper", write)


def _new_link(
    request: Request,
    conn: Connection,
    viewer: Viewer,
    episode_id: int,
    session_id: int,
    form: dict[str, str],
) -> links.NewLink:
    ttl = request.app.state.settings.link_ttl_minutes
    return links.create_link(
        conn,
        viewer,
        episode_id,
        session_id,
        form.get("instrument", ""),
        ttl,
        key=request.app.state.link_key,
    )


@router.post("/episodes/{episode_id}/sessions/{session_id}/link", response_model=None)
async def create_link(
    request: Request, viewer: Therapist, episode_id: int, session_id: int
) -> Response:
    """A single-use link (and its QR code) for the client to answer on their own device."""

    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        new = _new_link(request, conn, viewer, episode_id, session_id, form)
        return lambda: render_session(request, viewer, episode_id, session_id, new_link=new)

    return await _session_form(request, viewer, episode_id, session_id, "link", write)


@router.post("/episodes/{episode_id}/sessions/{session_id}/send", response_model=None)
async def send_link(
    request: Request, viewer: Therapist, episode_id: int, session_id: int
) -> Response:
    """Queue the link just created to the client, by email or text message."""

    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        link_id = form.get("link_id", "")
        outbox.queue_invitation(
            conn,
            viewer,
            request.app.state.settings,
            request.app.state.secret_key,
            episode_id=episode_id,
            link_id=int(link_id) if link_id.isdigit() and len(link_id) < 12 else 0,
            token=form.get("token", ""),
            channel=form.get("channel", ""),
            base_url=str(request.base_url),
        )
        url = f"/episodes/{episode_id}/sessions/{session_id}#messages"
        return lambda: redirect(request, url, "The link is queued and sent within a minute.")

    return await _session_form(request, viewer, episode_id, session_id, "send", write)


@router.post("/episodes/{episode_id}/sessions/{session_id}/tablet", response_model=None)
async def hand_over_tablet(
    request: Request, viewer: Therapist, episode_id: int, session_id: int
) -> Response:
    """This browser is locked to the form until the therapist unlocks it again."""

    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        new = _new_link(request, conn, viewer, episode_id, session_id, form)

        return lambda: _lock_tablet(request, new.link_id, episode_id, session_id)

    return await _session_form(request, viewer, episode_id, session_id, "tablet", write)


def _lock_tablet(request: Request, link_id: int, episode_id: int, session_id: int) -> Response:
    request.session["tablet"] = link_id
    request.session["tablet_back"] = f"/episodes/{episode_id}/sessions/{session_id}"
    return redirect(request, f"/tablet/{link_id}")


@router.post(
    "/episodes/{episode_id}/sessions/{session_id}/checkins/{checkin_id}/tablet",
    response_model=None,
)
async def hand_over_checkin(
    request: Request, viewer: Therapist, episode_id: int, session_id: int, checkin_id: int
) -> Response:
    """The tablet runs every measure of the check-in in order, then asks for the password."""

    def write(conn: Connection, form: dict[str, str]) -> Callable[[], Response]:
        link_id = checkins.open_for_handover(conn, viewer, episode_id, session_id, checkin_id)
        return lambda: _lock_tablet(request, link_id, episode_id, session_id)

    return await _session_form(request, viewer, episode_id, session_id, "checkins", write)


@router.get("/episodes/{episode_id}/chart.{fmt}")
def chart_file(
    request: Request, viewer: Clinician, episode_id: int, fmt: Literal["svg", "png", "pdf", "json"]
) -> Response:
    detail = load_detail(request, viewer, episode_id)
    spec = chart_spec(request, viewer, detail)
    if fmt == "json":
        return Response(json.dumps(spec), media_type="application/json")
    media = {"svg": "image/svg+xml", "png": "image/png", "pdf": "application/pdf"}[fmt]
    return Response(charts.render(spec, fmt), media_type=media)


def _report(request: Request, viewer: Viewer, episode_id: int) -> tuple[Any, dict[str, Any]]:
    detail = load_detail(request, viewer, episode_id)
    with tx(request) as conn:
        report = reports.progress_report(conn, detail)
    return report, chart_spec(request, viewer, detail)


@router.get("/episodes/{episode_id}/report", response_class=HTMLResponse)
def report_page(request: Request, viewer: Clinician, episode_id: int) -> HTMLResponse:
    report, spec = _report(request, viewer, episode_id)
    svg = charts.render(spec, "svg").decode() if report.measures else ""
    return page(
        request,
        "report.html",
        {"r": report, "episode_id": episode_id, "chart_svg": svg},
    )


@router.get("/episodes/{episode_id}/report.pdf")
def report_pdf(
    request: Request,
    viewer: Clinician,
    episode_id: int,
    paper: Literal["a4", "letter"] = "a4",
) -> Response:
    """A4 by default; `?paper=letter` for US Letter."""
    from alliance.web.reports import progress_report_pdf

    report, spec = _report(request, viewer, episode_id)
    return Response(
        progress_report_pdf(report, spec, paper),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="progress-{report.client_code}.pdf"'
        },
    )
