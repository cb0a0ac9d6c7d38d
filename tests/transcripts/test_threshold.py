"""The client-talk decision offsets: chosen on held-out rows only, folded into the intercepts."""

from __future__ import annotations

import numpy as np
import pytest

from alliance.transcripts.evaluate import apply_bias
from alliance.transcripts.linear import LinearHead, LinearModel
from alliance.transcripts.train import choose_talk_bias, macro_f1, with_talk_bias


def test_it_computes_macro_f1_by_hand() -> None:
    # gold 0 0 1 2, predicted 0 1 1 2: class 0 F1 = 2/3, class 1 = 2/3, class 2 = 1 -> 7/9.
    gold = np.array([0, 0, 1, 2])
    pred = np.array([0, 1, 1, 2])
    assert abs(macro_f1(gold, pred, 3) - 7 / 9) < 1e-12


def test_it_keeps_zero_offsets_when_the_rule_is_already_right() -> None:
    # change, sustain, neutral rows, each clearly the most probable class: nothing to gain.
    proba = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]] * 4)
    gold = ["change", "sustain", "neutral"] * 4
    groups = np.repeat(np.arange(4), 3)
    assert np.array_equal(choose_talk_bias(proba, gold, groups), np.zeros(3))


def test_it_raises_sustain_when_the_model_is_too_shy_of_it() -> None:
    # Sustain rows get 0.35 sustain against 0.45 neutral: argmax calls them neutral. Neutral rows
    # get 0.2 sustain. An offset log(0.45/0.35) ~ 0.25 < b < log(0.7/0.2) ~ 1.25 fixes it; the
    # grid's smallest such step is 0.3.
    sustain = [0.2, 0.35, 0.45]
    neutral = [0.1, 0.2, 0.7]
    change = [0.8, 0.1, 0.1]
    proba = np.array([change, sustain, neutral] * 4)
    gold = ["change", "sustain", "neutral"] * 4
    groups = np.repeat(np.arange(4), 3)
    bias = choose_talk_bias(proba, gold, groups)
    assert bias[1] == 0.3
    assert bias[2] == 0.0
    assert (apply_bias(proba, bias).argmax(1) == np.array([0, 1, 2] * 4)).all()


def test_it_folds_offsets_into_the_intercepts_with_the_same_probabilities() -> None:
    rng = np.random.default_rng(3)
    head = LinearHead(
        classes=("neutral", "change", "sustain"),
        coef=rng.normal(size=(3, 5)).astype(np.float32),
        intercept=np.zeros(3, dtype=np.float32),
    )
    model = LinearModel(idf=(), heads={"talk": head}, meta={})
    bias = np.array([0.4, -0.2, 0.0])  # TALK_TYPES order: change, sustain, neutral
    shifted = with_talk_bias(model, bias)
    x = rng.normal(size=(6, 5))
    before = head.proba_from(x @ head.coef.T)
    after = shifted.heads["talk"].proba_from(x @ head.coef.T)
    # Reorder the raw probabilities to TALK_TYPES, offset them, and compare.
    order = [1, 2, 0]
    assert np.allclose(after[:, order], apply_bias(before[:, order], bias), atol=1e-6)
    assert shifted.meta["talk_bias"] == "0.4 -0.2 0.0"


def test_it_uses_one_thread_only_on_a_crowded_machine() -> None:
    pytest.importorskip("torch", reason="embeddings tier needs the optional torch extra")
    from alliance.transcripts.embeddings import threads_for

    # (load average, cores) -> threads: all cores up to 4; one above twice the core count.
    cases = [(0.2, 2, 2), (4.0, 2, 2), (4.1, 2, 1), (9.0, 2, 1), (1.0, 16, 4), (None, 2, 2)]
    for load, cores, want in cases:
        assert threads_for(load, cores) == want, (load, cores)
