"""Labelled data loaders and the hand-labelled marker set."""

from __future__ import annotations

import json
from pathlib import Path

from alliance.transcripts.corpus import load_annomi, load_care, load_mibot
from alliance.transcripts.dataset import prepare
from alliance.transcripts.evaluate import MARKER_SET, marker_report
from alliance.transcripts.model import MARKERS


def test_it_loads_annomi_with_subtypes_in_conversation_order(annomi_dir: Path) -> None:
    rows = load_annomi(annomi_dir)
    assert len(rows) == 9699
    assert sum(r.speaker == "therapist" for r in rows) == 4882
    assert {r.subtype for r in rows if r.behaviour == "reflection"} >= {"simple", "complex"}
    p = prepare(rows)
    # Grouped folds: no conversation sits in two folds.
    folds: dict[str, set[int]] = {}
    for r, f in zip(p.rows, p.fold, strict=True):
        folds.setdefault(r.conversation, set()).add(int(f))
    assert all(len(v) == 1 for v in folds.values())


def test_it_reads_mibot_and_its_care_ratings(annomi_dir: Path) -> None:
    convs = list(load_mibot(annomi_dir))
    assert len(convs) == 106
    care = load_care(annomi_dir)
    assert all(1.0 <= v <= 5.0 for v in care.values())


def test_it_ships_a_marker_set_with_a_held_out_part() -> None:
    items = [json.loads(x) for x in MARKER_SET.read_text().splitlines()]
    assert {i["split"] for i in items} == {"dev", "heldout"}
    assert {m for i in items for m in i["markers"]} == set(MARKERS)


# The held-out table of docs/transcripts.md ("Markers"): TP / FP / FN, precision, recall.
HELD_OUT = {
    "advice_without_permission": (1, 0, 0, 1.0, 1.0),
    "confrontation": (2, 0, 0, 1.0, 1.0),
    "withdrawal": (3, 0, 0, 1.0, 1.0),
    "transference": (1, 0, 1, 1.0, 0.5),  # one of two found: 1 / (1 + 1)
    "self_disclosure": (1, 0, 0, 1.0, 1.0),
}


def test_it_scores_markers_on_the_held_out_part() -> None:
    report = marker_report()
    assert set(HELD_OUT) == set(MARKERS)
    for name, expected in HELD_OUT.items():
        held = report[name]["heldout"]
        got = (held["tp"], held["fp"], held["fn"], held["precision"], held["recall"])
        assert got == expected, name
