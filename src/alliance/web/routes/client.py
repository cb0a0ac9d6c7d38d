"""The client's side: a check-in's measures behind one single-use link, and tablet mode.

The measures come one page each, in order, with progress ("2 of 3"); each is stored as it is
answered. Nothing here shows who the client is or any answer: only one instrument's items.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alliance.errors import FormError
from alliance.services import links, users
from alliance.services.measures import Source
from alliance.web.auth import LoginRequiredError, client_ip
from alliance.web.routes.common import Refused, form_data, page, redirect, tx

router = APIRouter(include_in_schema=False)
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _gone(request: Request, reason: str) -> HTMLResponse:
    response = page(request, "error.html", {"viewer": None, "status": 410, "detail": reason}, 410)
    response.headers.update(NO_STORE)
    return response


def _form(
    request: Request,
    action: str,
    refused: Refused | None,
    *,
    token: str | None = None,
    link_id: int | None = None,
) -> HTMLResponse:
    """The link's form (shown again when refused), or the page that says the link is gone."""
    try:
        with tx(request) as conn:
            link = links.open_link(conn, token=token, link_id=link_id)
    except links.LinkGoneError as gone:
        return _gone(request, str(gone))
    response = page(
        request,
        "client/form.html",
        {
            "viewer": None,
            "instrument": link.instrument,
            "action": action,
            "step": link.step.position,
            "progress": (link.answered + 1, len(link.steps)),
        },
        refused=refused,
    )
    response.headers.update(NO_STORE)
    return response


async def _submit(
    request: Request,
    form: dict[str, str],
    action: str,
    *,
    source: Source,
    token: str | None = None,
    link_id: int | None = None,
) -> Response | bool:
    """Store the answers; the page to answer with when refused, else whether all are answered."""
    try:
        submitted = await links.submit_batched(
            request.app.state.writer,
            form,
            source=source,
            ip=client_ip(request),
            token=token,
            link_id=link_id,
        )
    except links.LinkGoneError as gone:
        return _gone(request, str(gone))
    except links.AlreadyAnsweredError:
        return redirect(request, action)  # a form sent twice: on to the next measure
    except FormError as exc:
        return _form(request, action, Refused(exc.errors, form), token=token, link_id=link_id)
    return submitted.done


@router.get("/f/{token}", response_class=HTMLResponse)
def link_form(request: Request, token: str) -> HTMLResponse:
    return _form(request, f"/f/{token}", refused=None, token=token)


@router.post("/f/{token}", response_model=None)
async def link_submit(request: Request, token: str) -> Response:
    form = await form_data(request)
    answered = await _submit(request, form, f"/f/{token}", source="link", token=token)
    if isinstance(answered, Response):
        return answered
    return redirect(request, f"/f/{token}/done" if answered else f"/f/{token}")


@router.get("/f/{token}/done", response_class=HTMLResponse)
def link_done(request: Request, token: str) -> HTMLResponse:
    response = page(request, "client/thanks.html", {"viewer": None, "tablet": False})
    response.headers.update(NO_STORE)
    return response


def _tablet_link(request: Request, link_id: int) -> int:
    """The tablet pages answer only on the device a therapist locked to this very link."""
    if request.session.get("tablet") != link_id or not isinstance(request.session.get("uid"), int):
        raise LoginRequiredError
    return link_id


@router.get("/tablet/unlock", response_class=HTMLResponse)
def tablet_unlock_form(request: Request) -> HTMLResponse:
    if not request.session.get("tablet"):
        raise LoginRequiredError
    return page(request, "client/unlock.html", {"viewer": None})


@router.post("/tablet/unlock", response_model=None)
async def tablet_unlock(request: Request) -> Response:
    """The therapist takes the device back by typing their own password (and code, if on)."""
    if not request.session.get("tablet") or not isinstance(request.session.get("uid"), int):
        raise LoginRequiredError
    form = await form_data(request)
    with tx(request) as conn:
        errors = users.check_unlock(
            conn,
            request.session["uid"],
            form.get("password", ""),
            form.get("code", ""),
            client_ip(request),
        )
    if errors:
        return page(request, "client/unlock.html", {"viewer": None, "errors": errors}, 400)
    request.session.pop("tablet", None)
    back = request.session.pop("tablet_back", "/caseload")
    return redirect(request, back, "Tablet unlocked.")


@router.get("/tablet/{link_id}", response_class=HTMLResponse)
def tablet_form(request: Request, link_id: int) -> HTMLResponse:
    _tablet_link(request, link_id)
    if request.session.get("tablet_done") == link_id:
        return page(request, "client/thanks.html", {"viewer": None, "tablet": True})
    return _form(request, f"/tablet/{link_id}", refused=None, link_id=link_id)


@router.post("/tablet/{link_id}", response_model=None)
async def tablet_submit(request: Request, link_id: int) -> Response:
    _tablet_link(request, link_id)
    form = await form_data(request)
    answered = await _submit(request, form, f"/tablet/{link_id}", source="tablet", link_id=link_id)
    if isinstance(answered, Response):
        return answered
    if answered:
        request.session["tablet_done"] = link_id
    return redirect(request, f"/tablet/{link_id}")
