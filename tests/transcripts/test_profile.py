"""Session profile arithmetic: worked examples checkable by hand, and a reference property."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alliance.transcripts.model import CodedUtterance, Marker, Utterance, behaviour_of
from alliance.transcripts.profile import band, session_profile


def _coded(rows: list[tuple[str, str, str]]) -> list[CodedUtterance]:
    out = []
    for i, (speaker, code, text) in enumerate(rows, start=1):
        markers = (Marker("advice_without_permission", 0.7),) if code == "advice" else ()
        out.append(
            CodedUtterance(
                Utterance(i, speaker, text),  # type: ignore[arg-type]
                code,
                0.5,
                behaviour_of(code),
                markers,
            )
        )
    return out


# speaker    code                words
# therapist  question_open       4    "What brings you here?" -> 4 words
# client     change              4
# therapist  reflection_complex  4
# client     sustain             2
# therapist  reflection_simple   2
# client     change              2
# therapist  reflection_complex  3
# therapist  question_closed     3
# therapist  advice              4
# therapist words 20, client words 8 -> talk share 20/28 = 0.714
# reflections 3 (2 complex) / questions 2 -> R:Q 1.5 (fair), complex 2/3 = 0.667 (good)
# open questions 1/2 = 0.5; change talk 2/(2+1) = 0.667; advice without permission 1
SESSION = [
    ("therapist", "question_open", "What brings you here?"),
    ("client", "change", "I want to stop"),
    ("therapist", "reflection_complex", "It matters to you"),
    ("client", "sustain", "Not sure"),
    ("therapist", "reflection_simple", "Not sure"),
    ("client", "change", "Maybe soon"),
    ("therapist", "reflection_complex", "Soon feels right"),
    ("therapist", "question_closed", "Is that right?"),
    ("therapist", "advice", "You should quit now"),
]


def test_it_computes_the_worked_example() -> None:
    p = session_profile(_coded(SESSION))
    assert p.therapist_talk_share is not None
    assert round(p.therapist_talk_share, 3) == 0.714
    assert p.reflection_to_question == 1.5
    assert p.percent_complex_reflections is not None
    assert round(p.percent_complex_reflections, 3) == 0.667
    assert p.percent_open_questions == 0.5
    assert p.change_talk_share is not None
    assert round(p.change_talk_share, 3) == 0.667
    assert p.advice_without_permission == 1
    assert p.bands() == {"reflection_to_question": "fair", "percent_complex_reflections": "good"}
    assert [(m.name, m.line) for m in p.markers] == [("advice_without_permission", 9)]


def test_it_applies_miti_thresholds_inclusively() -> None:
    # MITI 4.2.1: R:Q fair 1:1 good 2:1; complex reflections fair 40% good 50%.
    assert band(2.0, 1.0, 2.0) == "good"
    assert band(1.0, 1.0, 2.0) == "fair"
    assert band(0.99, 1.0, 2.0) == "below fair"
    assert band(0.40, 0.40, 0.50) == "fair"
    assert band(0.50, 0.40, 0.50) == "good"
    assert band(None, 0.40, 0.50) == "n/a"


def test_it_leaves_undefined_ratios_empty_and_says_so() -> None:
    p = session_profile(
        _coded([("therapist", "information", "Here it is"), ("client", "neutral", "Ok")])
    )
    assert p.reflection_to_question is None
    assert p.change_talk_share is None
    assert "correct any that are wrong" in p.as_dict()["summary"]  # type: ignore[operator]


T_CODES = [
    "reflection_simple",
    "reflection_complex",
    "question_open",
    "question_closed",
    "information",
    "advice",
    "affirmation",
    "self_disclosure",
    "other",
]


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("therapist"), st.sampled_from(T_CODES)),
            st.tuples(st.just("client"), st.sampled_from(["change", "sustain", "neutral"])),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_it_matches_a_plain_reference_count(rows: list[tuple[str, str]]) -> None:
    p = session_profile(_coded([(s, c, "a b") for s, c in rows]))
    codes = [c for _, c in rows]
    r = sum(c.startswith("reflection") for c in codes)
    q = sum(c.startswith("question") for c in codes)
    ch, su = codes.count("change"), codes.count("sustain")
    assert p.reflection_to_question == (r / q if q else None)
    assert p.change_talk_share == (ch / (ch + su) if ch + su else None)
    assert p.percent_open_questions == (codes.count("question_open") / q if q else None)
