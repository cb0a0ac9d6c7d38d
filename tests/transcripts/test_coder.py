"""The default tier codes real utterances with context, markers and corrections."""

from __future__ import annotations

import pytest

from alliance.transcripts import code_utterances, parse_text
from alliance.transcripts.model import CLIENT_CODES, THERAPIST_CODES

SESSION = """\
T: What brings you in today?
C: I really want to quit smoking before my daughter is born.
T: Did you smoke this morning?
C: Yes, two cigarettes.
T: You should throw your cigarettes away tonight.
C: I don't know.
"""


def test_it_codes_questions_change_talk_and_advice() -> None:
    coded = code_utterances(parse_text(SESSION).utterances)
    codes = [c.code for c in coded]
    assert codes[0] == "question_open"
    assert codes[1] == "change"
    assert codes[2] == "question_closed"
    assert codes[4] == "advice"
    for c in coded:
        assert 0.0 < c.confidence <= 1.0
        assert c.code in (THERAPIST_CODES if c.speaker == "therapist" else CLIENT_CODES)


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
