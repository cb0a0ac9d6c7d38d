"""The errors Alliance raises on purpose, under one base.

An `AllianceError` is an expected refusal (bad input, an unknown object, a rule not met): its
message names the field, the value and what is allowed, holds no client content, and is safe to
show to the person who asked. The CLI prints it and exits 2; the web app turns it into a 4xx.
Anything else that escapes is a bug and is allowed to crash loudly.
"""

from __future__ import annotations


class AllianceError(Exception):
    """Base of every error raised on purpose; the message is safe to show."""


class NotVisibleError(AllianceError, LookupError):
    """The object does not exist or this user may not see it (the two are not told apart)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class FormError(AllianceError, ValueError):
    """Bad input, by field; nothing was stored."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
