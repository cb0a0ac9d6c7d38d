"""What kind of request this is, as the CSRF check and the input screen both need to know."""

from __future__ import annotations

from fastapi import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_form(request: Request) -> bool:
    """Whether the body is an HTML form (urlencoded or multipart)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return kind in {"application/x-www-form-urlencoded", "multipart/form-data"}
