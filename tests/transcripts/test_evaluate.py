"""The evaluation script end to end on a tiny labelled corpus: folds, tiers and the ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alliance.transcripts.corpus import load_annomi
from alliance.transcripts.dataset import prepare
from alliance.transcripts.evaluate import TASKS, _task_index, main, run, save_oof
from tests.transcripts.test_cli import _tiny_annomi

# The stand-in adapter's guess: right everywhere except one class it takes for another.
MISTAKE = {"behaviour": ("other", "question"), "talk": ("sustain", "change")}
# Worked by hand. Each conversation of the tiny corpus has each behaviour once, and change twice,
# sustain and neutral once each, so every fold (1 or 2 conversations, n) scores the same.
# behaviour, "other" taken for "question": reflection 1, therapist_input 1, question
#   2·n / (2·n + n) = 2/3, other 0; macro (1 + 2/3 + 1 + 0) / 4 = 2/3.
# talk, "sustain" taken for "change": change 2·2n / (2·2n + n) = 4/5, sustain 0, neutral 1;
#   macro (4/5 + 0 + 1) / 3 = 0.6. Confusion rows are the gold label, columns the guess.
ADAPTER = {
    "behaviour": (2 / 3, [[6, 0, 0, 0], [0, 6, 0, 0], [0, 0, 6, 0], [0, 6, 0, 0]]),
    "talk": (0.6, [[12, 0, 0], [6, 0, 0], [0, 0, 6]]),
}
# Every held-out line was said, with its label, in the other conversations: learnt perfectly.
PERFECT = {
    "behaviour": [[6, 0, 0, 0], [0, 6, 0, 0], [0, 0, 6, 0], [0, 0, 0, 6]],
    "talk": [[12, 0, 0], [0, 6, 0], [0, 0, 6]],
}


@pytest.mark.slow
def test_it_scores_every_tier_and_both_ensembles(tmp_path: Path) -> None:
    data = _tiny_annomi(tmp_path / "data")
    p = prepare(load_annomi(data))
    # Stand-in out-of-fold probabilities for the adapter, certain of one class per row. Averaged
    # with any partner's probabilities, certainty wins: each ensemble must score as the adapter.
    emb = {}
    for task, (_, classes) in TASKS.items():
        wrong, guess = MISTAKE[task]
        gold = [p.labels(task)[i] for i in _task_index(p, task)]
        guesses = [guess if label == wrong else label for label in gold]
        emb[task] = np.eye(len(classes))[[classes.index(g) for g in guesses]]
    report = run(str(data), ["baseline", "default", "embeddings"], embeddings_probs=emb)
    tiers = report["tiers"]
    assert set(tiers) == {
        "baseline",
        "default",
        "embeddings_alone",
        "embeddings",
        "embeddings+default",
    }
    assert report["conversations"] == 6
    for task, (macro_f1, confusion) in ADAPTER.items():
        for tier in ("embeddings_alone", "embeddings", "embeddings+default"):
            res = tiers[tier][task]
            assert res["per_fold"] == pytest.approx([macro_f1] * 5), (tier, task)
            assert res["macro_f1_mean"] == pytest.approx(macro_f1), (tier, task)
            assert res["macro_f1_sd"] == pytest.approx(0.0, abs=1e-12), (tier, task)
            assert res["confusion"] == confusion, (tier, task)
        for tier in ("baseline", "default"):
            assert tiers[tier][task]["per_fold"] == [1.0] * 5, (tier, task)
            assert tiers[tier][task]["confusion"] == PERFECT[task], (tier, task)


def test_the_command_reads_fold_files_and_writes_the_report(tmp_path: Path) -> None:
    data = _tiny_annomi(tmp_path / "data")
    p = prepare(load_annomi(data))
    parts = []
    for k in range(5):
        probs = {}
        for task, (_, classes) in TASKS.items():
            idx = _task_index(p, task)
            x = np.zeros((len(idx), len(classes)))
            x[p.fold[idx] == k] = 1.0 / len(classes)
            x[p.fold[idx] == k, 0] += 0.01
            probs[task] = x
        parts.append(tmp_path / f"emb_f{k}.npz")
        save_oof(parts[-1], probs)
    out = tmp_path / "report.json"
    args = ["--data", str(data), "--tiers", "embeddings", "--out", str(out)]
    assert main([*args, "--embeddings-oof", *map(str, parts)]) == 0
    report = json.loads(out.read_text())
    # Each fold's file fills only its own rows (a uniform guess with a small lead for the first
    # class); added up, every row has that guess, so the adapter alone always says class one.
    alone = report["tiers"]["embeddings_alone"]
    for task in TASKS:
        confusion = np.array(alone[task]["confusion"])
        assert confusion[:, 1:].sum() == 0
        assert confusion[:, 0].sum() == len(_task_index(p, task))
