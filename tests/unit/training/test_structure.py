"""The training package stays readable: small functions, no classes hidden inside functions,
collaborators passed by keyword, thin Prefect wrappers under their published names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "tasks" / "training"
MAX_FUNCTION_LINES = 60
MAX_POSITIONAL = 5
MAX_WRAPPER_LINES = 15


def _functions(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _modules():
    return sorted(PACKAGE.glob("*.py"))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_function_over_sixty_lines_without_a_reason(path):
    tree = ast.parse(path.read_text())
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in _functions(tree)
            if f.end_lineno - f.lineno + 1 > MAX_FUNCTION_LINES
            and "long because" not in (ast.get_docstring(f) or "")]
    assert not long, f"{path.name}: split these or say why in the docstring ('long because ...'): {long}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_no_class_is_defined_inside_a_function(path):
    tree = ast.parse(path.read_text())
    nested = [f"{c.name} in {f.name}" for f in _functions(tree) for c in ast.walk(f) if isinstance(c, ast.ClassDef)]
    assert not nested, f"{path.name}: move these classes to module level: {nested}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.name)
def test_collaborators_are_passed_by_keyword(path):
    tree = ast.parse(path.read_text())
    wide = []
    for f in _functions(tree):
        positional = [a.arg for a in f.args.posonlyargs + f.args.args if a.arg not in ("self", "cls")]
        if len(positional) > MAX_POSITIONAL:
            wide.append(f"{f.name}({', '.join(positional)})")
    assert not wide, f"{path.name}: make the collaborators keyword-only (after `*`): {wide}"


def test_prefect_wrappers_are_thin_and_keep_their_names():
    from tasks.training import tasks

    tree = ast.parse((PACKAGE / "tasks.py").read_text())
    wrappers = {f.name: f.end_lineno - f.lineno + 1 for f in tree.body if isinstance(f, ast.FunctionDef)
                and any("task" in ast.unparse(d) for d in f.decorator_list)}
    assert set(wrappers) == {"prepare_data_task", "build_base_model_task", "train_task", "register_task"}
    assert all(n <= MAX_WRAPPER_LINES for n in wrappers.values()), wrappers
    assert {getattr(tasks, name).name for name in wrappers} == {"prepare-data", "build-base-model", "train",
                                                               "register"}
    assert not [f.name for f in tree.body if isinstance(f, ast.FunctionDef) and f.name not in wrappers], \
        "helpers belong with the plain functions, not in tasks.py"
