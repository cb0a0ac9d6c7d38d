"""The input screen: no out-of-range ids, no control characters in paths, queries or bodies.

A JSON body is screened whatever its content type says (`application/json`,
`application/merge-patch+json`, upper case, or none): the API parses JSON for all of them. A
whole number beyond 64 bits, in a form, a query or a JSON body, is refused naming the field:
no stored id or count can be that large, and the database driver would fail on it. A form or
query value made only of digits is read as such a number, so a text field holding nothing but
a 19-digit-plus number is refused too (no clinical text is that).
"""

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


_WHOLE_NUMBER = re.compile(r"^\s*[-+]?\d{19,}\s*$")


class NumberOutOfRangeError(HTTPException):
    def __init__(self, field: str) -> None:
        super().__init__(
            400,
            f"{field[:40]}: the number is out of range; allowed: whole numbers from "
            f"{-MAX_ID} to {MAX_ID}",
        )


class ControlCharacterError(HTTPException):
    def __init__(self, field: str, char: str) -> None:
        super().__init__(
            400,
            f"{field[:40]}: contains the control character U+{ord(char):04X}; "
            "only tab and line breaks are allowed in text",
        )


def _check_text(value: str, field: str) -> None:
    """A form or query value: no control characters, no number beyond 64 bits."""
    _walk(value, field)
    if _WHOLE_NUMBER.match(value) and abs(int(value)) > MAX_ID:
        raise NumberOutOfRangeError(field)


def _walk(value: object, path: str) -> None:
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found:
            raise ControlCharacterError(path or "body", found.group())
    elif isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > MAX_ID:
            raise NumberOutOfRangeError(path or "body")
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
        _check_text(value, key)
    if request.method in SAFE_METHODS:
        return
    if is_form(request):
        form = await request.form()
        for key, item in form.multi_items():
            _walk(key, "form")
            if isinstance(item, str):
                _check_text(item, key)
        return
    body = await request.body()
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            return  # not JSON: FastAPI answers malformed JSON with 422 itself
        _walk(parsed, "")
