"""Default tier: linear heads over hashed n-gram features, numpy inference from one .npz."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from alliance.transcripts import features as fx
from alliance.transcripts.model import BEHAVIOURS, TALK_TYPES
from alliance.transcripts.weights import open_weights, read_meta, save_weights

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_WEIGHTS = MODELS_DIR / "default.npz"
# The linear model the embeddings tier averages with: hashed n-grams only, as it was measured.
PARTNER_WEIGHTS = MODELS_DIR / "embeddings_linear.npz"

# Heads: main therapist behaviour, client talk, and the three subtype splits from AnnoMI-full;
# "talk_stack" reads the other heads' probabilities across the transcript (talk_context).
HEADS = ("behaviour", "talk", "reflection", "question", "input", "talk_stack")
STACK_HEAD = "talk_stack"
N_STACK = 16


def talk_context(
    talk: NDArray[np.float64], behaviour: NDArray[np.float64], turns: Sequence[fx.Turn]
) -> NDArray[np.float64]:
    """Inputs of the stacked client head: 16 numbers per utterance (rows of client turns count).

    Stacked sequential learning (Cohen & Carvalho 2005, "Stacked sequential learning", IJCAI):
    a second model reads the first model's predictions for the neighbours. Per client turn:
    log P(talk) of the turn itself (3); mean P(talk) of the other client turns of the same
    transcript (3; 1/3 each when there are none); P(talk) of the previous and of the next client
    turn (3 + 3; 1/3 when absent); P(behaviour) of the therapist turn just before (4; zeros when
    the turn before is not the therapist's). `talk` is in TALK_TYPES order and `behaviour` in
    BEHAVIOURS order (model.py). A transcript is a run
    of turns with the same `session`.
    """
    n = len(turns)
    out = np.zeros((n, N_STACK))
    if n == 0:
        return out
    out[:, 0:3] = np.log(np.clip(talk, 1e-6, 1.0))
    session = np.array([t.session for t in turns], dtype=np.int64)
    seg = np.cumsum(np.r_[0, (session[1:] != session[:-1]).astype(np.int64)])
    client = np.array([t.speaker == "client" for t in turns])
    c = np.flatnonzero(client)
    third = np.full(3, 1.0 / 3.0)
    if len(c):
        sums = np.zeros((int(seg[-1]) + 1, 3))
        np.add.at(sums, seg[c], talk[c])
        counts = np.bincount(seg[c], minlength=int(seg[-1]) + 1).astype(np.float64)
        others = counts[seg[c]] - 1
        mean = (sums[seg[c]] - talk[c]) / np.maximum(others, 1)[:, None]
        out[c, 3:6] = np.where(others[:, None] > 0, mean, third)
        same_prev = np.r_[False, seg[c][1:] == seg[c][:-1]]
        prev_p = np.vstack([third, talk[c][:-1]])
        out[c, 6:9] = np.where(same_prev[:, None], prev_p, third)
        same_next = np.r_[seg[c][1:] == seg[c][:-1], False]
        next_p = np.vstack([talk[c][1:], third])
        out[c, 9:12] = np.where(same_next[:, None], next_p, third)
    after_therapist = np.array(
        [
            i > 0 and t.prev_speaker == "therapist" and seg[i] == seg[i - 1]
            for i, t in enumerate(turns)
        ]
    )
    rows = np.flatnonzero(after_therapist)
    out[rows, 12:16] = behaviour[rows - 1]
    return out


@dataclass(frozen=True)
class LinearHead:
    """Multinomial (or binary) logistic regression: classes, coefficients, intercepts."""

    classes: tuple[str, ...]
    coef: NDArray[np.float32]  # (n_classes, n_features), or (1, n_features) for binary
    intercept: NDArray[np.float32]

    def proba(self, x: sp.csr_matrix) -> NDArray[np.float64]:
        return self.proba_from(np.asarray(x @ self.coef.T, dtype=np.float64))

    def proba_from(self, scores: NDArray[np.float64]) -> NDArray[np.float64]:
        """Probabilities from raw scores x @ coef.T (so several heads can share one product)."""
        z = scores + self.intercept
        if len(self.classes) == 2 and self.coef.shape[0] == 1:
            p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        out: NDArray[np.float64] = e / e.sum(axis=1, keepdims=True)
        return out


@dataclass(frozen=True)
class LinearModel:
    """IDF vectors per feature block and one head per task."""

    idf: tuple[NDArray[np.float32], ...]
    heads: dict[str, LinearHead]
    meta: dict[str, str]
    _columns: tuple[list[str], NDArray[np.float32]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def static(self) -> bool:
        """Whether this model reads the static token-vector blocks (older models do not)."""
        return len(self.idf) > fx.N_HASHED

    def features(self, turns: Sequence[fx.Turn]) -> sp.csr_matrix:
        return fx.weigh(fx.raw_blocks(turns, self.static), self.idf, turns)

    def all_proba(self, x: sp.csr_matrix) -> dict[str, NDArray[np.float64]]:
        """Every head's probabilities from one sparse-dense product (heads stacked column-wise)."""
        # Kept on the model itself: a cache keyed by id() could hand a new model the columns of
        # a freed one whose id it reused.
        columns = self._columns
        if columns is None:
            names = [n for n in self.heads if n != STACK_HEAD]
            columns = (
                names,
                np.ascontiguousarray(
                    np.vstack([self.heads[n].coef for n in names]).T, dtype=np.float32
                ),
            )
            object.__setattr__(self, "_columns", columns)
        names, coef_t = columns
        scores = np.asarray(x @ coef_t, dtype=np.float64)
        out: dict[str, NDArray[np.float64]] = {}
        start = 0
        for n in names:
            k = self.heads[n].coef.shape[0]
            out[n] = self.heads[n].proba_from(scores[:, start : start + k])
            start += k
        return out

    def stacked_talk(
        self, talk: NDArray[np.float64], behaviour: NDArray[np.float64], turns: Sequence[fx.Turn]
    ) -> NDArray[np.float64]:
        """Client-talk probabilities (TALK_TYPES order) from the stacked head.

        `talk` and `behaviour` are the first-stage probabilities, in the orders of talk_context.
        A model without a stacked head returns `talk` unchanged.
        """
        head = self.heads.get(STACK_HEAD)
        if head is None:
            return talk
        pr = head.proba(sp.csr_matrix(talk_context(talk, behaviour, turns).astype(np.float32)))
        return pr[:, [list(head.classes).index(c) for c in TALK_TYPES]]

    def save(self, path: Path) -> None:
        arrays: dict[str, NDArray[np.generic]] = {}
        for i, w in enumerate(self.idf):
            arrays[f"idf_{i}"] = w.astype(np.float16)
        for name, head in self.heads.items():
            coef = head.coef.copy()
            # Near-zero weights add nothing to a decision but cost space; zeros compress away.
            coef[np.abs(coef) < 1e-3] = 0.0
            arrays[f"{name}_coef"] = coef.astype(np.float16)
            arrays[f"{name}_intercept"] = head.intercept.astype(np.float32)
            arrays[f"{name}_classes"] = np.array(head.classes)
        save_weights(path, arrays, self.meta)

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> LinearModel:
        with open_weights(path, "default-tier weights", "alliance transcript train") as z:
            n_blocks = len([k for k in z.files if k.startswith("idf_")])
            idf = tuple(z[f"idf_{i}"].astype(np.float32) for i in range(n_blocks))
            heads: dict[str, LinearHead] = {}
            for name in HEADS:
                if f"{name}_coef" not in z.files:
                    continue
                heads[name] = LinearHead(
                    classes=tuple(str(c) for c in z[f"{name}_classes"]),
                    coef=z[f"{name}_coef"].astype(np.float32),
                    intercept=z[f"{name}_intercept"].astype(np.float32),
                )
            meta = read_meta(z)
        return cls(idf=idf, heads=heads, meta=meta)


_cache: dict[Path, LinearModel] = {}


def load_default(path: Path = DEFAULT_WEIGHTS) -> LinearModel:
    """Load (once per process) the shipped default-tier model."""
    if path not in _cache:
        _cache[path] = LinearModel.load(path)
    return _cache[path]


@dataclass(frozen=True)
class Probabilities:
    """Per-utterance class probabilities from a tier (rows follow the utterances)."""

    behaviour: NDArray[np.float64]  # (n, 4) in BEHAVIOURS order
    talk: NDArray[np.float64]  # (n, 3) in TALK_TYPES order
    complex_reflection: NDArray[np.float64]  # (n,) P(complex | reflection)
    open_question: NDArray[np.float64]  # (n,) P(open | question)
    advice: NDArray[np.float64]  # (n,) P(advice | therapist input)


def _ordered(
    proba: NDArray[np.float64], classes: Sequence[str], order: Sequence[str]
) -> NDArray[np.float64]:
    index = [list(classes).index(c) for c in order]
    return proba[:, index]


def _positive(
    model: LinearModel, p: dict[str, NDArray[np.float64]], head: str, positive: str
) -> NDArray[np.float64]:
    return p[head][:, list(model.heads[head].classes).index(positive)]


def linear_probabilities(
    turns: Sequence[fx.Turn], model: LinearModel | None = None, x: sp.csr_matrix | None = None
) -> Probabilities:
    """Default tier: every head of the linear model on the hashed features (`x`, if computed)."""
    m = model or load_default()
    p = m.all_proba(m.features(turns) if x is None else x)
    behaviour = _ordered(p["behaviour"], m.heads["behaviour"].classes, BEHAVIOURS)
    talk = _ordered(p["talk"], m.heads["talk"].classes, TALK_TYPES)
    return Probabilities(
        behaviour=behaviour,
        talk=m.stacked_talk(talk, behaviour, turns),
        complex_reflection=_positive(m, p, "reflection", "complex"),
        open_question=_positive(m, p, "question", "open"),
        advice=_positive(m, p, "input", "advice"),
    )
