"""The transcripts modules import one way: no cycle, function-local imports included."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "alliance" / "transcripts"
PREFIX = "alliance.transcripts."


def _imports() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports, anywhere in it."""
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for name in modules:
        found: set[str] = set()
        for node in ast.walk(ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module.startswith(PREFIX):
                    found.add(node.module.removeprefix(PREFIX))
                elif node.module == PREFIX.rstrip("."):  # from alliance.transcripts import features
                    found.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.Import):
                found.update(a.name.removeprefix(PREFIX) for a in node.names)
        graph[name] = (found & modules) - {name}
    return graph


def test_the_transcripts_modules_have_no_import_cycle() -> None:
    """Catches coder <-> embeddings and static -> embeddings -> features -> static coming back."""
    graph = _imports()
    try:
        tuple(TopologicalSorter(graph).static_order())
    except CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None


def test_the_base_model_and_the_probabilities_sit_below_the_tiers() -> None:
    graph = _imports()
    assert "minilm" in graph["static"]
    assert "embeddings" not in graph["static"]
    assert "coder" not in graph["embeddings"]
    assert graph["minilm"] <= {"errors"}
    assert "coder" not in graph["linear"]
    assert "embeddings" not in graph["linear"]
