"""The cap on a request body's size, checked on the declared length and on the bytes read."""

from __future__ import annotations

import re
from collections.abc import Mapping

from starlette.types import Message, Receive

# Forms and JSON here are small: the largest is a measure's answers or a boundary entry.
MAX_BODY_BYTES = 256 * 1024
# A transcript upload carries a file of up to 2 MB (alliance.services.transcripts) and its form.
UPLOAD_BODY_BYTES = 2 * 1024 * 1024 + 64 * 1024
_UPLOADS = re.compile(r"^(/api)?/episodes/\d+/sessions/\d+/transcripts$")


def limit_for(path: str, default: int) -> int:
    """The body cap for a path: larger for a transcript upload."""
    return max(default, UPLOAD_BODY_BYTES) if _UPLOADS.match(path) else default


def is_upload(path: str) -> bool:
    """Whether a path takes a transcript upload from a page form (not the API)."""
    return _UPLOADS.match(path) is not None and not path.startswith("/api/")


class BodyTooLargeError(Exception):
    pass


def declared_too_large(headers: Mapping[str, str], limit: int) -> bool:
    """Whether the request's Content-Length is over `limit` bytes."""
    length = headers.get("content-length", "")
    return length.isdigit() and int(length) > limit


def limit_body(receive: Receive, limit: int) -> Receive:
    """`receive`, raising BodyTooLargeError once the body read passes `limit` bytes."""
    received = 0

    async def limited_receive() -> Message:
        # A chunked body declares no length and a declared one may be false: count what arrives.
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLargeError
        return message

    return limited_receive
