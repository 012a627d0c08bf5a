"""The house's architecture, checked from the source: no import circle, the shared layer names no paper.

Every module's imports are read with :mod:`ast` (function-level, deferred imports included, since a
deferred import is how a circle hides), each import of ``a.b.c`` also counting as an import of the
packages ``a`` and ``a.b`` (their ``__init__`` runs first).
"""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "papers", "benchmarks")
PAPERS = ("mcclstm", "msecnn", "crnn_tf", "lstm_segment")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _imports(path: Path, name: str, modules: dict[str, Path]) -> set[str]:
    targets = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in names:
            parts = target.split(".")
            for k in range(1, len(parts) + 1):
                candidate = ".".join(parts[:k])
                if candidate in modules and candidate != name:
                    targets.add(candidate)
    return targets


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over the repository's own packages."""
    modules = _modules()
    return {name: _imports(path, name, modules) for name, path in modules.items()}


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    # a package importing its own submodules (re-exports in __init__) is not a circle of jobs
    edges = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
    for m, targets in edges.items():
        for t in list(targets):
            if m.startswith(t + "."):             # a submodule "importing" its own package's __init__
                targets.discard(t)
    try:
        list(graphlib.TopologicalSorter(edges).static_order())
    except graphlib.CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_the_shared_layer_imports_no_paper():
    graph = import_graph()
    offenders = {m: sorted(t for t in targets if t.startswith("papers"))
                 for m, targets in graph.items() if m.startswith("common") and m != "common.registry"}
    assert not {m: t for m, t in offenders.items() if t}


def test_no_paper_imports_another_paper():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("papers."):
            own = module.split(".")[1]
            assert not [t for t in targets if t.startswith("papers.") and t.split(".")[1] != own], module


def test_predict_holds_no_paper_and_every_predict_table_has_its_own_adapter():
    for path in (REPO / "common" / "inference").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        names = PAPERS + ("MCCLSTM", "MsE-CNN", "CRNN-TF", "FCN-5")
        assert not re.search(r"\b(" + "|".join(map(re.escape, names)) + r")\b", text, re.IGNORECASE), path
    from common.registry import available_tables

    for name, factory in available_tables().items():
        spec = factory()
        if spec.inference:
            assert spec.inference == f"papers.{spec.paper}.inference"
            assert (REPO / "papers" / spec.paper / "inference.py").is_file()


def test_the_shared_layers_top_level_holds_packages_and_a_few_modules():
    modules = sorted(p.name for p in (REPO / "common").glob("*.py") if p.name != "__init__.py")
    assert modules == ["atomic_files.py", "cli.py", "errors.py", "registry.py"]
