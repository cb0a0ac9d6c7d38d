"""Hashed word and character n-grams of an utterance and its neighbours (default tier).

Stateless hashing means no vocabulary to ship: the weights file holds only IDF values and linear
coefficients. The n-grams of a whole batch are hashed at once with numpy (the hashing trick of
Weinberger et al. 2009), which is what makes thousands of utterances a second possible.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from alliance.transcripts.errors import WeightsMismatchError
from alliance.transcripts.static import WORD_TOKENS, load_static

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
    session: int = 0


def turns_from(
    speakers: Sequence[str], texts: Sequence[str], topic: str = "", session: int = 0
) -> list[Turn]:
    """Build each utterance's context from its conversation (previous two turns, next turn).

    `session` numbers the transcript, so models that look across a whole transcript (the
    default tier's client head) can tell transcripts coded in one batch apart.
    """
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
                session=session,
            )
        )
    return out


_TOKEN = WORD_TOKENS
_MUL = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime, as a simple polynomial step
_M1 = np.uint64(0xFF51AFD7ED558CCD)  # MurmurHash3 fmix64 constants
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S33 = np.uint64(33)
_token_ids: dict[str, int] = {}


def _fmix(h: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """MurmurHash3's 64-bit finaliser: spreads the bits before taking the low ones."""
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    out: NDArray[np.uint64] = h ^ (h >> _S33)
    return out


def _token_id(token: str) -> int:
    """A stable 64-bit id per token (crc32 of two salts), cached."""
    tid = _token_ids.get(token)
    if tid is None:
        raw = token.encode("utf-8")
        tid = (zlib.crc32(raw, 0x5BD1E995) << 32) | zlib.crc32(raw) | 1
        if len(_token_ids) > 2_000_000:
            _token_ids.clear()
        _token_ids[token] = tid
    return tid


def _ngram_matrix(
    seq: NDArray[np.uint64],
    doc: NDArray[np.int64],
    n_docs: int,
    n_min: int,
    n_max: int,
    n_features: int,
    salt: int,
) -> sp.csr_matrix:
    """Counts of hashed n-grams of a 0-separated symbol sequence; n-grams never cross a 0."""
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    with np.errstate(over="ignore"):
        for n in range(n_min, n_max + 1):
            length = len(seq) - n + 1
            if length <= 0:
                continue
            h = np.full(length, np.uint64(salt * 1_000_003 + n), dtype=np.uint64)
            valid = np.ones(length, dtype=bool)
            for j in range(n):
                c = seq[j : j + length]
                h = (h ^ c) * _MUL
                valid &= c != 0
            cols.append((_fmix(h[valid]) % np.uint64(n_features)).astype(np.int64))
            rows.append(doc[:length][valid])
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    # Count duplicates with one sort of (row, column) keys: cheaper than scipy's COO route.
    keys = np.sort(r * n_features + c)
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(first)
    counts = np.diff(np.append(starts, len(keys))).astype(np.float32)
    uniq = keys[starts]
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(uniq // n_features, minlength=n_docs), out=indptr[1:])
    return sp.csr_matrix(
        (counts, (uniq % n_features).astype(np.int32), indptr), shape=(n_docs, n_features)
    )


def char_ngrams(
    texts: Sequence[str], n_min: int = 2, n_max: int = 5, n_features: int = N_CHAR
) -> sp.csr_matrix:
    """Character n-grams of each text padded with one space each side (vectorised)."""
    joined = "\x00".join(f" {' '.join(t.replace(chr(0), ' ').split())} " for t in texts) + "\x00"
    seq = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    doc = np.cumsum(seq == 0) - (seq == 0)
    return _ngram_matrix(seq, doc.astype(np.int64), len(texts), n_min, n_max, n_features, 1)


def word_ngrams(
    texts: Sequence[str], n_min: int, n_max: int, n_features: int, salt: int
) -> sp.csr_matrix:
    """Word (and ?/!) n-grams of each text, hashed (vectorised over the batch)."""
    ids: list[int] = []
    doc: list[int] = []
    for i, t in enumerate(texts):
        toks = _TOKEN.findall(t)
        ids.extend(_token_id(x) for x in toks)
        ids.append(0)
        doc.extend([i] * (len(toks) + 1))
    seq = np.array(ids, dtype=np.uint64)
    return _ngram_matrix(
        seq, np.array(doc, dtype=np.int64), len(texts), n_min, n_max, n_features, salt
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


def raw_blocks(turns: Sequence[Turn], static: bool = True) -> list[sp.csr_matrix]:
    """Count matrices, one per block, before IDF weighting.

    Neighbour texts repeat (each turn is the next one's "previous"), so the context blocks hash
    each distinct text once and pick rows. Without `static`, the two WordPiece blocks are left
    out (the linear model paired with the embeddings tier was trained without them).
    """
    cur = [t.text.lower() for t in turns]
    index: dict[str, int] = {}
    for t in turns:
        for text in (t.text, t.prev, t.prev2, t.next, t.topic):
            index.setdefault(text.lower(), len(index))
    distinct = list(index)
    ctx = word_ngrams(distinct, 1, 2, N_CTX, 3)

    def rows(m: sp.csr_matrix, texts: list[str]) -> sp.csr_matrix:
        picked: sp.csr_matrix = m[[index[x.lower()] for x in texts]]
        return picked

    hashed = [
        word_ngrams(cur, 1, 3, N_WORD, 2),
        char_ngrams(cur),
        rows(ctx, [t.prev for t in turns]),
        rows(ctx, [t.prev2 for t in turns]),
        rows(ctx, [t.next for t in turns]),
        rows(ctx, [t.topic for t in turns]),
    ]
    if not static:
        return hashed
    pieces = load_static().counts(distinct)
    return [*hashed, rows(pieces, [t.text for t in turns]), rows(pieces, [t.prev for t in turns])]


BLOCK_WEIGHTS = (1.0, 1.0, 0.5, 0.25, 0.35, 0.3, 1.0, 0.5)
N_HASHED = 6
# Blocks 6 and 7 (the utterance's and the previous turn's WordPiece tokens) are projected on the
# static token vectors (static.py): a TF-IDF-weighted sum of the tokens' vectors, not counts.
PROJECTED = frozenset({6, 7})


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
    if len(idf) not in (N_HASHED, len(BLOCK_WEIGHTS)) or len(blocks) != len(idf):
        raise WeightsMismatchError(
            f"linear weights hold {len(idf)} feature blocks for {len(blocks)} computed; this "
            f"version uses {N_HASHED} or {len(BLOCK_WEIGHTS)}; retrain with "
            "`alliance transcript train`"
        )
    parts: list[sp.csr_matrix] = []
    weights = BLOCK_WEIGHTS[: len(idf)]
    for i, (m, w, block_weight) in enumerate(zip(blocks, idf, weights, strict=True)):
        m = m.astype(np.float32)
        m.data = (1.0 + np.log(m.data)) * w[m.indices]
        if i in PROJECTED:
            dense = np.asarray(m @ load_static().vectors, dtype=np.float32)
            norms = np.linalg.norm(dense, axis=1)
            norms[norms == 0] = 1.0
            parts.append(sp.csr_matrix(dense * (block_weight / norms)[:, None]))
            continue
        sq = m.copy()
        sq.data = sq.data**2
        norms = np.sqrt(np.asarray(sq.sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        scale = (block_weight / norms).astype(np.float32)
        m.data *= np.repeat(scale, np.diff(m.indptr))
        parts.append(m)
    parts.append(sp.csr_matrix(_dense(turns).astype(np.float32)))
    return sp.hstack(parts, format="csr")
