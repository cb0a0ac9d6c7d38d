"""Cross-validated evaluation on AnnoMI (grouped by conversation) and a check on MIBot.

Run: python -m alliance.transcripts.evaluate [--data DIR] [--tiers baseline,default,embeddings]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import cohen_kappa_score, confusion_matrix, f1_score
from sklearn.pipeline import make_union

from alliance.transcripts.corpus import load_annomi, require_data_dir
from alliance.transcripts.dataset import N_FOLDS, Prepared, prepare
from alliance.transcripts.linear import linear_probabilities
from alliance.transcripts.model import BEHAVIOURS, TALK_TYPES
from alliance.transcripts.train import fit_linear, subtype_label, talk_bias_by_cv

# Wu et al. 2023 (Future Internet 15(3):110), text-only; Fleiss' kappa on the 10-annotator subset.
PUBLISHED = {"behaviour": 0.72, "talk": 0.55}
HUMAN_KAPPA = {"behaviour": 0.74, "talk": 0.47}
TASKS = {"behaviour": ("therapist", BEHAVIOURS), "talk": ("client", TALK_TYPES)}

Progress = Callable[[str], None]


def _task_index(p: Prepared, task: str) -> NDArray[np.int64]:
    labels = p.labels(task)
    return np.array([i for i, lab in enumerate(labels) if lab], dtype=np.int64)


def baseline_oof(p: Prepared, progress: Progress | None = None) -> dict[str, NDArray[np.float64]]:
    """Plain baseline: word + char n-gram TF-IDF and logistic regression, current turn only."""
    out: dict[str, NDArray[np.float64]] = {}
    for task, (_, classes) in TASKS.items():
        idx = _task_index(p, task)
        texts = np.array([p.turns[i].text for i in idx], dtype=object)
        y = np.array([p.labels(task)[i] for i in idx])
        proba = np.zeros((len(idx), len(classes)))
        for k in range(N_FOLDS):
            tr, te = p.fold[idx] != k, p.fold[idx] == k
            vec = make_union(
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
            )
            clf = LogisticRegression(C=10, max_iter=2000, class_weight="balanced")
            clf.fit(vec.fit_transform(texts[tr]), y[tr])
            pr = clf.predict_proba(vec.transform(texts[te]))
            proba[te] = pr[:, [list(clf.classes_).index(c) for c in classes]]
            if progress:
                progress(f"baseline {task} fold {k + 1}")
        out[task] = proba
    return out


def apply_bias(proba: NDArray[np.float64], bias: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probabilities with log-offsets added to the logits, renormalised."""
    z = proba * np.exp(bias)
    out: NDArray[np.float64] = z / z.sum(axis=1, keepdims=True)
    return out


def default_oof(
    p: Prepared,
    progress: Progress | None = None,
    nested_bias: bool = False,
    stack: bool = False,
    static: bool = True,
) -> tuple[dict[str, NDArray[np.float64]], dict[str, tuple[list[str], list[str]]]]:
    """Default tier out-of-fold probabilities, and subtype (gold, predicted) pairs.

    Without `static`, the linear model the embeddings tier is paired with (hashed n-grams only).

    With nested_bias, the client head gets decision offsets chosen by an inner cross-validation
    over the other four folds, so the held-out fold never informs them; "talk_unadjusted" keeps
    the raw head either way.
    """
    out = {
        task: np.zeros((len(_task_index(p, task)), len(classes)))
        for task, (_, classes) in TASKS.items()
    }
    out["talk_unadjusted"] = np.zeros_like(out["talk"])
    out["talk_bias"] = np.zeros((N_FOLDS, len(TALK_TYPES)))
    subs: dict[str, tuple[list[str], list[str]]] = {
        h: ([], []) for h in ("reflection", "question", "input")
    }
    for k in range(N_FOLDS):
        tr = np.where(p.fold != k)[0]
        te = np.where(p.fold == k)[0]
        model = fit_linear(
            [p.rows[i] for i in tr], [p.turns[i] for i in tr], stack=stack, static=static
        )
        x = model.features([p.turns[i] for i in te])
        # The coder's own path, so the stacked client head sees the whole held-out transcripts.
        probs = linear_probabilities([p.turns[i] for i in te], model, x)
        pos = {int(i): j for j, i in enumerate(te)}
        for task in TASKS:
            idx = _task_index(p, task)
            sel = p.fold[idx] == k
            pr = probs.behaviour if task == "behaviour" else probs.talk
            out[task][sel] = pr[[pos[int(i)] for i in idx[sel]]]
        talk_sel = p.fold[_task_index(p, "talk")] == k
        out["talk_unadjusted"][talk_sel] = out["talk"][talk_sel]
        if nested_bias:
            bias = talk_bias_by_cv([p.rows[i] for i in tr], [p.turns[i] for i in tr], p.fold[tr])
            out["talk_bias"][k] = bias
            out["talk"][talk_sel] = apply_bias(out["talk"][talk_sel], bias)
        for h in subs:
            rows = [(j, subtype_label(h, p.rows[i])) for j, i in enumerate(te)]
            rows = [(j, lab) for j, lab in rows if lab]
            if not rows:
                continue
            head = model.heads[h]
            pr = head.proba(x[[j for j, _ in rows]])
            subs[h][0].extend(lab for _, lab in rows)
            subs[h][1].extend(head.classes[int(c)] for c in pr.argmax(1))
        if progress:
            progress(f"{'default' if static else 'linear partner'} fold {k + 1}")
    return out, subs


