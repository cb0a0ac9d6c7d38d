"""The app's route table, flattened: every (method, path pattern) a request can reach."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import _IncludedRouter
from starlette.routing import BaseRoute, Mount


def route_table(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) pairs, HEAD left out (it follows GET); a mount counts as GET on its prefix."""
    found: list[tuple[str, str]] = []

    def visit(route: BaseRoute | object) -> None:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                visit(context)
            return
        if isinstance(route, Mount):
            found.append(("GET", route.path))
            return
        path = getattr(route, "path", None)
        methods = getattr(route, "methods", None) or getattr(
            getattr(route, "original_route", None), "methods", None
        )
        assert isinstance(path, str), f"a route without a path: {route!r}"
        assert methods, f"a route without methods: {route!r}"
        found.extend((m, path) for m in sorted(methods) if m != "HEAD")

    for route in app.routes:
        visit(route)
    return found
