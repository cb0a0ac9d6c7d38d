"""Codes a clinician would agree with: ruptures are not change talk, checks are reflections,
markers beyond fixed phrases, and held-out figures computed on conversations never trained on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alliance.transcripts import code_utterances, parse_text
from alliance.transcripts.coder import code_sessions
from alliance.transcripts.heldout import check_disjoint, heldout_report, score
from alliance.transcripts.marker_model import (
    HEADS,
    MARKER_DATA,
    by_conversation,
    fit,
    load_markers,
    read_conversations,
)
from alliance.transcripts.markers import is_reflection_check
from alliance.transcripts.model import MARKERS


def _client_turn(prev: str, text: str) -> tuple[str, set[str]]:
    coded = code_utterances(parse_text(f"T: {prev}\nC: {text}\n").utterances)
    return coded[1].code, {m.name for m in coded[1].markers}


# The examples a clinician reported, each after a therapist turn that invites change talk.
CONFRONTATION = [
    ("What would make things better for you?", "This is a waste of time, you never listen"),
    ("How did you feel about last week?", "It felt like you were telling me off"),
]
WITHDRAWAL = [
    ("What would you like to change?", "Whatever. I guess."),
    ("How do you feel about cutting down?", "I don\u2019t know\u2026"),
    ("What would be different if you stopped?", "I don't know..."),
]


@pytest.mark.parametrize(("prev", "text"), CONFRONTATION)
def test_confrontation_is_marked_and_never_change_talk(prev: str, text: str) -> None:
    code, markers = _client_turn(prev, text)
    assert "confrontation" in markers
    assert code == "neutral"


@pytest.mark.parametrize(("prev", "text"), WITHDRAWAL)
def test_withdrawal_is_marked_and_never_change_talk(prev: str, text: str) -> None:
    code, markers = _client_turn(prev, text)
    assert "withdrawal" in markers
    assert code == "neutral"


def test_a_session_of_complaints_reports_no_change_talk() -> None:
    from alliance.transcripts import session_profile

    text = (
        "T: What would make things better for you?\n"
        "C: This is a waste of time, you never listen\n"
        "T: You're fed up with coming here.\n"
        "C: It felt like you were telling me off\n"
    )
    profile = session_profile(code_utterances(parse_text(text).utterances))
    assert profile.metrics()["change_talk_share"] is None  # no change and no sustain talk
    assert {m.name for m in profile.markers} >= {"confrontation"}


def test_a_real_answer_to_an_open_question_stays_change_talk() -> None:
    # A minimal answer is a weak withdrawal cue only; it never overrides the talk code.
    code, _ = _client_turn(
        "What would be good about quitting?", "I really want to quit for my kids."
    )
    assert code == "change"


CHECKS = [
    (
        "I'm fine in the day, it's after work I drink.",
        "So you're saying it's the evenings that are hardest?",
    ),
    (
        "I'm fine in the day, it's after work I drink.",
        "It sounds like the evenings are the hardest part, is that right?",
    ),
    (
        "I keep saying yes to everyone.",
        "You give a lot to others and not much is left for you, am I right?",
    ),
]


@pytest.mark.parametrize(("prev", "text"), CHECKS)
def test_a_check_on_understanding_is_a_reflection(prev: str, text: str) -> None:
    coded = code_utterances(parse_text(f"C: {prev}\nT: {text}\n").utterances)
    assert coded[1].code in ("reflection_simple", "reflection_complex")
    assert coded[1].behaviour == "reflection"


@pytest.mark.parametrize(
    "text",
    [
        "So how do you feel about that?",
        "Is that right that you missed three doses?",
        "Did you drink last night?",
        "What happened after that?",
        "Is that right?",
    ],
)
def test_a_real_question_is_not_taken_for_a_check(text: str) -> None:
    assert not is_reflection_check(text)


def test_transference_in_words_no_pattern_lists() -> None:
    _, markers = _client_turn(
        "What did you notice this week?",
        "When you check on my homework I feel like a kid again and my dad is waiting up for me.",
    )
    assert "transference" in markers


def test_a_brief_story_of_the_same_struggle_is_self_disclosure() -> None:
    text = (
        "C: The evenings are the worst, that's when I reach for a drink.\n"
        "T: I went through something similar with my own drinking a few years back, "
        "and the evenings were the worst for me too.\n"
    )
    coded = code_utterances(parse_text(text).utterances)
    assert coded[1].code == "self_disclosure"
    assert "self_disclosure" in {m.name for m in coded[1].markers}


def test_patterns_alone_remain_available_and_differ() -> None:
    text = "T: How did you feel about last week?\nC: It felt like you were telling me off\n"
    utts = parse_text(text).utterances
    before = code_sessions([utts], learned=False)[0][1]
    after = code_sessions([utts], learned=True)[0][1]
    assert "confrontation" not in {m.name for m in before.markers}
    assert "confrontation" in {m.name for m in after.markers}


# --- the hand-labelled set and its held-out part -------------------------------------------


def test_the_split_is_by_conversation() -> None:
    rows = read_conversations()
    split_of: dict[str, set[str]] = {}
    for r in rows:
        split_of.setdefault(r.conversation, set()).add(r.split)
    assert all(len(s) == 1 for s in split_of.values())
    assert {r.split for r in rows} == {"train", "heldout"}
    assert len(rows) >= 500
    held = [r for r in rows if r.split == "heldout"]
    assert len({r.conversation for r in held}) >= 30
    for name in MARKERS:
        assert sum(name in r.markers for r in held) >= 4, name


def test_the_shipped_heads_never_saw_a_held_out_conversation() -> None:
    held = {r.conversation for r in read_conversations(split="heldout")}
    trained = load_markers().trained_on
    assert trained, "the weights file records the conversations it was fitted on"
    assert trained.isdisjoint(held)
    assert trained == {r.conversation for r in read_conversations(split="train")}
    assert set(load_markers().heads) == set(HEADS)


def test_scoring_refuses_conversations_the_heads_were_fitted_on() -> None:
    with pytest.raises(ValueError, match="used to fit the marker heads"):
        check_disjoint(read_conversations(split="train")[:5])


def test_fitting_refuses_held_out_rows() -> None:
    with pytest.raises(ValueError, match="train part only"):
        fit(read_conversations(split="heldout"))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_held_out_text_is_not_a_paraphrase_of_training_text() -> None:
    # No held-out utterance of five words or more repeats a training one, nor shares most of
    # its words with one (Jaccard similarity of the word sets under 0.6).
    train = [_words(r.text) for r in read_conversations(split="train")]
    for r in read_conversations(split="heldout"):
        w = _words(r.text)
        if len(w) < 5:
            continue
        for t in train:
            assert len(w & t) / len(w | t) < 0.6, r.text


def test_the_scorer_counts_precision_and_recall() -> None:
    rows = by_conversation(read_conversations(split="heldout"))[0]
    from alliance.transcripts.heldout import code_conversations

    pairs = code_conversations(rows)
    s = score(pairs)
    for name in MARKERS:
        assert s[name]["n"] == sum(name in r.markers for r in rows)
    assert s["code:question"]["tp"] + s["code:question"]["fn"] == sum(
        r.code == "question" for r in rows
    )


def test_the_documented_held_out_figures() -> None:
    # docs/transcripts.md carries the table the command prints, line for line.
    from alliance.transcripts.heldout import render_heldout

    report = heldout_report()
    assert report["utterances"] == len(read_conversations(split="heldout"))
    doc = (Path(__file__).resolve().parents[2] / "docs" / "transcripts.md").read_text("utf-8")
    table = [line for line in render_heldout(report).splitlines() if line.startswith("| ")]
    assert len(table) > len(MARKERS)
    for line in table:
        assert line in doc, line


def test_marker_data_is_where_the_package_ships_it() -> None:
    assert MARKER_DATA.name == "conversations.jsonl"
    assert (MARKER_DATA.parent / "README.md").read_text("utf-8").count("conversations.jsonl")


def test_retraining_reproduces_the_shipped_heads(annomi_dir: Path, tmp_path: Path) -> None:
    import numpy as np

    from alliance.transcripts.marker_model import MarkerModel, train

    out = tmp_path / "markers.npz"
    retrained = train(annomi_dir, out=out)
    shipped = load_markers()
    assert MarkerModel.load(out).trained_on == shipped.trained_on
    for name in HEADS:
        assert np.allclose(retrained.heads[name].coef, shipped.heads[name].coef, atol=1e-3), name


def test_the_heads_fire_rarely_on_annomi_conversations_they_never_saw(annomi_dir: Path) -> None:
    from alliance.transcripts.heldout import annomi_marker_rates

    rates = annomi_marker_rates(annomi_dir)
    assert rates["conversations"] == 27
    clients = rates["client_turns"]
    assert rates["learned"]["confrontation"] / clients < 0.02
    assert rates["learned"]["withdrawal"] / clients < 0.05
    assert rates["learned"]["transference"] / clients < 0.02
    routed = rates["client_turns_routed_to_neutral_by_gold_label"]
    assert sum(routed.values()) / clients < 0.03
