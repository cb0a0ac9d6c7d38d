"""Learned markers: small logistic regressions over static token vectors and the turn before.

The phrase patterns in markers.py catch the wordings they list and nothing else. These heads see
what an utterance *means* as well as what it says: the static token vectors (static.py) of the
utterance and of the turn before, the utterance's hashed word 1-2-grams and a few counts. They are
trained on the hand-labelled conversations in data/conversations.jsonl (README beside it), its
`train` part only; the `heldout` part, fixed by conversation before any training, is scored by
`python -m alliance.transcripts.evaluate --markers` (figures in docs/transcripts.md).

Definitions the labels follow:
- confrontation, withdrawal: the rupture markers of the 3RS (Eubanks, Muran & Safran 2015;
  Safran & Muran 2000): moving against the therapist or the therapy, moving away from them;
- transference: the client casting the therapist as a figure from their past;
- self_disclosure: the therapist telling something of their own life (MISC 2.5);
- advice: the therapist telling the client what to do (MITI 4.2.1 "Persuade"); whether it was
  asked for is decided by the permission rule in markers.py.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from alliance.transcripts import features as fx
from alliance.transcripts.linear import MODELS_DIR, LinearHead, load_default
from alliance.transcripts.static import WORD_TOKENS, load_static
from alliance.transcripts.weights import open_weights, read_meta, save_weights

MARKER_DATA = Path(__file__).resolve().parent / "data" / "conversations.jsonl"
MARKER_WEIGHTS = MODELS_DIR / "markers.npz"
CLIENT_HEADS = ("confrontation", "withdrawal", "transference")
THERAPIST_HEADS = ("self_disclosure", "advice")
HEADS = CLIENT_HEADS + THERAPIST_HEADS
# Fixed before the held-out part was scored: a head fires at P >= 0.5.
THRESHOLD = 0.5
N_HASH = 2**12
STATIC_BLOCK = 6  # the default tier's IDF for the utterance's WordPiece tokens (features.py)
_YOU = re.compile(r"\b(?:you|your|you're|yours)\b")
_ME = re.compile(r"\b(?:i|me|my|i'm|i've|mine)\b")


@dataclass(frozen=True)
class LabelledTurn:
    """One line of the hand-labelled set."""

    conversation: str
    split: str
    turn: int
    speaker: str
    text: str
    code: str
    markers: tuple[str, ...]


def read_conversations(path: Path = MARKER_DATA, split: str | None = None) -> list[LabelledTurn]:
    """The labelled turns, in file order; `split` keeps only "train" or "heldout"."""
    rows: list[LabelledTurn] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        row = LabelledTurn(
            conversation=str(item["conversation"]),
            split=str(item["split"]),
            turn=int(item["turn"]),
            speaker=str(item["speaker"]),
            text=str(item["text"]),
            code=str(item["code"]),
            markers=tuple(str(m) for m in item["markers"]),
        )
        if split is None or row.split == split:
            rows.append(row)
    return rows


def by_conversation(rows: Sequence[LabelledTurn]) -> list[list[LabelledTurn]]:
    """Rows grouped by conversation, each in turn order (conversations in first-seen order)."""
    groups: dict[str, list[LabelledTurn]] = {}
    for r in rows:
        groups.setdefault(r.conversation, []).append(r)
    return [sorted(g, key=lambda r: r.turn) for g in groups.values()]


def turns_of(rows: Sequence[LabelledTurn]) -> list[fx.Turn]:
    """Feature-side turns, context taken within each conversation only."""
    out: list[fx.Turn] = []
    for k, conv in enumerate(by_conversation(rows)):
        out += fx.turns_from([r.speaker for r in conv], [r.text for r in conv], "", k)
    return out


def _static_vectors(texts: Sequence[str]) -> NDArray[np.float32]:
    """Sublinear TF x IDF weighted sum of the static token vectors, unit length per text."""
    table = load_static()
    m = table.counts([t.lower() for t in texts]).astype(np.float32)
    idf = load_default().idf[STATIC_BLOCK]
    m.data = (1.0 + np.log(m.data)) * idf[m.indices]
    dense = np.asarray(m @ table.vectors, dtype=np.float32)
    norms = np.linalg.norm(dense, axis=1)
    norms[norms == 0] = 1.0
    out: NDArray[np.float32] = dense / norms[:, None]
    return out


def _counts(turns: Sequence[fx.Turn]) -> NDArray[np.float32]:
    out = np.zeros((len(turns), 5), dtype=np.float32)
    for i, t in enumerate(turns):
        low = t.text.lower()
        words = max(1, len(WORD_TOKENS.findall(low)))
        out[i, 0] = np.log1p(words) / 4
        out[i, 1] = 1.0 if t.text.rstrip().endswith("?") else 0.0
        out[i, 2] = min(1.0, 4 * len(_YOU.findall(low)) / words)
        out[i, 3] = min(1.0, 4 * len(_ME.findall(low)) / words)
        out[i, 4] = 1.0 if t.prev.rstrip().endswith("?") else 0.0
    return out


def marker_features(turns: Sequence[fx.Turn]) -> sp.csr_matrix:
    """Static vectors of the utterance (weight 1) and previous turn (½), n-grams (½), counts."""
    distinct = list(dict.fromkeys([t.text for t in turns] + [t.prev for t in turns]))
    index = {x: i for i, x in enumerate(distinct)}
    vecs = _static_vectors(distinct)
    cur = vecs[[index[t.text] for t in turns]]
    prev = vecs[[index[t.prev] for t in turns]] * 0.5
    grams = fx.word_ngrams([t.text.lower() for t in turns], 1, 2, N_HASH, 7)
    grams.data = np.ones_like(grams.data)
    norms = np.sqrt(np.asarray(grams.multiply(grams).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    grams = sp.csr_matrix(sp.diags(0.5 / norms) @ grams)
    return sp.hstack(
        [sp.csr_matrix(cur), sp.csr_matrix(prev), grams, sp.csr_matrix(_counts(turns))],
        format="csr",
    )


def gold(rows: Sequence[LabelledTurn], head: str) -> NDArray[np.int64]:
    """1 where a row carries `head` (a marker, or the code `advice`)."""
    if head == "advice":
        return np.array([int(r.code == "advice") for r in rows], dtype=np.int64)
    return np.array([int(head in r.markers) for r in rows], dtype=np.int64)


def speaker_of(head: str) -> str:
    return "client" if head in CLIENT_HEADS else "therapist"


@dataclass(frozen=True)
class MarkerModel:
    """One binary head per marker; each reads only its own speaker's turns."""

    heads: dict[str, LinearHead]
    meta: dict[str, str]

    def probabilities(self, turns: Sequence[fx.Turn]) -> dict[str, NDArray[np.float64]]:
        """P(marker) per turn for every head; 0 for turns of the other speaker."""
        if not turns:
            return {h: np.zeros(0) for h in self.heads}
        return self.scores(marker_features(turns), [t.speaker for t in turns])

    def scores(self, x: sp.csr_matrix, speakers: Sequence[str]) -> dict[str, NDArray[np.float64]]:
        """P(marker) per feature row; 0 for rows of the other speaker."""
        out = {h: np.zeros(len(speakers)) for h in self.heads}
        for name, head in self.heads.items():
            rows = np.array([s == speaker_of(name) for s in speakers])
            if rows.any():
                out[name][rows] = head.proba(x[np.flatnonzero(rows)])[:, 1]
        return out

    @property
    def trained_on(self) -> frozenset[str]:
        """The conversation ids the heads were fitted on (recorded in the weights file)."""
        return frozenset(self.meta.get("conversations", "").split())

    def save(self, path: Path = MARKER_WEIGHTS) -> None:
        arrays: dict[str, NDArray[np.generic]] = {}
        for name, head in self.heads.items():
            arrays[f"{name}_coef"] = head.coef.astype(np.float32)
            arrays[f"{name}_intercept"] = head.intercept.astype(np.float32)
        save_weights(path, arrays, self.meta)

    @classmethod
    def load(cls, path: Path = MARKER_WEIGHTS) -> MarkerModel:
        make = "python -m alliance.transcripts.marker_model"
        with open_weights(path, "marker weights", make) as z:
            heads = {
                name: LinearHead(("0", "1"), z[f"{name}_coef"], z[f"{name}_intercept"])
                for name in HEADS
                if f"{name}_coef" in z.files
            }
            meta = read_meta(z)
        return cls(heads, meta)