def embeddings_oof(
    p: Prepared,
    device: str,
    progress: Progress | None = None,
    max_steps: int | None = None,
    folds: Sequence[int] | None = None,
    paired: bool = False,
) -> dict[str, NDArray[np.float64]]:
    """Embeddings tier (LoRA fine-tune per fold); needs torch, meant for a GPU.

    With `folds`, only those held-out folds are filled (the other rows stay zero), so the five
    fine-tunes can run as separate processes and their files be added up (`merge_oof`).
    """
    from alliance.transcripts import train_embeddings as tembed

    out = {
        task: np.zeros((len(_task_index(p, task)), len(classes)))
        for task, (_, classes) in TASKS.items()
    }
    beh, talk = p.labels("behaviour"), p.labels("talk")
    for k in range(N_FOLDS) if folds is None else folds:
        tr = np.where(p.fold != k)[0]
        te = np.where(p.fold == k)[0]
        tok, model = tembed.fit(
            [p.turns[i] for i in tr],
            [beh[i] for i in tr],
            [talk[i] for i in tr],
            device=device,
            seed=0,
            max_steps=max_steps,
            paired=paired,
        )
        pb, pt = tembed.predict(tok, model, [p.turns[i] for i in te], device)
        pos = {int(i): j for j, i in enumerate(te)}
        for task, pr in (("behaviour", pb), ("talk", pt)):
            idx = _task_index(p, task)
            sel = p.fold[idx] == k
            out[task][sel] = pr[[pos[int(i)] for i in idx[sel]]]
        if progress:
            progress(f"embeddings fold {k + 1}")
    return out


def scores(p: Prepared, task: str, proba: NDArray[np.float64]) -> dict[str, Any]:
    """Macro-F1 per fold (mean, sd) and the confusion matrix summed over folds."""
    classes = TASKS[task][1]
    idx = _task_index(p, task)
    gold = np.array([p.labels(task)[i] for i in idx])
    pred = np.array(classes)[proba.argmax(1)]
    per_fold = [
        float(
            f1_score(
                gold[p.fold[idx] == k],
                pred[p.fold[idx] == k],
                labels=list(classes),
                average="macro",
            )
        )
        for k in range(N_FOLDS)
    ]
    return {
        "macro_f1_mean": float(np.mean(per_fold)),
        "macro_f1_sd": float(np.std(per_fold, ddof=1)),
        "per_fold": per_fold,
        "classes": list(classes),
        "confusion": confusion_matrix(gold, pred, labels=list(classes)).tolist(),
    }


def save_oof(path: Path, probs: dict[str, NDArray[np.float64]]) -> None:
    np.savez_compressed(path, **probs)  # type: ignore[arg-type]


def load_oof(path: Path) -> dict[str, NDArray[np.float64]]:
    with np.load(path) as z:
        return {k: z[k].astype(np.float64) for k in z.files}


def merge_oof(paths: Sequence[Path]) -> dict[str, NDArray[np.float64]]:
    """Add up out-of-fold files written for disjoint folds (each row filled by exactly one)."""
    parts = [load_oof(x) for x in paths]
    merged = {k: np.sum([d[k] for d in parts], axis=0) for k in parts[0]}
    for k in merged:
        filled = [np.abs(d[k]).sum(axis=1) > 0 for d in parts]
        if not np.all(np.sum(filled, axis=0) == 1):
            raise ValueError(f"{k}: each row must come from exactly one file")
    return merged


