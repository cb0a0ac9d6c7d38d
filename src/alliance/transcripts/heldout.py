"""Markers and codes scored on the held-out part of the hand-labelled conversations.

Run: python -m alliance.transcripts.evaluate --markers [--tier default] [--data DIR]

Each held-out conversation is coded as a whole transcript (context never crosses conversations),
twice: with the learned heads and the rules added with them (reflection checks, rupture turns
routed to neutral), and without them (the phrase patterns alone, as before). The marker heads'
weights record the conversations they were fitted on; scoring refuses to run if any of them is
held out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alliance.transcripts.coder import code_sessions
from alliance.transcripts.marker_model import (
    MARKER_DATA,
    LabelledTurn,
    by_conversation,
    load_markers,
    read_conversations,
)
from alliance.transcripts.model import MARKERS, CodedUtterance, Role, Utterance, behaviour_of

# The coarse codes the set is labelled with (README beside the data).
CODES = (
    "reflection",
    "question",
    "information",
    "advice",
    "affirmation",
    "self_disclosure",
    "other",
    "change",
    "sustain",
    "neutral",
)


def coarse(code: str) -> str:
    """A fine code as the set labels it (reflection and question without their subtypes)."""
    main = behaviour_of(code)
    return main if main in ("reflection", "question") else code


def check_disjoint(rows: Sequence[LabelledTurn]) -> None:
    """Refuse to score rows from conversations the shipped marker heads were fitted on."""
    seen = load_markers().trained_on & {r.conversation for r in rows}
    if seen:
        raise ValueError(
            f"{len(seen)} scored conversations were used to fit the marker heads; "
            "retrain with `python -m alliance.transcripts.marker_model`"
        )


def code_conversations(
    rows: Sequence[LabelledTurn], tier: str = "default", learned: bool = True
) -> list[tuple[LabelledTurn, CodedUtterance]]:
    """Each labelled row next to its coded utterance."""
    convs = by_conversation(rows)
    sessions = [[Utterance(r.turn, _role(r.speaker), r.text) for r in conv] for conv in convs]
    coded = code_sessions(sessions, tier=tier, learned=learned)
    return [
        pair for conv, out in zip(convs, coded, strict=True) for pair in zip(conv, out, strict=True)
    ]


def _role(speaker: str) -> Role:
    return "therapist" if speaker == "therapist" else "client"


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n": tp + fn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
    }


def score(pairs: Sequence[tuple[LabelledTurn, CodedUtterance]]) -> dict[str, Any]:
    """Precision, recall and n for every marker and every coarse code."""
    count: Counter[tuple[str, str]] = Counter()
    for row, c in pairs:
        found = {m.name for m in c.markers}
        for name in MARKERS:
            hit, gold = name in found, name in row.markers
            count[(name, "tp")] += hit and gold
            count[(name, "fp")] += hit and not gold
            count[(name, "fn")] += gold and not hit
        pred = coarse(c.code)
        count[("code:" + row.code, "tp")] += pred == row.code
        count[("code:" + row.code, "fn")] += pred != row.code
        count[("code:" + pred, "fp")] += pred != row.code
    names = [*MARKERS, *("code:" + k for k in CODES)]
    return {n: _prf(count[(n, "tp")], count[(n, "fp")], count[(n, "fn")]) for n in names}


def heldout_report(path: Path = MARKER_DATA, tier: str = "default") -> dict[str, Any]:
    """Scores on the held-out part, with and without the learned heads."""
    rows = read_conversations(path, "heldout")
    check_disjoint(rows)
    return {
        "tier": tier,
        "utterances": len(rows),
        "conversations": len({r.conversation for r in rows}),
        "learned": score(code_conversations(rows, tier, learned=True)),
        "patterns_only": score(code_conversations(rows, tier, learned=False)),
    }


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def render_heldout(report: dict[str, Any]) -> str:
    """A Markdown table: shipped figures, and the phrase patterns alone for comparison."""
    lines = [
        f"held-out part: {report['utterances']} utterances in {report['conversations']} "
        f"conversations, {report['tier']} tier",
        "",
        "| marker or code | n | precision | recall | TP / FP / FN | patterns alone: P / R |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in report["learned"].items():
        b = report["patterns_only"][name]
        if s["n"] == 0 and s["fp"] == 0:
            continue
        lines.append(
            f"| {name.replace('_', ' ')} | {s['n']} | {_f(s['precision'])} | {_f(s['recall'])} "
            f"| {s['tp']} / {s['fp']} / {s['fn']} | {_f(b['precision'])} / {_f(b['recall'])} |"
        )
    return "\n".join(lines)


def annomi_marker_rates(data: Path, tier: str = "default") -> dict[str, Any]:
    """How often each marker is raised on AnnoMI, with and without the learned heads.

    AnnoMI has no marker labels. Only the conversations the heads never saw are counted (every
    fifth by sorted id; marker_model.annomi_negatives), so this is an outside check on how often
    they fire on real sessions; client turns routed to neutral are counted by gold label.
    """
    from alliance.transcripts.corpus import load_annomi
    from alliance.transcripts.marker_model import ANNOMI_CHECK_EVERY

    seen = load_markers().meta.get("annomi_conversations", "").split()
    everything: dict[str, list[Any]] = {}
    for r in load_annomi(data):
        everything.setdefault(r.conversation, []).append(r)
    convs = {
        c: everything[c]
        for i, c in enumerate(sorted(everything))
        if i % ANNOMI_CHECK_EVERY == 0 and c not in seen
    }
    rows = [r for c in convs.values() for r in c]
    sessions = [
        [Utterance(i + 1, r.speaker, r.text) for i, r in enumerate(c)] for c in convs.values()
    ]
    gold = [r.talk for c in convs.values() for r in c]
    out: dict[str, Any] = {
        "conversations": len(convs),
        "utterances": len(rows),
        "client_turns": sum(r.speaker == "client" for r in rows),
        "therapist_turns": sum(r.speaker == "therapist" for r in rows),
    }
    coded: dict[bool, list[CodedUtterance]] = {}
    for learned in (False, True):
        coded[learned] = [u for s in code_sessions(sessions, tier=tier, learned=learned) for u in s]
        raised = Counter(m.name for u in coded[learned] for m in u.markers)
        out["learned" if learned else "patterns_only"] = {n: raised[n] for n in MARKERS}
    routed = Counter(
        g
        for before, after, g in zip(coded[False], coded[True], gold, strict=True)
        if before.code in ("change", "sustain")
        and after.code == "neutral"
        and any(m.name in ("confrontation", "withdrawal") for m in after.markers)
    )
    out["client_turns_routed_to_neutral_by_gold_label"] = dict(routed)
    return out
