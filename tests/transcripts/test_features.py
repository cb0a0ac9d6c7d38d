"""The vectorised n-gram hashing equals a plain one-n-gram-at-a-time reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.transcripts.features import _TOKEN, _token_id, char_ngrams, word_ngrams

MASK = (1 << 64) - 1
MUL = 0x100000001B3


def _fmix(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    return h ^ (h >> 33)


def _reference(
    symbol_lists: list[list[int]], n_min: int, n_max: int, nf: int, salt: int
) -> np.ndarray:
    out = np.zeros((len(symbol_lists), nf), dtype=np.float32)
    for row, symbols in enumerate(symbol_lists):
        for n in range(n_min, n_max + 1):
            for i in range(len(symbols) - n + 1):
                h = salt * 1_000_003 + n
                for c in symbols[i : i + n]:
                    h = ((h ^ c) * MUL) & MASK
                out[row, _fmix(h) % nf] += 1
    return out


texts = st.lists(st.text(alphabet="ab c?é!\n", max_size=12), min_size=1, max_size=5)


@settings(max_examples=60, deadline=None)
@given(texts)
def test_it_hashes_char_ngrams_like_the_reference(batch: list[str]) -> None:
    fast = char_ngrams(batch, 2, 5, 257).toarray()
    symbols = [[ord(ch) for ch in f" {' '.join(t.split())} "] for t in batch]
    assert np.array_equal(fast, _reference(symbols, 2, 5, 257, 1))


@settings(max_examples=60, deadline=None)
@given(texts)
def test_it_hashes_word_ngrams_like_the_reference(batch: list[str]) -> None:
    fast = word_ngrams(batch, 1, 3, 263, 2).toarray()
    symbols = [[_token_id(tok) for tok in _TOKEN.findall(t)] for t in batch]
    assert np.array_equal(fast, _reference(symbols, 1, 3, 263, 2))
