"""What the service layer raises; routes turn these into 404, 403 or a form shown again."""

from __future__ import annotations


class NotVisibleError(LookupError):
    """The object does not exist or this user may not see it (the two are not told apart)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")


class FormError(ValueError):
    """Bad input, by field; nothing was stored."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
