"""The evaluation script end to end on a tiny labelled corpus: folds, tiers and the ensembles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alliance.transcripts.corpus import load_annomi
from alliance.transcripts.dataset import prepare
from alliance.transcripts.evaluate import (
    TASKS,
    _task_index,
    default_oof,
    main,
    run,
    save_oof,
    scores,
)
from tests.transcripts.test_cli import _tiny_annomi


@pytest.mark.slow
def test_it_scores_every_tier_and_both_ensembles(tmp_path: Path) -> None:
    data = _tiny_annomi(tmp_path / "data")
    p = prepare(load_annomi(data))
    # Stand-in out-of-fold probabilities for the adapter: a fixed, uneven guess per row, so the
    # ensembles' arithmetic can be checked without fine-tuning anything.
    rng = np.random.default_rng(0)
    emb = {}
    for task, (_, classes) in TASKS.items():
        raw = rng.random((len(_task_index(p, task)), len(classes)))
        emb[task] = raw / raw.sum(axis=1, keepdims=True)
    report = run(str(data), ["baseline", "default", "embeddings"], embeddings_probs=emb)
    tiers = report["tiers"]
    assert set(tiers) == {
        "baseline",
        "default",
        "embeddings_alone",
        "embeddings",
        "embeddings+default",
    }
    assert report["conversations"] == len({r.conversation for r in p.rows})
    for res in tiers.values():
        for task in TASKS:
            assert len(res[task]["per_fold"]) == 5
            assert 0.0 <= res[task]["macro_f1_mean"] <= 1.0
            assert sum(map(sum, res[task]["confusion"])) == len(_task_index(p, task))
    # The shipped ensemble averages the adapter with the hashed-n-gram partner; the other one
    # with the default tier (static token vectors included). Both recomputed here by hand.
    lin, _ = default_oof(p)
    part, _ = default_oof(p, static=False)
    for task in TASKS:
        shipped = scores(p, task, (emb[task] + part["talk" if task == "talk" else task]) / 2)
        assert tiers["embeddings"][task] == shipped
        other = scores(p, task, (emb[task] + lin[task]) / 2)
        assert tiers["embeddings+default"][task] == other
        assert tiers["default"][task] == scores(p, task, lin[task])


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
