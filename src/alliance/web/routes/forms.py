"""What each measure's form says and what follows a risk answer: the admin's licensed wording
and crisis pages, and the therapist's acknowledgement of a risk notice."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from alliance.errors import FormError
from alliance.services import risk, wording
from alliance.store.access import Viewer
from alliance.web.auth import require_role
from alliance.web.routes.common import Refused, page, redirect, submit, tx

router = APIRouter(include_in_schema=False)
Admin = Annotated[Viewer, Depends(require_role("admin"))]
Therapist = Annotated[Viewer, Depends(require_role("therapist"))]


def _wording_page(request: Request, viewer: Viewer, refused: Refused | None = None) -> HTMLResponse:
    with tx(request) as conn:
        offers = wording.offers(conn, viewer.organisation_id)
    needs = [o for o in offers if o.how is not None or o.licence_holder is not None]
    return page(
        request,
        "admin_wording.html",
        {"offers": offers, "licensed": needs},
        refused=refused,
    )


@router.get("/admin/wording", response_class=HTMLResponse)
def wording_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _wording_page(request, viewer)


@router.post("/admin/wording", response_model=None)
async def wording_upload(request: Request, viewer: Admin) -> Response:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    filename, content = "", b""
    if isinstance(upload, UploadFile):
        filename, content = upload.filename or "", await upload.read(wording.MAX_FILE_BYTES + 1)
    try:
        with tx(request) as conn:
            wording.upload_wording(
                conn,
                viewer,
                fields.get("instrument", ""),
                filename,
                content,
                fields.get("licence_holder", ""),
                fields.get("licence_date", ""),
            )
    except FormError as exc:
        return _wording_page(request, viewer, Refused({"wording": exc.errors}, fields))
    return redirect(
        request, "/admin/wording", "Licensed wording added: clients can now be sent it."
    )


def _crisis_page(request: Request, viewer: Viewer, refused: Refused | None = None) -> HTMLResponse:
    with tx(request) as conn:
        info = risk.crisis_info(conn, viewer.organisation_id)
    return page(
        request,
        "admin_crisis.html",
        {"info": info, "default_text": risk.DEFAULT_CRISIS_TEXT},
        refused=refused,
    )


@router.get("/admin/crisis", response_class=HTMLResponse)
def crisis_page(request: Request, viewer: Admin) -> HTMLResponse:
    return _crisis_page(request, viewer)


@router.post("/admin/crisis", response_model=None)
async def crisis_set(request: Request, viewer: Admin) -> Response:
    return await submit(
        request,
        lambda conn, form: risk.set_crisis_info(
            conn, viewer, form.get("text", ""), form.get("numbers", "")
        ),
        lambda _: redirect(request, "/admin/crisis", "Crisis information saved."),
        lambda refused: _crisis_page(request, viewer, refused),
        form_name="crisis",
    )


@router.post("/risk-notices/{notice_id}/acknowledge", response_model=None)
def risk_acknowledge(request: Request, viewer: Therapist, notice_id: int) -> Response:
    with tx(request) as conn:
        episode_id = risk.acknowledge(conn, viewer, notice_id)
    return redirect(request, f"/episodes/{episode_id}", "Risk notice acknowledged.")