def run(
    data: str | None,
    tiers: Sequence[str],
    device: str = "cpu",
    embeddings_probs: dict[str, NDArray[np.float64]] | None = None,
    save_embeddings_oof: Path | None = None,
    progress: Progress | None = None,
    limit: int | None = None,
    max_steps: int | None = None,
    nested_talk_threshold: bool = False,
    folds: Sequence[int] | None = None,
    stack: bool = False,
    paired: bool = False,
) -> dict[str, Any]:
    """The whole AnnoMI evaluation as one JSON-ready dict."""
    rows = load_annomi(require_data_dir(data))
    if limit is not None:
        keep = {r.conversation for r in rows[:limit]}
        rows = [r for r in rows if r.conversation in keep]
    p = prepare(rows)
    report: dict[str, Any] = {
        "folds": N_FOLDS,
        "conversations": len({r.conversation for r in rows}),
        "utterances": len(rows),
        "published_text_only": PUBLISHED,
        "human_fleiss_kappa": HUMAN_KAPPA,
        "tiers": {},
    }
    lin: dict[str, NDArray[np.float64]] | None = None
    if "baseline" in tiers:
        b = baseline_oof(p, progress)
        report["tiers"]["baseline"] = {t: scores(p, t, b[t]) for t in TASKS}
    if "default" in tiers:
        lin = _score_default(report, p, progress, nested=nested_talk_threshold, stack=stack)
    if "embeddings" in tiers:
        if embeddings_probs is not None:
            e = embeddings_probs
        else:
            e = embeddings_oof(p, device, progress, max_steps, folds, paired)
        if save_embeddings_oof is not None:
            save_oof(save_embeddings_oof, e)
        if folds is not None:
            return report  # a part of the cross-validation: nothing to score yet
        _score_embeddings(report, p, e, lin, progress, nested=nested_talk_threshold)
    return report


def _score_default(
    report: dict[str, Any], p: Prepared, progress: Progress | None, *, nested: bool, stack: bool
) -> dict[str, NDArray[np.float64]]:
    """Score the default tier (and its subtypes) into `report`; return its probabilities."""
    lin, subs = default_oof(p, progress, nested_bias=nested, stack=stack)
    report["tiers"]["default"] = {t: scores(p, t, lin[t]) for t in TASKS}
    if nested:
        report["tiers"]["default_threshold"] = report["tiers"]["default"]
        report["tiers"]["default"] = {
            "behaviour": report["tiers"]["default_threshold"]["behaviour"],
            "talk": scores(p, "talk", lin["talk_unadjusted"]),
        }
        report["talk_bias_per_fold"] = lin["talk_bias"].tolist()
    report["subtypes_default"] = {
        h: {
            "macro_f1": float(f1_score(g, pr, average="macro")),
            "n": len(g),
            "labels": sorted(set(g)),
            "confusion": confusion_matrix(g, pr, labels=sorted(set(g))).tolist(),
        }
        for h, (g, pr) in subs.items()
    }
    return lin


def _score_embeddings(
    report: dict[str, Any],
    p: Prepared,
    e: dict[str, NDArray[np.float64]],
    lin: dict[str, NDArray[np.float64]] | None,
    progress: Progress | None,
    *,
    nested: bool,
) -> None:
    """Score the embeddings tier alone and, given the default tier's, its two averages."""
    report["tiers"]["embeddings_alone"] = {t: scores(p, t, e[t]) for t in TASKS}
    if lin is None:
        return
    # The shipped embeddings tier averages its probabilities with those of its own linear
    # model: the default tier's design without the static token vectors (PARTNER_WEIGHTS).
    part, _ = default_oof(p, progress, nested_bias=nested, static=False)
    report["tiers"]["embeddings"] = {
        "behaviour": scores(p, "behaviour", (e["behaviour"] + part["behaviour"]) / 2),
        "talk": scores(p, "talk", (e["talk"] + part["talk_unadjusted"]) / 2),
    }
    if nested:
        report["tiers"]["embeddings_threshold"] = {
            "behaviour": report["tiers"]["embeddings"]["behaviour"],
            "talk": scores(p, "talk", (e["talk"] + part["talk"]) / 2),
        }
    # Not shipped, scored for the decision written in docs/transcripts.md: the same
    # adapter averaged with the default tier itself (static token vectors included).
    report["tiers"]["embeddings+default"] = {
        "behaviour": scores(p, "behaviour", (e["behaviour"] + lin["behaviour"]) / 2),
        "talk": scores(p, "talk", (e["talk"] + lin["talk_unadjusted"]) / 2),
    }


