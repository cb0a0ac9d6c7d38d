"""The layers keep their direction (docs/architecture.md): an import contract over the source.

Every `import` and `from … import` is read from the syntax tree, including those inside functions,
so a lazy import cannot slip past. The checker is tested on a small made-up package first, so a
checker that finds nothing cannot pass for a clean codebase.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
CORE = ("domain", "instruments", "analytics", "transcripts")

# (importing package, forbidden module prefix, why)
CONTRACT: list[tuple[str, str, str]] = [
    *(
        (core, f"alliance.{outer}", "the core four are usable with no database, web or CLI")
        for core in CORE
        for outer in ("store", "services", "web", "cli")
    ),
    ("alliance.store", "alliance.services", "the store sits below the services"),
    ("alliance.store", "alliance.web", "the store knows nothing of the web"),
    ("alliance.store", "alliance.cli", "the store knows nothing of the CLI"),
    ("alliance.services", "alliance.web", "services serve the web, the API and the CLI alike"),
    ("alliance.services", "alliance.cli", "services serve the web, the API and the CLI alike"),
    ("alliance.web", "alliance.store.tables", "pages and the API reach tables through services"),
    ("alliance.web", "alliance.cli", "the web app does not call the CLI"),
    ("alliance.cli", "alliance.store.tables", "commands reach tables through use cases"),
    ("alliance.cli", "alliance.web.routes", "commands call services, not routes"),
]


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in the source, relative ones resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield node.lineno, base
            # `from alliance.store import tables` imports the module alliance.store.tables.
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def violations(root: Path, contract: list[tuple[str, str, str]]) -> list[str]:
    found: dict[tuple[str, int, str], str] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(root, path)
        source = path.read_text(encoding="utf-8")
        for line, imported in imports_of(source, module, is_package=path.name == "__init__.py"):
            for importer, forbidden, why in contract:
                inside = module == importer or module.startswith(importer + ".")
                hits = imported == forbidden or imported.startswith(forbidden + ".")
                key = (str(path.relative_to(root)), line, why)
                if inside and hits and len(imported) < len(found.get(key, imported + "_")):
                    found[key] = imported
    return sorted(f"{p}:{line} imports {found[p, line, why]}: {why}" for p, line, why in found)


def qualified(contract: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [(i if i.startswith("alliance") else f"alliance.{i}", f, why) for i, f, why in contract]


def test_the_checker_finds_a_forbidden_import(tmp_path: Path) -> None:
    pkg = tmp_path / "alliance"
    for sub in ("web", "analytics", "store"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "web" / "page.py").write_text(
        "def handler():\n    from alliance.store import tables\n    return tables\n"
    )
    (pkg / "analytics" / "bad.py").write_text("from ..store.engine import make_engine\n")
    (pkg / "analytics" / "good.py").write_text("from alliance.analytics import bad\n")
    found = violations(tmp_path, qualified(CONTRACT))
    assert found == [
        "alliance/analytics/bad.py:1 imports alliance.store.engine: "
        "the core four are usable with no database, web or CLI",
        "alliance/web/page.py:2 imports alliance.store.tables: "
        "pages and the API reach tables through services",
    ]


def test_the_layers_keep_their_direction() -> None:
    assert (SRC / "alliance" / "store" / "tables.py").exists()
    assert violations(SRC, qualified(CONTRACT)) == []


@pytest.mark.parametrize("package", ["services", "store", "web", "cli", *CORE])
def test_each_layer_is_where_the_guide_says(package: str) -> None:
    """docs/architecture.md names every package the contract speaks of."""
    assert (SRC / "alliance" / package / "__init__.py").exists()
    guide = (SRC.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert f"`{package}/`" in guide


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the alliance modules it imports (anywhere in the file, functions included).

    `from package import module` is an edge to the module, not to the package's __init__.
    """
    paths = {module_name(root, p): p for p in root.rglob("*.py")}

    def owner(name: str) -> str:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                deps.update(owner(alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    deps.add(owner(f"{node.module}.{alias.name}"))
        graph[module] = {d for d in deps if d.startswith("alliance")} - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_round_a_cycle() -> None:
    assert cycles(import_graph(SRC)) == []
