"""AnnoMI as model inputs: context turns, labels and conversation-grouped folds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from alliance.transcripts import features as fx
from alliance.transcripts.corpus import LabelledUtterance

SEED = 0
N_FOLDS = 5


@dataclass(frozen=True)
class Prepared:
    """Rows in conversation order with their context turns and a fold per conversation."""

    rows: list[LabelledUtterance]
    turns: list[fx.Turn]
    fold: NDArray[np.int64]

    def labels(self, task: str) -> list[str]:
        return [r.behaviour if task == "behaviour" else r.talk for r in self.rows]


def prepare(rows: list[LabelledUtterance], n_folds: int = N_FOLDS, seed: int = SEED) -> Prepared:
    """Context turns per conversation; conversations are dealt to folds after a seeded shuffle."""
    by_conv: dict[str, list[LabelledUtterance]] = {}
    for r in rows:
        by_conv.setdefault(r.conversation, []).append(r)
    ordered: list[LabelledUtterance] = []
    turns: list[fx.Turn] = []
    for k, us in enumerate(by_conv.values()):
        turns += fx.turns_from([u.speaker for u in us], [u.text for u in us], us[0].topic, k)
        ordered += us
    ids = sorted(by_conv)
    rng = np.random.default_rng(seed)
    shuffled = list(rng.permutation(ids))
    fold_of = {c: i % n_folds for i, c in enumerate(shuffled)}
    fold = np.array([fold_of[u.conversation] for u in ordered], dtype=np.int64)
    return Prepared(ordered, turns, fold)
