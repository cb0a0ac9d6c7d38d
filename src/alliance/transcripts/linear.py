"""Default tier: linear heads over hashed n-gram features, numpy inference from one .npz."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from alliance.transcripts import features as fx

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_WEIGHTS = MODELS_DIR / "default.npz"

# Heads: main therapist behaviour, client talk, and the three subtype splits from AnnoMI-full.
HEADS = ("behaviour", "talk", "reflection", "question", "input")


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

    def features(self, turns: Sequence[fx.Turn]) -> sp.csr_matrix:
        return fx.weigh(fx.raw_blocks(turns), self.idf, turns)

    def all_proba(self, x: sp.csr_matrix) -> dict[str, NDArray[np.float64]]:
        """Every head's probabilities from one sparse-dense product (heads stacked column-wise)."""
        key = id(self)
        if key not in _stacked:
            names = list(self.heads)
            coef_t = np.ascontiguousarray(
                np.vstack([self.heads[n].coef for n in names]).T, dtype=np.float32
            )
            _stacked[key] = (names, coef_t)
        names, coef_t = _stacked[key]
        scores = np.asarray(x @ coef_t, dtype=np.float64)
        out: dict[str, NDArray[np.float64]] = {}
        start = 0
        for n in names:
            k = self.heads[n].coef.shape[0]
            out[n] = self.heads[n].proba_from(scores[:, start : start + k])
            start += k
        return out

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
        arrays["meta_keys"] = np.array(list(self.meta.keys()))
        arrays["meta_values"] = np.array(list(self.meta.values()))
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path = DEFAULT_WEIGHTS) -> LinearModel:
        if not path.is_file():
            raise FileNotFoundError(
                f"default-tier weights not found at {path.name}; run `alliance transcript train`"
            )
        with np.load(path, allow_pickle=False) as z:
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
            meta = dict(
                zip(
                    (str(k) for k in z["meta_keys"]),
                    (str(v) for v in z["meta_values"]),
                    strict=True,
                )
            )
        return cls(idf=idf, heads=heads, meta=meta)


_cache: dict[Path, LinearModel] = {}
_stacked: dict[int, tuple[list[str], NDArray[np.float32]]] = {}


def load_default(path: Path = DEFAULT_WEIGHTS) -> LinearModel:
    """Load (once per process) the shipped default-tier model."""
    if path not in _cache:
        _cache[path] = LinearModel.load(path)
    return _cache[path]
