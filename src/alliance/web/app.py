"""The app factory: one FastAPI app per call, its engine built from validated settings."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from alliance.config import Settings, SettingsError, load_settings
from alliance.services.login_sessions import Timeouts
from alliance.store.engine import DatabaseBusyError, make_engine
from alliance.store.writer import GroupCommitWriter
from alliance.web.auth import LoginRequiredError, PasswordChangeRequiredError, TabletLockedError
from alliance.web.cookies import SecureCookieMiddleware
from alliance.web.csrf import csrf_protect
from alliance.web.jobs import TranscriptJobs
from alliance.web.logs import configure_logging
from alliance.web.middleware import SecurityMiddleware
from alliance.web.offload import PasswordGate
from alliance.web.render import templates
from alliance.web.screening import screen_input

WEB_DIR = Path(__file__).resolve().parent
SESSION_COOKIE = "alliance_session"

log = logging.getLogger("alliance.web")


def resolve_secret_key(settings: Settings) -> str:
    """The configured key, or one generated once and kept (0600) beside the SQLite file."""
    if settings.secret_key:
        return settings.secret_key
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise SettingsError("secret_key: required for PostgreSQL; set ALLIANCE_SECRET_KEY")
    if not url.database or url.database == ":memory:":
        return secrets.token_urlsafe(32)
    path = Path(url.database).expanduser().with_name(Path(url.database).name + ".secret")
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key


async def _send_messages(app: FastAPI) -> None:
    """The background sender: every poll, send what the outbox holds that is due."""
    from alliance.services.sender import run_once

    settings: Settings = app.state.settings
    while True:
        try:
            await asyncio.to_thread(run_once, app.state.engine, settings, app.state.secret_key)
        except Exception:  # a database hiccup must not stop sending for good
            log.exception("the outbox sender failed; trying again at the next poll")
        await asyncio.sleep(settings.outbox_poll_seconds)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start the outbox sender; on shutdown stop it and commit every write still queued."""
    if app.state.writer.closed:  # served again after a shutdown (as tests do)
        app.state.writer = GroupCommitWriter(app.state.engine, max_batch=app.state.writer.max_batch)
    sender = asyncio.create_task(_send_messages(app))
    await asyncio.to_thread(app.state.transcript_jobs.resume)
    yield
    sender.cancel()
    await asyncio.to_thread(app.state.writer.close)
    await asyncio.to_thread(app.state.transcript_jobs.close)


def app_from_environment() -> FastAPI:
    """The app a worker process of `alliance serve --workers N` builds from ALLIANCE_* settings."""
    return create_app(load_settings())


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """Build the web app: pages, the /api JSON routes and static files over one engine."""
    from alliance.web.routes import ROUTERS

    app = FastAPI(
        title="Alliance",
        version="1",
        summary="The therapeutic relationship, measured session by session.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        # Every state-changing route checks the CSRF token and refuses control characters
        # before anything else runs.
        dependencies=[Depends(csrf_protect), Depends(screen_input)],
        lifespan=_lifespan,
    )
    configure_logging(settings.log_level)
    app.state.settings = settings
    app.state.engine = engine or make_engine(
        settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    # Small hot writes (client-form submissions) share commits; see alliance.store.writer.
    app.state.writer = GroupCommitWriter(app.state.engine, max_batch=settings.write_batch)
    app.state.timeouts = Timeouts.of(settings.session_idle_minutes, settings.session_max_hours)
    app.state.password_gate = PasswordGate(settings.password_checks, settings.password_queue)
    # The key signs cookies and seals the links the outbox keeps; client-link tokens are derived
    # from the same key (alliance.services.links.link_token).
    app.state.secret_key = resolve_secret_key(settings)
    app.state.link_key = app.state.secret_key
    app.state.transcript_jobs = TranscriptJobs(app.state.engine)
    # Added first so it runs inside the session middleware and can see the session.
    app.add_middleware(SecurityMiddleware)
    app.add_middleware(
        SessionMiddleware,
        secret_key=app.state.secret_key,
        session_cookie=SESSION_COOKIE,
        # The server's session row decides; the cookie only stops being sent after the longest.
        max_age=settings.session_max_hours * 60 * 60,
        same_site="lax",
        https_only=False,
    )
    # Added after the security middleware so it is outside it and sees the session cookie too.
    app.add_middleware(SecureCookieMiddleware)
    if settings.trusted_proxies:
        # Outermost: the throttle, the audit log and the secure-cookie flag see the address and
        # scheme a trusted proxy forwarded. Without the setting the headers are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)
    _install_error_pages(app)
    _describe_errors_as_sent(app)
    return app


def _describe_errors_as_sent(app: FastAPI) -> None:
    """Make the OpenAPI document describe 422 bodies as the handlers send them (field, message)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = generate()
        components = document.get("components", {}).get("schemas", {})
        if "ValidationError" in components:
            components["ValidationError"] = {
                "title": "ValidationError",
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            }
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(LoginRequiredError)
    async def _login_required(request: Request, exc: LoginRequiredError) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": "sign in, or send a valid API token as Authorization: Bearer <token>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(PasswordChangeRequiredError)
    async def _password_change(request: Request, exc: PasswordChangeRequiredError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "choose a new password first"}, status_code=403)
        return RedirectResponse("/account/password", status_code=303)

    @app.exception_handler(TabletLockedError)
    async def _tablet_locked(request: Request, exc: TabletLockedError) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": "this device is locked to a client form"}, 423)
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(DatabaseBusyError)
    async def _busy(request: Request, exc: DatabaseBusyError) -> Response:
        # Nothing was written; the writes ahead of this one took longer than the wait allows.
        detail = "the server is busy; nothing was saved, try again in a few seconds"
        if _wants_json(request):
            return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "5"})
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": 503, "detail": detail},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _wants_json(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"][1:]), "message": e["msg"]}
            for e in exc.errors()
        ]
        if _wants_json(request):
            return JSONResponse({"detail": errors}, status_code=422)
        return templates.TemplateResponse(
            request,
            "error.html",
            {"status": 422, "detail": "; ".join(f"{e['field']}: {e['message']}" for e in errors)},
            status_code=422,
        )
