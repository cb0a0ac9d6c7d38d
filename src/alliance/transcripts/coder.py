"""Code utterances: a tier gives class probabilities, then fine codes and markers are added."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from alliance.transcripts import features as fx
from alliance.transcripts.errors import CorrectionError, embeddings_extra

# Re-exported: they were defined here before the tiers moved below the coder (import paths kept).
from alliance.transcripts.linear import Probabilities as Probabilities
from alliance.transcripts.linear import linear_probabilities as linear_probabilities
from alliance.transcripts.markers import (
    Context,
    find_markers,
    is_advice_text,
    therapist_override,
)
from alliance.transcripts.model import (
    BEHAVIOURS,
    CLIENT_CODES,
    TALK_TYPES,
    THERAPIST_CODES,
    CodedUtterance,
    Role,
    Utterance,
    behaviour_of,
)

TIERS = ("default", "embeddings")


def tier_probabilities(tier: str) -> Callable[[Sequence[fx.Turn]], Probabilities]:
    """The probability function for a tier name; the embeddings tier is imported only on demand."""
    if tier == "default":
        return linear_probabilities
    if tier == "embeddings":
        with embeddings_extra():
            from alliance.transcripts.embeddings import embedding_probabilities

        return embedding_probabilities
    raise ValueError(f"unknown tier {tier!r}; allowed: {', '.join(TIERS)}")


def turns_for(utterances: Sequence[Utterance], topic: str = "", session: int = 0) -> list[fx.Turn]:
    """Context for each utterance (its neighbours in the same transcript)."""
    return fx.turns_from(
        [u.speaker for u in utterances], [u.text for u in utterances], topic, session
    )


def fine_code(speaker: Role, text: str, probs: Probabilities, i: int) -> tuple[str, float, str]:
    """Fine code, its confidence and the main behaviour for utterance i."""
    if speaker == "client":
        k = int(np.argmax(probs.talk[i]))
        return CLIENT_CODES[k], float(probs.talk[i, k]), TALK_TYPES[k]
    k = int(np.argmax(probs.behaviour[i]))
    p = float(probs.behaviour[i, k])
    behaviour = BEHAVIOURS[k]
    if behaviour == "reflection":
        q = float(probs.complex_reflection[i])
        code, conf = ("reflection_complex", q) if q >= 0.5 else ("reflection_simple", 1 - q)
    elif behaviour == "question":
        q = float(probs.open_question[i])
        code, conf = ("question_open", q) if q >= 0.5 else ("question_closed", 1 - q)
    elif behaviour == "therapist_input":
        q = float(probs.advice[i])
        # A directive phrase ("you should…") tips an uncertain split towards advice.
        if q >= 0.5 or (q >= 0.3 and is_advice_text(text)):
            code, conf = "advice", max(q, 0.5)
        else:
            code, conf = "information", 1 - q
    else:
        code, conf = "other", 1.0
    if code not in ("advice",) and behaviour != "question" and is_advice_text(text):
        # A directive sentence is advice whatever the classifier's main class (MITI "Persuade").
        return "advice", 0.6, "therapist_input"
    override = therapist_override(text, code)
    if override is not None:
        code, c = override
        return code, c, behaviour_of(code)
    return code, p * conf, behaviour


def code_utterances(
    utterances: Sequence[Utterance],
    *,
    tier: str = "default",
    topic: str = "",
    corrections: Mapping[int, str] | None = None,
) -> list[CodedUtterance]:
    """Code every utterance of one transcript, in order, using its neighbours as context."""
    return code_sessions([utterances], tier=tier, topic=topic, corrections=[corrections or {}])[0]


def code_sessions(
    sessions: Sequence[Sequence[Utterance]],
    *,
    tier: str = "default",
    topic: str = "",
    corrections: Sequence[Mapping[int, str]] | None = None,
) -> list[list[CodedUtterance]]:
    """Code several transcripts in one model pass (context never crosses a transcript)."""
    turns: list[fx.Turn] = []
    for k, s in enumerate(sessions):
        turns += turns_for(s, topic, k)
    if not turns:
        return [[] for _ in sessions]
    probs = tier_probabilities(tier)(turns)
    out: list[list[CodedUtterance]] = []
    offset = 0
    for k, s in enumerate(sessions):
        fixes = corrections[k] if corrections else {}
        out.append(_code_one(s, probs, offset, fixes))
        offset += len(s)
    return out


def _code_one(
    utterances: Sequence[Utterance], probs: Probabilities, offset: int, fixes: Mapping[int, str]
) -> list[CodedUtterance]:
    out: list[CodedUtterance] = []
    history: list[tuple[Role, str]] = []
    for i, u in enumerate(utterances):
        corrected = u.line in fixes
        if corrected:
            code = fixes[u.line]
            allowed = THERAPIST_CODES if u.speaker == "therapist" else CLIENT_CODES
            if code not in allowed:
                raise CorrectionError(
                    f"correction for line {u.line}: code {code!r} is not a {u.speaker} code; "
                    f"allowed: {', '.join(allowed)}"
                )
            confidence, behaviour = 1.0, behaviour_of(code)
        else:
            code, confidence, behaviour = fine_code(u.speaker, u.text, probs, offset + i)
        markers = find_markers(Context(u.speaker, u.text, code, history))
        out.append(
            CodedUtterance(u, code, confidence, behaviour, tuple(markers), corrected=corrected)
        )
        history.append((u.speaker, u.text))
    return out