_cache: dict[Path, MarkerModel] = {}


def load_markers(path: Path = MARKER_WEIGHTS) -> MarkerModel:
    """Load (once per process) the shipped marker heads."""
    if path not in _cache:
        _cache[path] = MarkerModel.load(path)
    return _cache[path]


C = 10.0  # chosen by grouped cross-validation on the train part (see choose_c)
ANNOMI_CHECK_EVERY = 5  # every fifth AnnoMI conversation (sorted ids) is never trained on
C_GRID = (1.0, 3.0, 10.0, 30.0)


@dataclass(frozen=True)
class Negatives:
    """AnnoMI turns used as examples of ordinary talk (no marker), and its advice labels."""

    turns: list[fx.Turn]
    advice: NDArray[np.int64]
    conversations: frozenset[str]


def annomi_negatives(data: Path) -> Negatives:
    """AnnoMI turns of four conversations in five (sorted ids; every fifth is left for checks).

    AnnoMI labels no rupture, transference or self-disclosure, and these are rare in its
    demonstration sessions, so its turns teach the heads what ordinary talk looks like; a turn
    a phrase pattern marks is left out of that head's examples. Its advice subtype (majority of
    annotators) labels the advice head.
    """
    from alliance.transcripts.corpus import load_annomi

    convs: dict[str, list[Any]] = {}
    for r in load_annomi(data):
        convs.setdefault(r.conversation, []).append(r)
    kept = [c for i, c in enumerate(sorted(convs)) if i % ANNOMI_CHECK_EVERY != 0]
    turns: list[fx.Turn] = []
    advice: list[int] = []
    for k, cid in enumerate(kept):
        rows = convs[cid]
        turns += fx.turns_from([r.speaker for r in rows], [r.text for r in rows], "", 10_000 + k)
        advice += [int(r.subtype == "advice") for r in rows]
    return Negatives(turns, np.array(advice, dtype=np.int64), frozenset(kept))


