"""Code utterances: a tier gives class probabilities, then fine codes and markers are added."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from alliance.transcripts import features as fx
from alliance.transcripts.errors import CorrectionError, embeddings_extra

# Re-exported: they were defined here before the tiers moved below the coder (import paths kept).
from alliance.transcripts.linear import Probabilities as Probabilities
from alliance.transcripts.linear import linear_probabilities as linear_probabilities
from alliance.transcripts.marker_model import CLIENT_HEADS, THRESHOLD, load_markers
from alliance.transcripts.markers import (
    Context,
    find_markers,
    is_advice_text,
    is_reflection_check,
    therapist_override,
)
from alliance.transcripts.model import (
    BEHAVIOURS,
    CLIENT_CODES,
    TALK_TYPES,
    THERAPIST_CODES,
    CodedUtterance,
    Marker,
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


def fine_code(
    speaker: Role, text: str, probs: Probabilities, i: int, checks: bool = True
) -> tuple[str, float, str]:
    """Fine code, its confidence and the main behaviour for utterance i.

    With `checks`, a reflection phrased as a check on understanding is coded a reflection.
    """
    if speaker == "client":
        k = int(np.argmax(probs.talk[i]))
        return CLIENT_CODES[k], float(probs.talk[i, k]), TALK_TYPES[k]
    k = int(np.argmax(probs.behaviour[i]))
    p = float(probs.behaviour[i, k])
    behaviour = BEHAVIOURS[k]
    if checks and behaviour != "reflection" and is_reflection_check(text):
        # A check on understanding is a reflection (MISC 2.5, MITI 4.2.1; markers.py).
        behaviour, p = "reflection", 0.7
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
    learned: bool = True,
) -> list[list[CodedUtterance]]:
    """Code several transcripts in one model pass (context never crosses a transcript).

    `learned=False` leaves out the learned marker heads and the rules that came with them
    (reflection checks, rupture turns routed to neutral): the phrase patterns alone, kept so
    the held-out scores can show both.
    """
    turns: list[fx.Turn] = []
    for k, s in enumerate(sessions):
        turns += turns_for(s, topic, k)
    if not turns:
        return [[] for _ in sessions]
    probs = tier_probabilities(tier)(turns)
    heads = load_markers().probabilities(turns) if learned else None
    out: list[list[CodedUtterance]] = []
    offset = 0
    for k, s in enumerate(sessions):
        fixes = corrections[k] if corrections else {}
        out.append(_code_one(s, probs, heads, offset, fixes))
        offset += len(s)
    return out


# Discord is not sustain talk, and neither is change talk: MI keeps change and sustain talk for
# what the client says about the target behaviour, and calls what moves against the therapist or
# the therapy discord (Miller & Rollnick 2013, Motivational Interviewing, 3rd ed., ch. 15-16).
# A confrontation or withdrawal rupture marker (3RS; Eubanks, Muran & Safran 2015) therefore
# routes the client's turn to neutral.
RUPTURE_MARKERS = ("confrontation", "withdrawal")


def learned_code(
    speaker: Role, text: str, code: str, behaviour: str, p: Mapping[str, float]
) -> tuple[str, float, str] | None:
    """A therapist code the learned heads settle: self-disclosure, or advice stated outright."""
    if speaker != "therapist":
        return None
    # A directive sentence stays advice and a question stays a question: "I'd recommend…" is
    # first-person talk but tells the client nothing of the therapist's own life.
    if p["self_disclosure"] >= THRESHOLD and code not in ("self_disclosure", "advice"):
        if behaviour == "question":
            return None
        return "self_disclosure", p["self_disclosure"], "other"
    stated = not text.rstrip().endswith("?")
    if p["advice"] >= THRESHOLD and stated and code in ("information", "other"):
        return "advice", p["advice"], "therapist_input"
    return None


def with_learned_markers(
    speaker: Role, code: str, found: list[Marker], p: Mapping[str, float]
) -> list[Marker]:
    """Pattern markers, plus those the learned heads raise that no pattern did.

    A therapist's self-disclosure marker follows the code (learned_code decides it).
    """
    heads: tuple[str, ...] = CLIENT_HEADS if speaker == "client" else ()
    if speaker == "therapist" and code == "self_disclosure":
        heads = ("self_disclosure",)
    have = {m.name for m in found}
    extra = [
        Marker(h, round(p[h], 2), "learned") for h in heads if p[h] >= THRESHOLD and h not in have
    ]
    merged = found + extra
    names = {m.name for m in merged}
    if {"confrontation", "withdrawal"} <= names:
        # Moving against and moving away are opposite directions (3RS): when a head adds one
        # beside the other, the better supported of the two stays.
        conf = {m.name: m.confidence for m in merged}
        weaker = min(("confrontation", "withdrawal"), key=lambda n: conf[n])
        merged = [m for m in merged if not (m.name == weaker and m.evidence == "learned")]
    return merged


def _code_one(
    utterances: Sequence[Utterance],
    probs: Probabilities,
    heads: Mapping[str, NDArray[np.float64]] | None,
    offset: int,
    fixes: Mapping[int, str],
) -> list[CodedUtterance]:
    out: list[CodedUtterance] = []
    history: list[tuple[Role, str]] = []
    for i, u in enumerate(utterances):
        corrected = u.line in fixes
        code, confidence, behaviour = _code_of(u, probs, heads, offset + i, fixes)
        found = find_markers(Context(u.speaker, u.text, code, history))
        if heads is not None:
            p = {h: float(v[offset + i]) for h, v in heads.items()}
            found = with_learned_markers(u.speaker, code, found, p)
            rupture = [
                m.confidence
                for m in found
                if m.name in RUPTURE_MARKERS and m.confidence >= THRESHOLD
            ]
            if rupture and not corrected and code in ("change", "sustain"):
                code, confidence, behaviour = "neutral", max(rupture), "neutral"
        out.append(
            CodedUtterance(u, code, confidence, behaviour, tuple(found), corrected=corrected)
        )
        history.append((u.speaker, u.text))
    return out


def _code_of(
    u: Utterance,
    probs: Probabilities,
    heads: Mapping[str, NDArray[np.float64]] | None,
    i: int,
    fixes: Mapping[int, str],
) -> tuple[str, float, str]:
    """The corrected code, else the tier's fine code as the learned heads settle it."""
    if u.line in fixes:
        code = fixes[u.line]
        allowed = THERAPIST_CODES if u.speaker == "therapist" else CLIENT_CODES
        if code not in allowed:
            raise CorrectionError(
                f"correction for line {u.line}: code {code!r} is not a {u.speaker} code; "
                f"allowed: {', '.join(allowed)}"
            )
        return code, 1.0, behaviour_of(code)
    fine = fine_code(u.speaker, u.text, probs, i, checks=heads is not None)
    if heads is None:
        return fine
    p = {h: float(v[i]) for h, v in heads.items()}
    return learned_code(u.speaker, u.text, fine[0], fine[2], p) or fine
