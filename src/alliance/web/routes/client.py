"""The client's side: a check-in's measures behind one single-use link, and tablet mode.

The measures come one page each, in order, with progress ("2 of 3"); each is stored as it is
answered. Nothing here shows who the client is or any answer: only one instrument's items.
"""

from __future__ import annotations

from functools import partial

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alliance.errors import FormError
from alliance.services import links, risk, users
from alliance.services.measures import Source
from alliance.web.auth import LoginRequiredError, client_ip, session_viewer
from alliance.web.offload import in_thread
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
            crisis = risk.crisis_after_link(
                conn, links.token_hash(token) if token is not None else None, link_id
            )
    except links.LinkGoneError as gone:
        return _gone(request, str(gone))
    if not link.opened:
        request.app.state.writer.run(partial(links.mark_opened, link_id=link.link_id))
    response = page(
        request,
        "client/form.html",
        {
            "viewer": None,
            "instrument": link.instrument,
            "action": action,
            "step": link.step.position,
            "progress": (link.answered + 1, len(link.steps)),
            "crisis": crisis,
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


def _thanks(
    request: Request, *, token: str | None = None, link_id: int | None = None
) -> HTMLResponse:
    """Thank you; and where the form endorsed a risk item, the clinic's crisis information."""
    with tx(request) as conn:
        crisis = risk.crisis_after_link(
            conn, links.token_hash(token) if token is not None else None, link_id
        )
    context = {"viewer": None, "tablet": token is None, "crisis": crisis}
    return page(request, "client/thanks.html", context)


@router.get("/f/{token}/done", response_class=HTMLResponse)
def link_done(request: Request, token: str) -> HTMLResponse:
    response = _thanks(request, token=token)
    response.headers.update(NO_STORE)
    return response


def _tablet_user(request: Request, link_id: int | None = None) -> int:
    """The therapist who locked this device (to this very link, when given), still signed in."""
    tablet = request.session.get("tablet")
    if not tablet or (link_id is not None and tablet != link_id):
        raise LoginRequiredError
    viewer = session_viewer(request)
    if viewer is None:
        raise LoginRequiredError
    return viewer.user_id


@router.get("/tablet/unlock", response_class=HTMLResponse)
def tablet_unlock_form(request: Request) -> HTMLResponse:
    _tablet_user(request)
    return page(request, "client/unlock.html", {"viewer": None})


@router.post("/tablet/unlock", response_model=None)
async def tablet_unlock(request: Request) -> Response:
    """The therapist takes the device back by typing their own password (and code, if on)."""
    user_id = await in_thread(lambda: _tablet_user(request))
    form = await form_data(request)
    engine, ip = request.app.state.engine, client_ip(request)

    def work() -> dict[str, str]:
        with engine.begin() as conn:
            return users.check_unlock(
                conn, user_id, form.get("password", ""), form.get("code", ""), ip
            )

    errors = await request.app.state.password_gate.run(work)
    if errors:
        return page(request, "client/unlock.html", {"viewer": None, "errors": errors}, 400)
    request.session.pop("tablet", None)
    back = request.session.pop("tablet_back", "/caseload")
    return redirect(request, back, "Tablet unlocked.")


@router.get("/tablet/{link_id}", response_class=HTMLResponse)
def tablet_form(request: Request, link_id: int) -> HTMLResponse:
    _tablet_user(request, link_id)
    if request.session.get("tablet_done") == link_id:
        return _thanks(request, link_id=link_id)
    return _form(request, f"/tablet/{link_id}", refused=None, link_id=link_id)


@router.post("/tablet/{link_id}", response_model=None)
async def tablet_submit(request: Request, link_id: int) -> Response:
    await in_thread(lambda: _tablet_user(request, link_id))
    form = await form_data(request)
    answered = await _submit(request, form, f"/tablet/{link_id}", source="tablet", link_id=link_id)
    if isinstance(answered, Response):
        return answered
    if answered:
        request.session["tablet_done"] = link_id
    return redirect(request, f"/tablet/{link_id}")
