"""The people around an episode: the organisation, its users, and clients known by a code."""

from __future__ import annotations

import re

from alliance.domain.errors import Choice, DomainError, check_text

_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,39}$")
# Pseudonymous codes carry no identity: letters and digits without look-alikes (0/O, 1/I).
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{2,31}$")


class Role(Choice, field="user.role"):
    THERAPIST = "therapist"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


def check_username(username: str) -> str:
    name = str(username).strip().lower()
    if not _USERNAME.match(name):
        raise DomainError(
            "user.username",
            name[:40],
            "2 to 40 characters: a lower-case letter, then letters, digits, '.', '_' or '-'",
        )
    return name


def check_organisation_name(name: str) -> str:
    return check_text("organisation.name", name, max_length=200)


def check_display_name(name: str) -> str:
    return check_text("user.display_name", name, max_length=200)


def check_client_code(code: str) -> str:
    """A pseudonymous code: 3 to 32 upper-case letters, digits or '-'; never a name."""
    clean = str(code).strip().upper()
    if not _CODE.match(clean):
        raise DomainError(
            "client.code",
            len(clean),
            "3 to 32 upper-case letters, digits or '-'",
            detail=f"{len(clean)} characters in an unaccepted form",
        )
    return clean


def check_supervisor_role(role: Role) -> None:
    if role != Role.SUPERVISOR:
        raise DomainError("user.supervisor_id", role.value, "must name a user with role supervisor")


# One @, a dot in the domain, no spaces: enough to catch a slip, not a full RFC 5322 parser
# (the clinic's mail server is the judge of the rest).
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")
_PHONE_KEPT = re.compile(r"[\s().-]")


def check_email(email: str) -> str:
    """A plausible e-mail address, lower-cased; the error never repeats the address."""
    clean = str(email).strip().lower()
    if len(clean) > 254 or not _EMAIL.match(clean):
        raise DomainError(
            "client.email",
            "the address",
            "an address such as name@example.org",
            detail="not an e-mail address",
        )
    return clean


def check_phone(phone: str) -> str:
    """A phone number for text messages: digits with an optional leading +, 7 to 15 digits.

    Spaces, dots, dashes and brackets are dropped (E.164 allows at most 15 digits).
    """
    clean = _PHONE_KEPT.sub("", str(phone).strip())
    digits = clean[1:] if clean.startswith("+") else clean
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise DomainError(
            "client.phone",
            "the number",
            "7 to 15 digits, optionally starting with +",
            detail="not a phone number",
        )
    return clean
