"""Relational notes: what the therapist noticed about the relationship itself.

Transference and countertransference (Gelso's tripartite model; Lingiardi, Holmqvist & Safran
2016), ruptures and repairs (Eubanks, Muran & Safran 2015, 3RS). Free text plus tags.
"""

from __future__ import annotations

import re

from alliance.domain.errors import Choice, DomainError, check_text

NOTE_MAX = 5000
TAG_MAX = 40
TAGS_MAX = 12
_TAG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class NoteKind(Choice, field="note.kind"):
    TRANSFERENCE = "transference"
    COUNTERTRANSFERENCE = "countertransference"
    RUPTURE = "rupture"
    REPAIR = "repair"


def check_note_text(text: str) -> str:
    return check_text("note.text", text, max_length=NOTE_MAX)


def check_tags(tags: object) -> list[str]:
    """Tags are short lower-case words (e.g. withdrawal, confrontation); repeats are dropped."""
    if isinstance(tags, str):
        tags = [t for t in re.split(r"[,\s]+", tags) if t]
    if not isinstance(tags, list | tuple | set | frozenset):
        raise DomainError("note.tags", type(tags).__name__, "must be a list of words")
    clean: list[str] = []
    for tag in tags:
        word = str(tag).strip().lower().replace(" ", "-")
        if not word or len(word) > TAG_MAX or not _TAG.match(word):
            raise DomainError(
                "note.tags",
                word[:TAG_MAX],
                f"a tag is 1 to {TAG_MAX} lower-case letters, digits, '-' or '_'",
            )
        if word not in clean:
            clean.append(word)
    if len(clean) > TAGS_MAX:
        raise DomainError("note.tags", len(clean), f"at most {TAGS_MAX} tags")
    return clean
