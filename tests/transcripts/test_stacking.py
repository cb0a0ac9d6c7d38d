"""The stacked client head (an option, not shipped): inputs by hand, no leaks across transcripts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from alliance.transcripts import parse_text
from alliance.transcripts.coder import code_sessions
from alliance.transcripts.corpus import load_annomi
from alliance.transcripts.dataset import prepare
from alliance.transcripts.evaluate import merge_oof, save_oof
from alliance.transcripts.features import turns_from
from alliance.transcripts.linear import STACK_HEAD, LinearHead, LinearModel, talk_context
from alliance.transcripts.train import fit_linear

THIRD = [1 / 3, 1 / 3, 1 / 3]


def test_it_builds_the_stacked_inputs_by_hand() -> None:
    # Transcript 0: T, C(a), T, C(b); transcript 1: C(c). Talk order change, sustain, neutral.
    turns = turns_from(["therapist", "client", "therapist", "client"], ["q", "a", "r", "b"])
    turns += turns_from(["client"], ["c"], session=1)
    a, b, c = [0.5, 0.2, 0.3], [0.1, 0.1, 0.8], [0.2, 0.3, 0.5]
    talk = np.array([THIRD, a, THIRD, b, c])
    q_probs, r_probs = [0.1, 0.7, 0.1, 0.1], [0.6, 0.2, 0.1, 0.1]
    behaviour = np.array([q_probs, [0.0] * 4, r_probs, [0.0] * 4, [0.0] * 4])
    z = talk_context(talk, behaviour, turns)
    assert z.shape == (5, 16)
    # a: itself, the mean of the other client turns (only b), no client turn before it, b after
    # it, and the therapist's question just before it.
    assert np.allclose(z[1], np.r_[np.log(a), b, THIRD, b, q_probs])
    # b: a is both the other turns' mean and the turn before; nothing after; the reflection.
    assert np.allclose(z[3], np.r_[np.log(b), a, a, THIRD, r_probs])
    # c is alone in its transcript: b (the row before it in the batch) is not its neighbour.
    assert np.allclose(z[4], np.r_[np.log(c), THIRD, THIRD, THIRD, [0.0] * 4])


def _stacked_model() -> LinearModel:
    # First stage: 2 features; talk head gives every turn the same probabilities. The stacked
    # head reads only input 3 (the other client turns' mean P(change)), with weight 8 for change.
    rng = np.random.default_rng(0)
    first = LinearHead(
        ("change", "neutral", "sustain"),
        np.zeros((3, 2), dtype=np.float32),
        np.zeros(3, dtype=np.float32),
    )
    behaviour = LinearHead(
        ("other", "question", "reflection", "therapist_input"),
        rng.normal(size=(4, 2)).astype(np.float32),
        np.zeros(4, dtype=np.float32),
    )
    coef = np.zeros((3, 16), dtype=np.float32)
    coef[0, 3] = 8.0
    stack = LinearHead(("change", "neutral", "sustain"), coef, np.zeros(3, dtype=np.float32))
    return LinearModel(
        idf=(), heads={"behaviour": behaviour, "talk": first, STACK_HEAD: stack}, meta={}
    )


def test_the_stacked_head_reads_the_rest_of_the_transcript(tmp_path: Path) -> None:
    model = _stacked_model()
    turns = turns_from(["client"] * 3, ["x", "y", "z"])
    first = np.array([[0.9, 0.05, 0.05], [0.2, 0.2, 0.6], [0.2, 0.2, 0.6]])
    beh = np.zeros((3, 4))
    out = model.stacked_talk(first, beh, turns)
    # Turn 0's companions average P(change) 0.2 -> logits (1.6, 0, 0); turns 1 and 2 see
    # (0.9 + 0.2) / 2 = 0.55 -> (4.4, 0, 0). Softmax by hand:
    e1, e2 = np.exp(1.6), np.exp(4.4)
    assert np.allclose(out[0], [e1 / (e1 + 2), 1 / (e1 + 2), 1 / (e1 + 2)])
    assert np.allclose(out[1], [e2 / (e2 + 2), 1 / (e2 + 2), 1 / (e2 + 2)])
    # The head is saved and read back with the other heads (float16 weights).
    model.save(tmp_path / "m.npz")
    back = LinearModel.load(tmp_path / "m.npz")
    assert STACK_HEAD in back.heads
    assert np.allclose(back.stacked_talk(first, beh, turns), out, atol=1e-3)


def test_a_model_without_a_stacked_head_keeps_the_first_stage() -> None:
    model = _stacked_model()
    plain = LinearModel(
        idf=(), heads={k: v for k, v in model.heads.items() if k != STACK_HEAD}, meta={}
    )
    first = np.array([[0.9, 0.05, 0.05]])
    assert plain.stacked_talk(first, np.zeros((1, 4)), turns_from(["client"], ["x"])) is first


def test_coding_transcripts_together_equals_coding_them_apart() -> None:
    one = parse_text(
        "T: What would you like to change?\nC: I want to stop drinking so much.\n"
        "T: It matters to you.\nC: My kids deserve better.\n"
    ).utterances
    two = parse_text(
        "T: How was the week?\nC: I don't see why I should cut down, it's fine.\n"
        "T: Drinking doesn't feel like a problem.\nC: No. Everyone drinks.\n"
    ).utterances
    together = code_sessions([one, two])
    apart = code_sessions([one]) + code_sessions([two])
    for x, y in zip(together, apart, strict=True):
        assert [(c.code, round(c.confidence, 9)) for c in x] == [
            (c.code, round(c.confidence, 9)) for c in y
        ]


@pytest.mark.slow
def test_training_fits_the_stacked_head_only_with_enough_conversations(annomi_dir: Path) -> None:
    rows = load_annomi(annomi_dir)
    convs = list(dict.fromkeys(r.conversation for r in rows))
    small = prepare([r for r in rows if r.conversation in set(convs[:8])])
    model = fit_linear(small.rows, small.turns, ("behaviour", "talk"), stack=True)
    assert STACK_HEAD in model.heads
    assert model.heads[STACK_HEAD].coef.shape[1] == 16
    tiny = prepare([r for r in rows if r.conversation in set(convs[:3])])
    assert (
        STACK_HEAD not in fit_linear(tiny.rows, tiny.turns, ("behaviour", "talk"), stack=True).heads
    )
    # Without asking for it (the shipped configuration) there is none.
    assert STACK_HEAD not in fit_linear(small.rows, small.turns, ("behaviour", "talk")).heads


def test_out_of_fold_files_add_up_and_overlaps_are_refused(tmp_path: Path) -> None:
    first = {"talk": np.array([[0.2, 0.3, 0.5], [0.0, 0.0, 0.0]])}
    second = {"talk": np.array([[0.0, 0.0, 0.0], [0.6, 0.3, 0.1]])}
    save_oof(tmp_path / "a.npz", first)
    save_oof(tmp_path / "b.npz", second)
    merged = merge_oof([tmp_path / "a.npz", tmp_path / "b.npz"])
    assert np.allclose(merged["talk"], [[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    save_oof(tmp_path / "c.npz", first)
    with pytest.raises(ValueError, match="exactly one file"):
        merge_oof([tmp_path / "a.npz", tmp_path / "c.npz"])


def test_each_model_uses_its_own_coefficients() -> None:
    # Models are made and dropped one after another in cross-validation; a freed model's
    # columns must never serve the next one (CPython often reuses the freed address).
    x = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    for k in range(20):
        coef = np.array([[k, -k], [-k, k]], dtype=np.float32)
        head = LinearHead(classes=("a", "b"), coef=coef, intercept=np.zeros(2, np.float32))
        model = LinearModel(idf=(), heads={"behaviour": head}, meta={})
        assert np.allclose(model.all_proba(x)["behaviour"], head.proba(x)), k
        del model, head