def mibot_report(data: str | None, tier: str = "default") -> dict[str, Any]:
    """Agreement with MIBot's silver labels, and profile metrics against client-rated CARE."""
    from scipy.stats import spearmanr

    from alliance.transcripts.coder import code_utterances
    from alliance.transcripts.corpus import load_care, load_mibot
    from alliance.transcripts.model import Utterance
    from alliance.transcripts.profile import session_profile

    d = require_data_dir(data)
    care = load_care(d)
    gold_t: list[str] = []
    pred_t: list[str] = []
    gold_c: list[str] = []
    pred_c: list[str] = []
    metrics: dict[str, list[float]] = {}
    ratings: dict[str, list[float]] = {}
    for pid, utts, labels in load_mibot(d):
        us = [Utterance(i + 1, u.speaker, u.text) for i, u in enumerate(utts)]
        coded = code_utterances(us, tier=tier, topic="smoking cessation")
        for c, lab in zip(coded, labels, strict=True):
            if c.speaker == "therapist":
                gold_t.append({"R": "reflection", "Q": "question"}.get(lab, "other"))
                pred_t.append(c.behaviour if c.behaviour in ("reflection", "question") else "other")
            else:
                gold_c.append({"C": "change", "S": "sustain", "N": "neutral"}.get(lab, "neutral"))
                pred_c.append(c.code)
        if pid in care:
            prof = session_profile(coded)
            for name, value in prof.metrics().items():
                if value is not None:
                    metrics.setdefault(name, []).append(value)
                    ratings.setdefault(name, []).append(care[pid])
    corr = {}
    for name, values in metrics.items():
        rho, pval = spearmanr(values, ratings[name])
        corr[name] = {"spearman_rho": float(rho), "p": float(pval), "n": len(values)}
    return {
        "therapist_3class": {
            "labels": ["reflection", "question", "other"],
            "macro_f1": float(f1_score(gold_t, pred_t, average="macro")),
            "cohen_kappa": float(cohen_kappa_score(gold_t, pred_t)),
            "n": len(gold_t),
        },
        "client": {
            "macro_f1": float(f1_score(gold_c, pred_c, average="macro")),
            "cohen_kappa": float(cohen_kappa_score(gold_c, pred_c)),
            "n": len(gold_c),
        },
        "care_correlation": corr,
        "care_sessions": len(next(iter(ratings.values()), [])),
    }