def _pattern_hits(turns: Sequence[fx.Turn], name: str) -> NDArray[np.bool_]:
    from alliance.transcripts.markers import PATTERNS

    pattern = PATTERNS.get(name)
    if pattern is None:
        return np.zeros(len(turns), dtype=bool)
    return np.array([pattern.search(t.text.lower()) is not None for t in turns])


def fit(
    rows: Sequence[LabelledTurn], c: float = C, negatives: Negatives | None = None
) -> MarkerModel:
    """Fit every head on `rows` (which must all be from the train part) and AnnoMI's turns.

    Within each head the two sources weigh the same in total, and the classes are balanced
    (the set is small and its positives few).
    """
    if any(r.split != "train" for r in rows):
        raise ValueError("marker heads are fitted on the train part only")
    ordered = [r for conv in by_conversation(rows) for r in conv]
    extra = negatives.turns if negatives else []
    x = marker_features(turns_of(rows) + extra)
    heads = _fit_heads(x, ordered, negatives, c)
    meta = {
        "trained": date.today().isoformat(),
        "rows": str(len(rows)),
        "annomi_rows": str(len(extra)),
        "c": str(c),
        "conversations": " ".join(sorted({r.conversation for r in rows})),
        "annomi_conversations": " ".join(sorted(negatives.conversations if negatives else [])),
    }
    return MarkerModel(heads, meta)


