"""The house rules of docs/architecture.md, checked on the code itself: imports go one way
(logging_lib -> configs -> tasks -> flows), no import cycles, nothing of ours imports tests/,
the product never imports testkit/ or bench/, and modules and functions stay small enough to
hold in mind (over the limit only with a "long because ..." in the docstring)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

PRODUCT = ("configs", "logging_lib", "tasks", "flows")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
# package -> what it may import of ours (itself included)
ALLOWED = {
    "configs": {"configs", "logging_lib"},  # the exception tree's root lives in logging_lib
    "logging_lib": {"logging_lib"},
    "tasks": {"configs", "logging_lib", "tasks"},
    "flows": {"configs", "logging_lib", "tasks", "flows"},
    "bench": {"configs", "logging_lib", "tasks", "flows", "bench", "testkit"},
    "testkit": {"configs", "logging_lib", "tasks", "testkit"},
}
OURS = set(ALLOWED) | {"tests"}


def _modules(*tops: str) -> dict[str, Path]:
    out = {}
    for top in tops:
        for path in sorted((REPO_ROOT / top).rglob("*.py")):
            rel = path.relative_to(REPO_ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module of ours `name` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m.split(".")[0] in OURS}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = _modules(*PRODUCT, "bench", "testkit")
    known = set(mods)
    return {name: _imports(name, path, known) for name, path in mods.items()}


def test_imports_go_one_way(graph):
    wrong = [f"{src} imports {dst}" for src, dsts in graph.items() for dst in sorted(dsts)
             if dst.split(".")[0] not in ALLOWED[src.split(".")[0]]]
    assert not wrong, "imports against the house's direction:\n" + "\n".join(wrong)


def test_no_import_cycles(graph):
    def owner(module: str) -> str:  # a package's __init__ stands for the package
        return module if module in graph else module.rpartition(".")[0]

    edges = {src: {owner(d) for d in dsts if owner(d) in graph and owner(d) != src} for src, dsts in graph.items()}
    for src in edges:  # a package's face importing its own modules is not a cycle
        edges[src] = {d for d in edges[src] if not d.startswith(src + ".")}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    assert not cycles, f"modules that import each other: {cycles}"


def _long_reason(doc: str | None) -> bool:
    return "long because" in (doc or "").lower()


def test_modules_and_functions_stay_small():
    too_big = []
    for name, path in _modules(*PRODUCT).items():
        text = path.read_text()
        tree = ast.parse(text, str(path))
        if len(text.splitlines()) > MAX_MODULE_LINES and not _long_reason(ast.get_docstring(tree)):
            too_big.append(f"{path.relative_to(REPO_ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES and not _long_reason(ast.get_docstring(node)):
                    too_big.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.name}(): {lines} lines")
    assert not too_big, (f"over {MAX_MODULE_LINES} lines per module / {MAX_FUNCTION_LINES} per function without "
                         "a \"long because ...\" in the docstring:\n" + "\n".join(too_big))


def test_the_checks_see_a_violation(tmp_path):
    """The checks above would catch what they guard against (they are not vacuous)."""
    (tmp_path / "a.py").write_text("import tasks.b\nfrom flows import x\n")
    found = _imports("tasks.a", tmp_path / "a.py", {"tasks.b", "flows.x"})
    assert found == {"tasks.b", "flows.x"} and "flows" not in ALLOWED["tasks"]
    assert not _long_reason("Runs the loop.") and _long_reason("Runs the loop. Long because it is one state machine.")