def render(report: dict[str, Any]) -> str:
    """Plain-text table of the AnnoMI report."""
    lines = [
        f"AnnoMI, {report['folds']}-fold CV grouped by conversation "
        f"({report['conversations']} conversations, {report['utterances']} utterances)",
        f"{'tier':<18}{'therapist (4)':>20}{'client (3)':>20}",
    ]
    for tier, res in report["tiers"].items():
        cells = [f"{res[t]['macro_f1_mean']:.3f} ± {res[t]['macro_f1_sd']:.3f}" for t in TASKS]
        lines.append(f"{tier:<18}{cells[0]:>20}{cells[1]:>20}")
    lines.append(
        f"{'published (text)':<18}{PUBLISHED['behaviour']:>20.2f}{PUBLISHED['talk']:>20.2f}"
    )
    lines.append(
        f"{'human kappa':<18}{HUMAN_KAPPA['behaviour']:>20.2f}{HUMAN_KAPPA['talk']:>20.2f}"
    )
    for h, s in report.get("subtypes_default", {}).items():
        lines.append(f"subtype {h}: macro-F1 {s['macro_f1']:.3f} (n={s['n']}, {s['labels']})")
    for tier, res in report["tiers"].items():
        for t in TASKS:
            lines.append(f"confusion {tier} {t} (rows gold, cols predicted {res[t]['classes']}):")
            lines += [f"  {row}" for row in res[t]["confusion"]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    # Long only because it lists the options: declare, parse, run, print, in that order.
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--data",
        help="folder with annomi/ and mibot/ "
        "(default: shared/data near the repo or $ALLIANCE_TRANSCRIPT_DATA)",
    )
    ap.add_argument("--tiers", default="baseline,default")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--embeddings-oof",
        type=Path,
        nargs="+",
        help="read embeddings out-of-fold probabilities (several files, one per fold, add up)",
    )
    ap.add_argument(
        "--folds", help="embeddings: fine-tune only these held-out folds, e.g. 0,1 (with --save-)"
    )
    ap.add_argument("--save-embeddings-oof", type=Path)
    ap.add_argument("--mibot", action="store_true", help="also check against MIBot")
    ap.add_argument("--mibot-tier", default="default")
    ap.add_argument("--out", type=Path, help="write the JSON report here")
    ap.add_argument("--limit", type=int, help="use only the conversations of the first N rows")
    ap.add_argument("--max-steps", type=int, help="cap training steps (smoke tests)")
    ap.add_argument(
        "--nested-talk-threshold",
        action="store_true",
        help="also score client-talk decision offsets chosen by nested CV (not shipped)",
    )
    ap.add_argument(
        "--stack",
        action="store_true",
        help="default tier with a stacked client head (tried, not shipped: docs/transcripts.md)",
    )
    ap.add_argument(
        "--paired",
        action="store_true",
        help="embeddings: client turns also encoded with the turn before (tried, not shipped)",
    )
    ap.add_argument(
        "--markers",
        action="store_true",
        help="score markers and codes on the held-out hand-labelled conversations, and count "
        "markers on AnnoMI (with --data or when it is found); nothing else runs",
    )
    ap.add_argument("--tier", default="default", help="with --markers: the tier that codes")
    args = ap.parse_args(argv)
    if args.markers:
        return _markers_main(args.data, args.tier, args.out)
    report = run(
        args.data,
        args.tiers.split(","),
        args.device,
        merge_oof(args.embeddings_oof) if args.embeddings_oof else None,
        args.save_embeddings_oof,
        progress=lambda s: print(s, file=sys.stderr, flush=True),
        limit=args.limit,
        max_steps=args.max_steps,
        nested_talk_threshold=args.nested_talk_threshold,
        folds=[int(k) for k in args.folds.split(",")] if args.folds else None,
        stack=args.stack,
        paired=args.paired,
    )
    if args.mibot:
        report["mibot"] = mibot_report(args.data, args.mibot_tier)
    print(render(report))
    if "mibot" in report:
        print(json.dumps(report["mibot"], indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


def _markers_main(data: str | None, tier: str, out: Path | None) -> int:
    from alliance.transcripts.corpus import find_data_dir
    from alliance.transcripts.heldout import annomi_marker_rates, heldout_report, render_heldout

    report = heldout_report(tier=tier)
    print(render_heldout(report))
    found = find_data_dir(data)
    if found is not None and (found / "annomi").is_dir():
        report["annomi"] = annomi_marker_rates(found, tier)
        print(json.dumps(report["annomi"], indent=1))
    if out:
        out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


MARKER_SET = Path(__file__).resolve().parent / "data" / "markers.jsonl"


def marker_report(path: Path = MARKER_SET, tier: str = "default") -> dict[str, Any]:
    """Precision and recall of each marker on the hand-labelled set, per split."""
    from alliance.transcripts.coder import code_utterances
    from alliance.transcripts.model import MARKERS, Role, Utterance

    counts: dict[str, dict[str, dict[str, int]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        speaker: Role = "therapist" if item["speaker"] == "therapist" else "client"
        other: Role = "client" if speaker == "therapist" else "therapist"
        utts = [Utterance(1, other, item["prev"]), Utterance(2, speaker, item["text"])]
        coded = code_utterances(utts, tier=tier)
        found = {m.name for m in coded[1].markers}
        gold = set(item["markers"])
        for name in MARKERS:
            c = counts.setdefault(name, {}).setdefault(item["split"], {"tp": 0, "fp": 0, "fn": 0})
            c["tp"] += int(name in found and name in gold)
            c["fp"] += int(name in found and name not in gold)
            c["fn"] += int(name not in found and name in gold)
    out: dict[str, Any] = {}
    for name, splits in counts.items():
        for split, c in splits.items():
            tp, fp, fn = c["tp"], c["fp"], c["fn"]
            out.setdefault(name, {})[split] = {
                **c,
                "precision": tp / (tp + fp) if tp + fp else None,
                "recall": tp / (tp + fn) if tp + fn else None,
            }
    return out
