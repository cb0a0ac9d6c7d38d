"""Transcript coding: parse, code utterances (MITI/MISC-style), profile a session, train.

Never imports the store, the web app or the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from alliance.transcripts.coder import TIERS, code_utterances
from alliance.transcripts.corrections import (
    Correction,
    append_corrections,
    latest_by_line,
    make_correction,
    read_corrections,
)
from alliance.transcripts.errors import TranscriptError
from alliance.transcripts.model import (
    CLIENT_CODES,
    MARKERS,
    THERAPIST_CODES,
    CodedUtterance,
    Marker,
    Role,
    Utterance,
)
from alliance.transcripts.parse import (
    MAX_BYTES_DEFAULT,
    ParseWarning,
    Transcript,
    parse_text,
    read_transcript,
)
from alliance.transcripts.profile import SessionProfile, session_profile


def code_file(
    path: str | Path,
    *,
    tier: str = "default",
    speakers: Mapping[str, Role] | None = None,
    topic: str = "",
    corrections: Mapping[int, str] | None = None,
    max_bytes: int | None = None,
) -> tuple[Transcript, list[CodedUtterance]]:
    """Read and code one transcript file."""
    transcript = read_transcript(
        path, speakers=speakers, max_bytes=MAX_BYTES_DEFAULT if max_bytes is None else max_bytes
    )
    coded = code_utterances(transcript.utterances, tier=tier, topic=topic, corrections=corrections)
    return transcript, coded


def profile_file(path: str | Path, **kwargs: object) -> SessionProfile:
    """Read, code and profile one transcript file."""
    _, coded = code_file(path, **kwargs)  # type: ignore[arg-type]
    return session_profile(coded)


__all__ = [
    "CLIENT_CODES",
    "MARKERS",
    "THERAPIST_CODES",
    "TIERS",
    "CodedUtterance",
    "Correction",
    "Marker",
    "ParseWarning",
    "SessionProfile",
    "Transcript",
    "TranscriptError",
    "Utterance",
    "append_corrections",
    "code_file",
    "code_utterances",
    "latest_by_line",
    "make_correction",
    "parse_text",
    "profile_file",
    "read_corrections",
    "read_transcript",
    "session_profile",
]
