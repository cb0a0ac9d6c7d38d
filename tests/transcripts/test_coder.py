"""The default tier codes real utterances with context, markers and corrections."""

from __future__ import annotations

import statistics

import pytest

from alliance.transcripts import code_utterances, parse_text
from alliance.transcripts.coder import linear_probabilities, turns_for
from alliance.transcripts.model import CLIENT_CODES, TALK_TYPES, THERAPIST_CODES

SESSION = """\
T: What brings you in today?
C: I really want to quit smoking before my daughter is born.
T: Did you smoke this morning?
C: Yes, two cigarettes.
T: You should throw your cigarettes away tonight.
C: I don't know.
"""


def test_it_codes_questions_and_advice() -> None:
    coded = code_utterances(parse_text(SESSION).utterances)
    codes = [c.code for c in coded]
    assert codes[0] == "question_open"
    assert codes[2] == "question_closed"
    assert codes[4] == "advice"
    for c in coded:
        assert 0.0 < c.confidence <= 1.0
        assert c.code in (THERAPIST_CODES if c.speaker == "therapist" else CLIENT_CODES)


# Hand-written client statements, each clearly change talk (desire, ability, reasons, need,
# commitment, taking steps: Miller & Rollnick's DARN-CAT) or sustain talk (the same, against
# change), after an open question.
CHANGE = [
    "I really want to quit smoking before my daughter is born.",
    "I want to stop drinking, it is ruining my life.",
    "I'm going to cut down to two drinks a week.",
    "I could try the patches again.",
    "I need to do something about my weight, my knees are killing me.",
    "If I stopped, I'd have more money for the kids.",
    "I've already started walking to work every day.",
    "I'm ready to give it a go.",
    "I'd like to be healthier for my family.",
]
SUSTAIN = [
    "I don't think I drink more than my friends do.",
    "Smoking is the only thing that helps me relax.",
    "I'm not giving up my evenings out.",
    "I've tried before and it never works.",
    "I don't really see a problem with it.",
    "It's my life, I can do what I want.",
    "I don't have time to exercise.",
    "I like having a few beers, it's fun.",
    "Quitting would make me too stressed at work.",
]


def test_client_talk_leans_the_right_way_on_clear_statements() -> None:
    # Client talk is the hard task (cross-validated macro-F1 about 0.52, human kappa 0.47), so
    # single statements are not all coded right; what must hold: every change statement leans
    # to change over sustain, sustain statements lean to sustain more than change ones do, and
    # at least half are coded exactly (chance is a third).
    def talk(text: str) -> tuple[str, float]:
        session = f"T: What would you like to talk about today?\nC: {text}\n"
        probs = linear_probabilities(turns_for(parse_text(session).utterances))
        p = dict(zip(TALK_TYPES, probs.talk[1], strict=True))
        return max(p, key=lambda k: p[k]), p["change"] - p["sustain"]

    change = [talk(t) for t in CHANGE]
    sustain = [talk(t) for t in SUSTAIN]
    assert all(lean > 0 for _, lean in change), change
    assert statistics.mean(lean for _, lean in sustain) < statistics.mean(
        lean for _, lean in change
    )
    right = sum(c == "change" for c, _ in change) + sum(c == "sustain" for c, _ in sustain)
    assert right >= (len(CHANGE) + len(SUSTAIN)) / 2, (change, sustain)


def test_it_flags_advice_without_permission_only_when_none_was_asked() -> None:
    coded = code_utterances(parse_text(SESSION).utterances)
    assert [m.name for m in coded[4].markers] == ["advice_without_permission"]
    asked = (
        "T: Would it be okay if I shared an idea about cravings?\nC: Sure.\n"
        "T: You should keep gum in your pocket for cravings.\n"
    )
    coded2 = code_utterances(parse_text(asked).utterances)
    assert coded2[2].code == "advice"
    assert coded2[2].markers == ()


def test_it_marks_withdrawal_confrontation_and_transference() -> None:
    text = (
        "T: How did the week go?\nC: You never listen to me.\n"
        "T: It sounds like you feel unheard.\nC: You sound just like my mother.\n"
        "T: What would you like to talk about?\nC: Whatever.\n"
    )
    coded = code_utterances(parse_text(text).utterances)
    assert [m.name for m in coded[1].markers] == ["confrontation"]
    assert [m.name for m in coded[3].markers] == ["transference"]
    assert [m.name for m in coded[5].markers] == ["withdrawal"]
    assert all(m.evidence for c in coded for m in c.markers)


def test_it_codes_self_disclosure_and_marks_it() -> None:
    text = "C: It's so hard to stop.\nT: I used to smoke myself, and it was hard for me too.\n"
    coded = code_utterances(parse_text(text).utterances)
    assert coded[1].code == "self_disclosure"
    assert [m.name for m in coded[1].markers] == ["self_disclosure"]


def test_it_uses_the_previous_turn() -> None:
    # The same client words after different therapist turns get different probabilities.
    a = code_utterances(
        parse_text("T: What would be good about quitting?\nC: My health.").utterances
    )
    b = code_utterances(
        parse_text("T: What would be hard about quitting?\nC: My health.").utterances
    )
    assert a[1].confidence != b[1].confidence


def test_it_applies_a_correction_with_full_confidence() -> None:
    utts = parse_text(SESSION).utterances
    coded = code_utterances(utts, corrections={3: "question_open"})
    assert coded[2].code == "question_open"
    assert coded[2].corrected
    assert coded[2].confidence == 1.0
    with pytest.raises(ValueError, match="not a client code"):
        code_utterances(utts, corrections={2: "advice"})


def test_it_rejects_an_unknown_tier() -> None:
    with pytest.raises(ValueError, match="allowed: default, embeddings"):
        code_utterances(parse_text(SESSION).utterances, tier="huge")
