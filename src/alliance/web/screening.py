"""The input screen: no out-of-range ids, no control characters in paths, queries or bodies."""

from __future__ import annotations

import json
import re

from fastapi import Request
from starlette.exceptions import HTTPException

from alliance.web.request_kind import SAFE_METHODS, is_form

# C0 controls but tab, line feed and carriage return; DEL; C1 controls. PostgreSQL refuses NUL
# outright and the rest only hide text from the reader.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")

# Both databases keep ids as 64-bit integers; a larger number cannot name any record.
MAX_ID = 2**63 - 1


class ControlCharacterError(HTTPException):
    def __init__(self, field: str, char: str) -> None:
        super().__init__(
            400,
            f"{field[:40]}: contains the control character U+{ord(char):04X}; "
            "only tab and line breaks are allowed in text",
        )


def _walk(value: object, path: str) -> None:
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found:
            raise ControlCharacterError(path or "body", found.group())
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk(str(key), path or "body")
            _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]")


async def screen_input(request: Request) -> None:
    """App-wide dependency: no out-of-range ids in the path, no control characters anywhere."""
    for value in request.path_params.values():
        text = str(value)
        if text.lstrip("-").isdigit() and abs(int(text)) > MAX_ID:
            raise HTTPException(404, "not found")
    for key, value in request.query_params.multi_items():
        _walk(value, key)
    if request.method in SAFE_METHODS:
        return
    if is_form(request):
        form = await request.form()
        for key, item in form.multi_items():
            _walk(key, "form")
            if isinstance(item, str):
                _walk(item, key)
        return
    body = await request.body()
    if body and request.headers.get("content-type", "").startswith("application/json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # FastAPI answers malformed JSON with 422 itself
        _walk(parsed, "")
