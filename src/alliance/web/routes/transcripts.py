"""Transcript pages: upload to a session, map speakers, correct a code, share, delete the text,
and the therapist's practice over time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Connection
from starlette.datastructures import UploadFile

from alliance.errors import FormError
from alliance.services import transcript_practice, transcripts
from alliance.store.access import Viewer
from alliance.web.auth import require_role
from alliance.web.routes.clinical import render_session
from alliance.web.routes.common import Refused, page, redirect, submit, tx

router = APIRouter(include_in_schema=False)
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]
Clinician = Annotated[Viewer, Depends(require_role("therapist", "supervisor"))]


def _session_url(episode_id: int, session_id: int) -> str:
    return f"/episodes/{episode_id}/sessions/{session_id}#transcripts"


async def _upload_fields(request: Request) -> tuple[str, bytes, dict[str, str]]:
    """The file's name and bytes (up to one byte over the cap) and the other fields."""
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    sent = form.get("file")
    if not isinstance(sent, UploadFile) or not sent.filename:
        raise FormError({"file": "choose a transcript file (.txt, .vtt, .srt or .jsonl)"})
    raw = await sent.read(transcripts.TRANSCRIPT_MAX_BYTES + 1)
    return sent.filename, raw, values


@router.post("/episodes/{episode_id}/sessions/{session_id}/transcripts", response_model=None)
async def upload_transcript(
    request: Request, viewer: Therapist, episode_id: int, session_id: int
) -> Response:
    """Read the file and hold it; the session page then asks who is who."""
    values: dict[str, str] = {}
    try:
        filename, raw, values = await _upload_fields(request)
        with tx(request) as conn:
            transcripts.upload(
                conn,
                viewer,
                episode_id,
                session_id,
                filename=filename,
                raw=raw,
                keep_text=values.get("keep_text") == "yes",
                fmt=values.get("format") or None,
            )
    except FormError as exc:
        refused = Refused({"transcript": exc.errors}, values)
        return render_session(request, viewer, episode_id, session_id, refused)
    return redirect(
        request, _session_url(episode_id, session_id), "Transcript read: say who is who."
    )


async def _transcript_form(
    request: Request,
    viewer: Viewer,
    transcript_id: int,
    form_name: str,
    write: Callable[[Connection, dict[str, str]], str],
    after: Callable[[], object] | None = None,
) -> Response:
    """Run one transcript form; a refusal shows the session page again with its error."""
    with tx(request) as conn:
        shown = transcripts.transcript(conn, viewer, transcript_id)
    back = _session_url(shown.episode_id, shown.session_id)

    def done(message: str) -> Response:
        if after is not None:  # once committed, so the worker sees what was written
            after()
        return redirect(request, back, message)

    return await submit(
        request,
        write,
        done,
        lambda refused: render_session(
            request,
            viewer,
            shown.episode_id,
            shown.session_id,
            Refused({f"{form_name}-{transcript_id}": refused.errors}, refused.values),
        ),
    )


@router.post("/transcripts/{transcript_id}/speakers", response_model=None)
async def map_speakers(request: Request, viewer: Therapist, transcript_id: int) -> Response:
    def write(conn: Connection, form: dict[str, str]) -> str:
        transcripts.map_speakers(conn, viewer, transcript_id, form)
        return "Coding the transcript on this machine."

    def start() -> object:
        return request.app.state.transcript_jobs.submit(transcript_id)

    return await _transcript_form(request, viewer, transcript_id, "speakers", write, start)


@router.post("/transcripts/{transcript_id}/corrections", response_model=None)
async def correct_code(request: Request, viewer: Therapist, transcript_id: int) -> Response:
    def write(conn: Connection, form: dict[str, str]) -> str:
        line, code = form.get("line", ""), form.get("code", "")
        was = transcripts.correct(conn, viewer, transcript_id, line, code)
        return f"Line {line}: {_label(was)} corrected to {_label(code)}; kept for retraining."

    return await _transcript_form(request, viewer, transcript_id, "correct", write)


def _label(code: str) -> str:
    from alliance.web.render import templates

    return str(templates.env.filters["words"](code))


@router.post("/transcripts/{transcript_id}/share", response_model=None)
async def share_transcript(request: Request, viewer: Therapist, transcript_id: int) -> Response:
    def write(conn: Connection, form: dict[str, str]) -> str:
        if transcripts.set_shared(conn, viewer, transcript_id, form.get("shared", "")):
            return "Shared with your supervisor."
        return "No longer shared: only you see this profile."

    return await _transcript_form(request, viewer, transcript_id, "share", write)


@router.post("/transcripts/{transcript_id}/delete-text", response_model=None)
async def delete_transcript_text(
    request: Request, viewer: Therapist, transcript_id: int
) -> Response:
    def write(conn: Connection, form: dict[str, str]) -> str:
        if transcripts.delete_text(conn, viewer, transcript_id, form.get("confirm", "")):
            return "The text is deleted; the codes and the profile remain."
        return "The transcript is deleted."

    return await _transcript_form(request, viewer, transcript_id, "delete", write)


@router.get("/practice/transcripts", response_class=HTMLResponse)
def practice_page(request: Request, viewer: Clinician) -> HTMLResponse:
    """The therapist's coded sessions over time, beside the client's ratings of each."""
    with tx(request) as conn:
        rows = transcript_practice.practice_trends(conn, viewer)
    context: dict[str, Any] = {"rows": rows}
    return page(request, "transcript_practice.html", context)
