"""The house rules of the package's imports: each layer uses only the layers below it, and no module
imports another that imports it back (directly or around a loop).

Every ``import`` statement counts, at module level or inside a function, except those under
``if TYPE_CHECKING:`` (they never run). The layers, lowest first:
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.tl_independent  # checked in the 3.x pass: see tests/conftest.py

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "grokscope"

LAYERS = [
    ("grokscope.version", "grokscope.bounds", "grokscope.numerics", "grokscope.runtime"),
    ("grokscope.tasks",),
    ("grokscope.models",),
    ("grokscope.config",),
    ("grokscope.store",),
    ("grokscope.training", "grokscope.imports"),
    ("grokscope.analysis",),
    ("grokscope.sweeps",),
    ("grokscope.api", "grokscope.precompile"),
    ("grokscope.cli",),
]


def _module_files() -> dict[str, Path]:
    files = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    for path in (ROOT / "cli").glob("*.py"):
        stem = path.stem
        files["grokscope.cli" if stem == "__init__" else f"grokscope.cli.{stem}"] = path
    return files


MODULES = _module_files()


def _layer(module: str) -> int | None:
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, source: str | None = None, prefix: str = "grokscope") -> set[str]:
    """The modules ``module`` imports whose name starts with ``prefix`` (``from pkg import sub``
    resolved to the submodule when that is a grokscope module)."""
    tree = ast.parse(MODULES[module].read_text() if source is None else source)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(
                a.name.split(".")[0] if prefix != "grokscope" else a.name
                for a in node.names
                if a.name.startswith(prefix)
            )
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(prefix):
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(
                    sub if sub in MODULES else node.module.split(".")[0] if prefix != "grokscope" else node.module
                )
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m != module}


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_module_has_a_layer():
    assert sorted(m for m in MODULES if m != "grokscope" and _layer(m) is None) == []


def test_no_module_imports_from_a_layer_above_it():
    upward = []
    for module, targets in GRAPH.items():
        if module == "grokscope":  # the package's lazy names point at every layer, on purpose
            continue
        for target in targets:
            if target == "grokscope":
                upward.append(f"{module} -> grokscope (the package root)")
            elif _layer(target) > _layer(module):
                upward.append(f"{module} (layer {_layer(module)}) -> {target} (layer {_layer(target)})")
    assert upward == []


def test_no_import_cycles():
    # Tarjan-free version: a depth-first search that reports the first back edge it meets.
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def dfs(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt not in GRAPH:
                continue
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                dfs(nxt, stack)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module != "grokscope" and module not in state:
            dfs(module, [])
    assert cycles == []


def test_the_checker_sees_imports_in_functions_and_skips_type_checking_blocks():
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from grokscope.training.train import train\n"
        "def f():\n    from grokscope.models import build\n    import grokscope.store.run\n"
    )
    assert _imports("grokscope.tasks", source) == {"grokscope.models.build", "grokscope.store.run"}


def test_only_models_build_touches_transformer_lens():
    users = sorted(m for m in MODULES if "transformer_lens" in _imports(m, prefix="transformer_lens"))
    assert users == ["grokscope.models.build"]
