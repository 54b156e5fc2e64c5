"""Test doubles live in `testkit/`, outside the product: nothing the product ships imports it
(or `tests/`), so a wheel without them still imports cleanly."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("tasks", "flows", "configs", "logging_lib")


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_product_never_imports_test_doubles() -> None:
    offenders = [f"{p.relative_to(REPO)} imports {sorted(_imported_roots(p) & {'testkit', 'tests'})}"
                 for pkg in PRODUCT for p in sorted((REPO / pkg).rglob("*.py"))
                 if _imported_roots(p) & {"testkit", "tests"}]
    assert offenders == []


def test_stub_backend_is_in_testkit_not_the_product() -> None:
    assert (REPO / "testkit" / "stub_vllm.py").is_file()
    assert not any((REPO / "tasks").rglob("stub_server.py"))
