"""Session profile: MITI-style summary counts of a coded session, with a plain-language note.

Thresholds: MITI 4.2.1 (Moyers, Manuel & Ernst 2016; tabulated in PMC9461167, Table 3):
reflection-to-question ratio fair 1:1, good 2:1; complex reflections fair 40%, good 50%.
Percent open questions has no MITI 4.2.1 threshold (MITI 3.1.1 used fair 50%, good 70%); we show
it without a band. Change-talk share is C/(C+S).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from alliance.transcripts.model import CodedUtterance

RQ_FAIR, RQ_GOOD = 1.0, 2.0  # MITI 4.2.1
CR_FAIR, CR_GOOD = 0.40, 0.50  # MITI 4.2.1


@dataclass(frozen=True)
class MarkerHit:
    """A marker with its line and the text it was found in (shown to the therapist only)."""

    name: str
    line: int
    speaker: str
    text: str
    confidence: float


@dataclass(frozen=True)
class SessionProfile:
    """What a supervisor would tally from a coded session. Feedback, not a verdict."""

    utterances: int
    therapist_utterances: int
    client_utterances: int
    therapist_talk_share: float | None  # share of words spoken by the therapist
    reflections: int
    complex_reflections: int
    questions: int
    open_questions: int
    change_talk: int
    sustain_talk: int
    advice_without_permission: int
    mean_confidence: float | None
    markers: list[MarkerHit] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def reflection_to_question(self) -> float | None:
        return self.reflections / self.questions if self.questions else None

    @property
    def percent_complex_reflections(self) -> float | None:
        return self.complex_reflections / self.reflections if self.reflections else None

    @property
    def percent_open_questions(self) -> float | None:
        return self.open_questions / self.questions if self.questions else None

    @property
    def change_talk_share(self) -> float | None:
        total = self.change_talk + self.sustain_talk
        return self.change_talk / total if total else None

    def metrics(self) -> dict[str, float | None]:
        """The numeric metrics, by name (None where undefined, e.g. no questions asked)."""
        return {
            "therapist_talk_share": self.therapist_talk_share,
            "reflection_to_question": self.reflection_to_question,
            "percent_complex_reflections": self.percent_complex_reflections,
            "percent_open_questions": self.percent_open_questions,
            "change_talk_share": self.change_talk_share,
            "advice_without_permission": float(self.advice_without_permission),
        }

    def bands(self) -> dict[str, str]:
        """MITI 4.2.1 band for each metric that has thresholds."""
        return {
            "reflection_to_question": band(self.reflection_to_question, RQ_FAIR, RQ_GOOD),
            "percent_complex_reflections": band(self.percent_complex_reflections, CR_FAIR, CR_GOOD),
        }

    def as_dict(self) -> dict[str, object]:
        return {
            "utterances": self.utterances,
            "therapist_utterances": self.therapist_utterances,
            "client_utterances": self.client_utterances,
            "metrics": self.metrics(),
            "bands": self.bands(),
            "thresholds": {
                "reflection_to_question": {
                    "fair": RQ_FAIR,
                    "good": RQ_GOOD,
                    "source": "MITI 4.2.1",
                },
                "percent_complex_reflections": {
                    "fair": CR_FAIR,
                    "good": CR_GOOD,
                    "source": "MITI 4.2.1",
                },
            },
            "counts": {
                "reflections": self.reflections,
                "complex_reflections": self.complex_reflections,
                "questions": self.questions,
                "open_questions": self.open_questions,
                "change_talk": self.change_talk,
                "sustain_talk": self.sustain_talk,
                "advice_without_permission": self.advice_without_permission,
                "codes": self.codes,
            },
            "mean_confidence": self.mean_confidence,
            "markers": [m.__dict__ for m in self.markers],
            "summary": summary(self),
        }


def band(value: float | None, fair: float, good: float) -> str:
    """'good', 'fair', 'below fair' or 'n/a' against MITI thresholds (>= is inclusive)."""
    if value is None:
        return "n/a"
    if value >= good:
        return "good"
    if value >= fair:
        return "fair"
    return "below fair"


def session_profile(coded: Sequence[CodedUtterance]) -> SessionProfile:
    """Tally a coded session."""
    t_words = sum(len(c.text.split()) for c in coded if c.speaker == "therapist")
    c_words = sum(len(c.text.split()) for c in coded if c.speaker == "client")
    codes: dict[str, int] = {}
    for c in coded:
        codes[c.code] = codes.get(c.code, 0) + 1
    markers = [
        MarkerHit(m.name, c.line, c.speaker, c.text, m.confidence) for c in coded for m in c.markers
    ]
    return SessionProfile(
        utterances=len(coded),
        therapist_utterances=sum(1 for c in coded if c.speaker == "therapist"),
        client_utterances=sum(1 for c in coded if c.speaker == "client"),
        therapist_talk_share=t_words / (t_words + c_words) if t_words + c_words else None,
        reflections=codes.get("reflection_simple", 0) + codes.get("reflection_complex", 0),
        complex_reflections=codes.get("reflection_complex", 0),
        questions=codes.get("question_open", 0) + codes.get("question_closed", 0),
        open_questions=codes.get("question_open", 0),
        change_talk=codes.get("change", 0),
        sustain_talk=codes.get("sustain", 0),
        advice_without_permission=sum(1 for m in markers if m.name == "advice_without_permission"),
        mean_confidence=sum(c.confidence for c in coded) / len(coded) if coded else None,
        markers=markers,
        codes=codes,
    )


def _pct(x: float) -> str:
    return f"{round(100 * x)}%"


def summary(p: SessionProfile) -> str:
    """A few plain sentences for the therapist; says what the numbers are, not who they are."""
    parts: list[str] = []
    if p.therapist_talk_share is not None:
        parts.append(f"You spoke {_pct(p.therapist_talk_share)} of the words in this session.")
    rq = p.reflection_to_question
    if rq is not None:
        parts.append(
            f"You offered {rq:.1f} reflections per question "
            f"({p.bands()['reflection_to_question']} by MITI 4.2.1: fair 1:1, good 2:1)."
        )
    elif p.reflections:
        parts.append(f"You offered {p.reflections} reflections and asked no questions.")
    cr = p.percent_complex_reflections
    if cr is not None:
        parts.append(
            f"{_pct(cr)} of your reflections were complex "
            f"({p.bands()['percent_complex_reflections']}: fair 40%, good 50%)."
        )
    oq = p.percent_open_questions
    if oq is not None:
        parts.append(f"{_pct(oq)} of your questions were open.")
    ct = p.change_talk_share
    if ct is not None:
        parts.append(f"Of the client's talk about change, {_pct(ct)} was toward change.")
    if p.advice_without_permission:
        parts.append(
            f"Advice was given without asking permission {p.advice_without_permission} time(s)."
        )
    counts: dict[str, int] = {}
    for m in p.markers:
        if m.name != "advice_without_permission":
            counts[m.name] = counts.get(m.name, 0) + 1
    if counts:
        listed = ", ".join(f"{k.replace('_', ' ')} ({v})" for k, v in sorted(counts.items()))
        parts.append(f"Moments worth a second look: {listed}; see the lines listed.")
    if p.mean_confidence is not None:
        parts.append(
            f"These are automatic codes (mean confidence {p.mean_confidence:.2f}); "
            "correct any that are wrong."
        )
    return " ".join(parts)
