"""What may import what: the product and bench/ never import tests/; tests control time with
`clock=`, never by swapping the logger's clock function."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

PRODUCT = ("configs", "logging_lib", "tasks", "flows")


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def _sources(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((REPO_ROOT / folder).rglob("*.py"))]


def test_product_bench_and_testkit_never_import_tests():
    offenders = {str(p.relative_to(REPO_ROOT)): sorted(m for m in _imported_modules(p) if m.split(".")[0] == "tests")
                 for p in _sources(*PRODUCT, "bench", "testkit")}
    assert not {k: v for k, v in offenders.items() if v}


def test_the_product_never_imports_testkit():
    offenders = {str(p.relative_to(REPO_ROOT)) for p in _sources(*PRODUCT)
                 if any(m.split(".")[0] == "testkit" for m in _imported_modules(p))}
    assert not offenders


def test_no_test_swaps_the_loggers_clock_function():
    this = Path(__file__).resolve()
    offenders = [str(p.relative_to(REPO_ROOT)) for p in _sources("tests", "bench")
                 if p.resolve() != this and "iso_now" in p.read_text(encoding="utf-8")]
    assert not offenders, f"pass clock= to the logger instead of patching iso_now: {offenders}"
