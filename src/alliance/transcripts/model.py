"""Value objects for transcripts: utterances as read, and utterances with codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Role = Literal["therapist", "client"]

THERAPIST_CODES: tuple[str, ...] = (
    "reflection_simple",
    "reflection_complex",
    "question_open",
    "question_closed",
    "information",
    "advice",
    "affirmation",
    "self_disclosure",
    "other",
)
CLIENT_CODES: tuple[str, ...] = ("change", "sustain", "neutral")
MARKERS: tuple[str, ...] = (
    "advice_without_permission",
    "confrontation",
    "withdrawal",
    "transference",
    "self_disclosure",
)
# The coarse AnnoMI classes (Wu et al. 2022) that the fine therapist codes roll up to.
BEHAVIOURS: tuple[str, ...] = ("reflection", "question", "therapist_input", "other")
TALK_TYPES: tuple[str, ...] = ("change", "sustain", "neutral")


@dataclass(frozen=True)
class Utterance:
    """One turn as read from a transcript file; `line` is the 1-based line in that file."""

    line: int
    speaker: Role
    text: str
    name: str = ""
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Marker:
    """A relational marker on one utterance, with how sure the coder is."""

    name: str
    confidence: float
    evidence: str = ""


@dataclass(frozen=True)
class CodedUtterance:
    """An utterance with its code, the code's confidence and any markers."""

    utterance: Utterance
    code: str
    confidence: float
    behaviour: str
    markers: tuple[Marker, ...] = field(default_factory=tuple)
    corrected: bool = False

    @property
    def line(self) -> int:
        return self.utterance.line

    @property
    def speaker(self) -> Role:
        return self.utterance.speaker

    @property
    def text(self) -> str:
        return self.utterance.text

    def as_dict(self) -> dict[str, object]:
        """Plain JSON-ready form (used by `--json`)."""
        u = self.utterance
        return {
            "line": u.line,
            "speaker": u.speaker,
            "name": u.name,
            "start": u.start,
            "text": u.text,
            "code": self.code,
            "behaviour": self.behaviour,
            "confidence": round(self.confidence, 4),
            "markers": [
                {"name": m.name, "confidence": round(m.confidence, 4), "evidence": m.evidence}
                for m in self.markers
            ],
            "corrected": self.corrected,
        }


def behaviour_of(code: str) -> str:
    """Roll a fine therapist code up to its AnnoMI main behaviour."""
    if code.startswith("reflection"):
        return "reflection"
    if code.startswith("question"):
        return "question"
    if code in ("information", "advice"):
        return "therapist_input"
    if code in CLIENT_CODES:
        return code
    return "other"
