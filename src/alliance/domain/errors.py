"""The one error the domain raises: which field, which value, which rule."""

from __future__ import annotations

import enum
from typing import TypeVar

from alliance.errors import AllianceError


class DomainError(AllianceError, ValueError):
    """A refused operation; the message names the field, the value and the rule.

    `value` is safe to show: for free text it is a length, never the client's words.
    """

    def __init__(self, field: str, value: object, rule: str, *, detail: str | None = None) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        self.detail = detail if detail is not None else f"{value!r} is refused"
        super().__init__(f"{field}: {self.detail}: {rule}")


def check_text(field: str, text: str, *, max_length: int, required: bool = True) -> str:
    """Strip `text` and check its length; the error reports the length, not the words."""
    if not isinstance(text, str):
        raise DomainError(field, type(text).__name__, "must be text", detail="not text")
    clean = text.strip()
    if required and not clean:
        raise DomainError(field, 0, "must not be empty", detail="empty text")
    if len(clean) > max_length:
        raise DomainError(
            field,
            len(clean),
            f"at most {max_length} characters",
            detail=f"{len(clean)} characters",
        )
    return clean


E = TypeVar("E", bound=enum.StrEnum)


def parse_choice(cls: type[E], field: str, value: object) -> E:
    """The member of `cls` named by `value`, or a DomainError listing what is allowed."""
    try:
        return cls(str(value).strip().lower())
    except ValueError:
        allowed = ", ".join(member.value for member in cls)
        raise DomainError(
            field, value, f"one of {allowed}", detail=f"{value!r} is unknown"
        ) from None
