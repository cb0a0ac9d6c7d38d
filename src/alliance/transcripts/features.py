"""Hashed word and character n-grams of an utterance and its neighbours (default tier).

Stateless hashing (sklearn's HashingVectorizer, MurmurHash3) means no vocabulary to ship: the
weights file holds only IDF values and linear coefficients.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import HashingVectorizer

N_WORD = 2**17
N_CHAR = 2**17
N_CTX = 2**16


@dataclass(frozen=True)
class Turn:
    """The text the features look at for one utterance: itself and its neighbours."""

    speaker: str
    text: str
    prev: str = ""
    prev_speaker: str = ""
    prev2: str = ""
    next: str = ""
    topic: str = ""


def turns_from(
    speakers: Sequence[str], texts: Sequence[str], topic: str = ""
) -> list[Turn]:
    """Build each utterance's context from its conversation (previous two turns, next turn)."""
    out: list[Turn] = []
    n = len(texts)
    for i in range(n):
        out.append(
            Turn(
                speaker=speakers[i],
                text=texts[i],
                prev=texts[i - 1] if i >= 1 else "",
                prev_speaker=speakers[i - 1] if i >= 1 else "",
                prev2=texts[i - 2] if i >= 2 else "",
                next=texts[i + 1] if i + 1 < n else "",
                topic=topic,
            )
        )
    return out


_word = HashingVectorizer(
    n_features=N_WORD, ngram_range=(1, 3), alternate_sign=False, norm=None,
    token_pattern=r"(?u)\b\w+\b|[?!]",
)
_char = HashingVectorizer(
    n_features=N_CHAR, analyzer="char_wb", ngram_range=(2, 5), alternate_sign=False, norm=None
)
_ctx = HashingVectorizer(
    n_features=N_CTX, ngram_range=(1, 2), alternate_sign=False, norm=None,
    token_pattern=r"(?u)\b\w+\b|[?!]",
)
_QMARK = re.compile(r"\?\s*$")
N_DENSE = 8


def _dense(turns: Sequence[Turn]) -> NDArray[np.float64]:
    out = np.zeros((len(turns), N_DENSE))
    for i, t in enumerate(turns):
        words = len(t.text.split())
        out[i, 0] = np.log1p(words) / 4
        out[i, 1] = 1.0 if _QMARK.search(t.text) else 0.0
        out[i, 2] = 1.0 if "?" in t.text else 0.0
        out[i, 3] = 1.0 if t.prev_speaker == t.speaker else 0.0
        out[i, 4] = 1.0 if not t.prev else 0.0
        out[i, 5] = 1.0 if t.prev and "?" in t.prev else 0.0
        out[i, 6] = np.log1p(len(t.prev.split())) / 4
        out[i, 7] = 1.0 if words <= 3 else 0.0
    return out


def raw_blocks(turns: Sequence[Turn]) -> list[sp.csr_matrix]:
    """Count matrices, one per block, before IDF weighting."""
    cur = [t.text.lower() for t in turns]
    prev = [t.prev.lower() for t in turns]
    prev2 = [t.prev2.lower() for t in turns]
    nxt = [t.next.lower() for t in turns]
    topic = [t.topic.lower() for t in turns]
    return [
        _word.transform(cur),
        _char.transform(cur),
        _ctx.transform(prev),
        _ctx.transform(prev2),
        _ctx.transform(nxt),
        _ctx.transform(topic),
    ]


BLOCK_WEIGHTS = (1.0, 1.0, 0.5, 0.25, 0.35, 0.3)


def fit_idf(blocks: Sequence[sp.csr_matrix]) -> list[NDArray[np.float32]]:
    """Smoothed IDF per block, as in sklearn's TfidfTransformer(smooth_idf=True)."""
    out: list[NDArray[np.float32]] = []
    for m in blocks:
        n = m.shape[0]
        df = np.bincount(m.indices, minlength=m.shape[1])
        out.append((np.log((1 + n) / (1 + df)) + 1).astype(np.float32))
    return out


def weigh(
    blocks: Sequence[sp.csr_matrix], idf: Sequence[NDArray[np.float32]], turns: Sequence[Turn]
) -> sp.csr_matrix:
    """Sublinear TF x IDF, L2 per block, blocks weighted and stacked with the dense features."""
    parts: list[sp.csr_matrix] = []
    for m, w, block_weight in zip(blocks, idf, BLOCK_WEIGHTS, strict=True):
        m = m.astype(np.float32)
        m.data = 1.0 + np.log(m.data)
        m = m.multiply(w).tocsr()
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        m = sp.diags((block_weight / norms).astype(np.float32)) @ m
        parts.append(m)
    parts.append(sp.csr_matrix(_dense(turns).astype(np.float32)))
    return sp.hstack(parts, format="csr")