def _fit_heads(
    x: sp.csr_matrix, ordered: Sequence[LabelledTurn], negatives: Negatives | None, c: float
) -> dict[str, LinearHead]:
    """Heads on feature rows: `ordered` first, then the negatives' turns."""
    from sklearn.linear_model import LogisticRegression

    n = len(ordered)
    extra = negatives.turns if negatives else []
    heads: dict[str, LinearHead] = {}
    for name in HEADS:
        mine = np.flatnonzero([r.speaker == speaker_of(name) for r in ordered])
        ys, idx = [gold([ordered[int(i)] for i in mine], name)], [mine]
        w = [np.ones(len(mine))]
        if negatives is not None:
            keep = np.array([t.speaker == speaker_of(name) for t in extra])
            if name != "advice":
                keep &= ~_pattern_hits(extra, name)
            theirs = np.flatnonzero(keep)
            ys.append(negatives.advice[theirs] if name == "advice" else np.zeros(len(theirs), int))
            idx.append(n + theirs)
            w.append(np.full(len(theirs), len(mine) / max(1, len(theirs))))
        y, weight = np.concatenate(ys), np.concatenate(w)
        for label in (0, 1):  # balanced classes on top of the source weights
            weight[y == label] *= weight.sum() / (2 * max(weight[y == label].sum(), 1e-9))
        clf = LogisticRegression(C=c, max_iter=5000, random_state=0)
        clf.fit(x[np.concatenate(idx)], y, sample_weight=weight)
        heads[name] = LinearHead(
            ("0", "1"), clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)
        )
    return heads


def choose_c(
    rows: Sequence[LabelledTurn], negatives: Negatives | None, folds: int = 5
) -> dict[float, float]:
    """Mean F1 over heads for each C, by cross-validation grouped by conversation (train only)."""
    ordered = [r for conv in by_conversation(rows) for r in conv]
    extra = negatives.turns if negatives else []
    x = marker_features(turns_of(rows) + extra)
    convs = sorted({r.conversation for r in rows})
    fold_of = {c: i % folds for i, c in enumerate(convs)}
    fold = np.array([fold_of[r.conversation] for r in ordered])
    out: dict[float, float] = {}
    for c in C_GRID:
        f1s = []
        for k in range(folds):
            fit_rows = np.r_[np.flatnonzero(fold != k), len(ordered) + np.arange(len(extra))]
            heads = _fit_heads(
                x[fit_rows], [ordered[i] for i in np.flatnonzero(fold != k)], negatives, c
            )
            test = np.flatnonzero(fold == k)
            probs = MarkerModel(heads, {}).scores(x[test], [ordered[i].speaker for i in test])
            for name in HEADS:
                y = gold([ordered[i] for i in test], name)
                pred = (probs[name] >= THRESHOLD).astype(np.int64)
                tp = int(np.sum(y & pred))
                denom = int(np.sum(y) + np.sum(pred))
                f1s.append(2 * tp / denom if denom else 1.0)
        out[c] = float(np.mean(f1s))
    return out


def train(data: Path, path: Path = MARKER_DATA, out: Path = MARKER_WEIGHTS) -> MarkerModel:
    """Fit the shipped heads on the train part and AnnoMI's turns, and write them."""
    model = fit(read_conversations(path, "train"), C, annomi_negatives(data))
    model.save(out)
    _cache.pop(out, None)
    return model


def main(argv: Sequence[str] | None = None) -> int:
    from alliance.transcripts.corpus import require_data_dir

    args = list(sys.argv[1:] if argv is None else argv)
    data = require_data_dir(args[args.index("--data") + 1] if "--data" in args else None)
    rows = read_conversations(MARKER_DATA, "train")
    if "--choose-c" in args:
        for c, f1 in choose_c(rows, annomi_negatives(data)).items():
            print(f"C={c:g}: mean F1 over heads {f1:.3f}")
        return 0
    model = train(data)
    print(f"trained {len(model.heads)} marker heads on {model.meta['rows']} utterances")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
