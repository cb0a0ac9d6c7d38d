"""Structured logs: one JSON line per request, holding the route pattern and never client data."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import Scope

access_log = logging.getLogger("alliance.web.access")
error_log = logging.getLogger("alliance.web.error")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            # UTC, as everything the project stores: a server's own zone would not line up.
            "at": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(extra)
        return json.dumps(entry, separators=(",", ":"), default=str)


def configure_logging(level: str = "INFO") -> None:
    """Structured logs on stderr for the `alliance` loggers (idempotent)."""
    logger = logging.getLogger("alliance")
    logger.setLevel(level)
    if not any(isinstance(h.formatter, JsonFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)


def route_pattern(scope: Scope) -> str:
    """The matched route's pattern (`/f/{token}`): a client link's token is a credential."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "/static" if str(scope.get("path", "")).startswith("/static/") else "(unmatched)"


def log_request(scope: Scope, request_id: str, status: int, started: float) -> None:
    """The access line of one request; `started` is its `time.perf_counter()`."""
    viewer = scope.get("state", {}).get("viewer")
    access_log.info(
        "request",
        extra={
            "fields": {
                "request_id": request_id,
                "method": scope["method"],
                "route": route_pattern(scope),
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "user": getattr(viewer, "user_id", None),
            }
        },
    )


def log_error(request_id: str, exc: Exception) -> None:
    """An unhandled error, by its type only."""
    # Exception messages can carry SQL parameters or form values.
    error_log.error(
        "unhandled error",
        extra={"fields": {"request_id": request_id, "error": type(exc).__name__}},
    )
