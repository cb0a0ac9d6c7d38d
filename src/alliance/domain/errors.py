"""The one error the domain raises: which field, which value, which rule."""

from __future__ import annotations

import enum
from typing import Any, ClassVar, Self

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


class Choice(enum.StrEnum):
    """A closed set of words, each a member; `parse` refuses any other word, naming the field.

    A subclass names its field, and may word the rule: `class Role(Choice, field="user.role")`.
    """

    _field: ClassVar[str]
    _rule: ClassVar[str]

    def __init_subclass__(cls, *, field: str, rule: str = "one of", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._field, cls._rule = field, rule

    @classmethod
    def parse(cls, value: object) -> Self:
        """The member named by `value` (any case, spaces around; a member is its own name).

        A DomainError for any other word.
        """
        return cls.lookup(str(value).strip().lower(), value)

    @classmethod
    def lookup(cls, name: str, value: object) -> Self:
        """The member called `name`; the error names `value` as it was given."""
        try:
            return cls(name)
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            raise DomainError(
                cls._field, value, f"{cls._rule} {allowed}", detail=f"{value!r} is unknown"
            ) from None
