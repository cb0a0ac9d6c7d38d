"""Static token vectors for the default tier, distilled from all-MiniLM-L6-v2 (numpy at run time).

Model2Vec's recipe (Tulkens & van Dongen 2024, "Model2Vec: fast state-of-the-art static
embeddings"): every token of the sentence model's WordPiece vocabulary is encoded alone
("[CLS] token [SEP]", mean-pooled as the sentence model pools), the vectors are centred and
reduced by PCA, and a text becomes a weighted sum of its tokens' vectors. Here the weights are
the default tier's own sublinear TF x IDF (features.weigh), so no torch is needed to code and the
default tier gains what the pretrained model knows about words it never saw labelled.

`distil` (needs the `embeddings` extra) writes models/static.npz; `load_static` reads it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from alliance.transcripts.errors import embeddings_extra
from alliance.transcripts.weights import open_weights, save_weights

STATIC_WEIGHTS = Path(__file__).resolve().parent / "models" / "static.npz"
DIMS = 128
MAX_WORD_CHARS = 100  # as BERT's WordPiece: longer words are [UNK]
# Words as the default tier splits them (features.py uses the same pattern for its n-grams).
WORD_TOKENS = re.compile(r"\w+|[?!]")


def _strip_accents(word: str) -> str:
    """BERT's uncased normalisation: NFD, drop combining marks ("naïve" -> "naive")."""
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")


@dataclass
class StaticTable:
    """The WordPiece vocabulary in id order and one DIMS-wide vector per token."""

    tokens: tuple[str, ...]
    vectors: NDArray[np.float32]  # (len(tokens), DIMS)
    _ids: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _pieces: dict[str, tuple[int, ...]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.vectors.shape[0] != len(self.tokens):
            raise ValueError(
                f"static table has {self.vectors.shape[0]} vectors for {len(self.tokens)} tokens"
            )
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        if "[UNK]" not in self._ids:
            raise ValueError("static table's vocabulary has no [UNK] token")

    @property
    def size(self) -> int:
        return len(self.tokens)

    def pieces(self, word: str) -> tuple[int, ...]:
        """WordPiece ids of one word, lower-cased: greedy longest match first (Wu et al. 2016)."""
        cached = self._pieces.get(word)
        if cached is not None:
            return cached
        w = _strip_accents(word.lower())
        ids = self._ids
        out: list[int] = []
        start = 0
        while start < len(w) and len(w) <= MAX_WORD_CHARS:
            end = len(w)
            found = -1
            while start < end:
                piece = w[start:end] if start == 0 else "##" + w[start:end]
                found = ids.get(piece, -1)
                if found >= 0:
                    break
                end -= 1
            if found < 0:
                break
            out.append(found)
            start = end
        if start < len(w):  # no piece matched, or the word is too long: the whole word is [UNK]
            out = [ids["[UNK]"]]
        result = tuple(out)
        if len(self._pieces) > 1_000_000:
            self._pieces.clear()
        self._pieces[word] = result
        return result

    def counts(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Token counts per lower-cased text (n_texts x vocabulary), for TF-IDF weighting."""
        cols: list[int] = []
        indptr = [0]
        for text in texts:
            for tok in WORD_TOKENS.findall(text):
                cols.extend(self.pieces(tok))
            indptr.append(len(cols))
        c = np.array(cols, dtype=np.int64)
        ptr = np.array(indptr, dtype=np.int64)
        rows = np.repeat(np.arange(len(texts), dtype=np.int64), np.diff(ptr))
        m = sp.csr_matrix(
            (np.ones(len(c), dtype=np.float32), (rows, c)), shape=(len(texts), self.size)
        )
        m.sum_duplicates()
        return m

    def save(self, path: Path) -> None:
        meta = {
            "base": "all-MiniLM-L6-v2",
            "method": "each token alone, mean-pooled, centred, PCA",
            "dims": str(self.vectors.shape[1]),
            "tokens": str(len(self.tokens)),
        }
        arrays = {"tokens": np.array(self.tokens), "vectors": self.vectors.astype(np.float16)}
        save_weights(path, arrays, meta)

    @classmethod
    def load(cls, path: Path = STATIC_WEIGHTS) -> StaticTable:
        make = "alliance transcript train --tier static"
        with open_weights(path, "static token vectors", make) as z:
            return cls(
                tokens=tuple(str(t) for t in z["tokens"]),
                vectors=z["vectors"].astype(np.float32),
            )


_cache: dict[Path, StaticTable] = {}


def load_static(path: Path = STATIC_WEIGHTS) -> StaticTable:
    """Load (once per process) the shipped static token vectors."""
    if path not in _cache:
        _cache[path] = StaticTable.load(path)
    return _cache[path]


def pca(x: NDArray[np.float64], dims: int) -> NDArray[np.float64]:
    """Centre the rows and project them on their first `dims` principal axes (sign-fixed)."""
    centred = x - x.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:dims]
    # An SVD's signs are arbitrary; fix each axis so its largest loading is positive.
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(axis=1)])
    out: NDArray[np.float64] = centred @ (axes * signs[:, None]).T
    return out


def distil(out: Path = STATIC_WEIGHTS, batch_size: int = 1024) -> StaticTable:
    """Encode every vocabulary token alone with the packaged model; PCA to DIMS; save.

    Deterministic on CPU (float32, no sampling); needs the `embeddings` extra.
    """
    with embeddings_extra():
        import torch

        from alliance.transcripts.minilm import load_base

        tokenizer, encoder = load_base()
    vocab: dict[str, int] = tokenizer.get_vocab()
    tokens = [""] * len(vocab)
    for tok, i in vocab.items():
        tokens[i] = tok
    cls_id, sep_id = int(tokenizer.cls_token_id), int(tokenizer.sep_token_id)
    encoder.eval()
    config: Any = encoder.config
    pooled = np.zeros((len(tokens), int(config.hidden_size)))
    with torch.inference_mode():
        for start in range(0, len(tokens), batch_size):
            ids = torch.arange(start, min(start + batch_size, len(tokens)))
            batch = torch.stack(
                [torch.full_like(ids, cls_id), ids, torch.full_like(ids, sep_id)], dim=1
            )
            hidden = encoder(input_ids=batch, attention_mask=torch.ones_like(batch))[0]
            pooled[start : start + len(ids)] = hidden.mean(dim=1).double().numpy()
    table = StaticTable(tokens=tuple(tokens), vectors=pca(pooled, DIMS).astype(np.float32))
    table.save(out)
    return table
