"""The fused extractor: `| json | a="x" | b > 1 | unwrap c` grouped by (...), in one function per line.

Why a second way to run a pipeline: it is the shape of every dashboard panel and alert, and the
staged stages (a label dict per line, one closure per stage) cost about a third more time per
line, which takes `mlops logs query` below its 5x target over `jq -s` (bench/logs_query.py; the
figures are in docs/architecture.md, "The LogQL engine"). It reads the same lines as the stages,
through scan.py, and must give the same answers: tests/unit/logging_lib/logql/test_scan.py runs
both over one corpus with malformed lines and compares them.

Same results as the staged pipeline: a line that is not JSON is dropped by the first
`name="non-empty"` filter (required), numeric filters keep Loki's error rules, and the query
fails when a kept sample carries an error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from logging_lib.logql import ast as A
from logging_lib.logql.errors import LogQLError
from logging_lib.logql.labels import as_text, flatten, nested_get
from logging_lib.logql.source import LogFile

# scan's (file, ts, raw line) -> (ts, group key, value), or None to drop the line; taking scan's
# tuple whole lets `filter(None, map(extract, scan(...)))` feed the accumulators without a Python loop
Extractor = Callable[[tuple[LogFile, int, bytes]], "tuple[int, tuple, float] | None"]
_FILE_LABELS = ("job", "service", "host", "filename")
_CMPS: dict[str, Callable[[float, float], bool]] = {
    "==": lambda x, y: x == y, "!=": lambda x, y: x != y, ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y, "<": lambda x, y: x < y, "<=": lambda x, y: x <= y}


def fused_extractor(q: A.LogQuery, base: frozenset[str], by: tuple[str, ...]) -> Extractor | None:
    """The fused extractor, when the query has exactly the shape it handles (else None)."""
    stages = [s for s in q.stages if not (isinstance(s, A.LineFilter) and s.op == "|=")]
    if len(stages) < 3 or not isinstance(stages[0], A.JsonStage) or not isinstance(stages[-1], A.Unwrap):
        return None
    ops: list[tuple[str, str, Any]] = []
    for s in stages[1:-1]:
        flat = _conjuncts(s.expr) if isinstance(s, A.LabelFilter) else None
        if flat is None:
            return None
        ops.extend(flat)
    unwrap = stages[-1].name
    names = [name for _k, name, _v in ops] + [unwrap] + [b for b in by if b not in _FILE_LABELS]
    if any(n in base or n.startswith("__") for n in names):
        return None
    if not any(kind == "eq" and value for kind, _n, value in ops):
        return None
    steps = [(kind, name, value if kind == "eq" else (_CMPS[value[0]], value[1])) for kind, name, value in ops]
    return _extractor(steps, unwrap, by, base)


def _extractor(steps: list[tuple[str, str, Any]], unwrap: str, by: tuple[str, ...],
               base: frozenset[str]) -> Extractor:
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    single = by[0] if len(by) == 1 and by[0] not in _FILE_LABELS else None
    eqs = [(name, arg) for kind, name, arg in steps if kind == "eq"]
    nums = [(name, arg) for kind, name, arg in steps if kind == "num"]

    def extract(line: tuple[LogFile, int, bytes]) -> tuple[int, tuple, float] | None:
        f, ts, raw = line
        try:
            obj = loads(raw)
        except decode_error:
            return None  # no labels: the required name="x" filter drops it
        if type(obj) is not dict:
            return None
        if raw.find(b"{", 1) != -1:  # maybe nested: flatten as `| json` does (later keys win on clashes)
            flat: dict[str, Any] = {}
            flatten(obj, "", base, flat)
            obj = flat
        for name, want in eqs:  # string equalities filter whatever else happens, so they go first
            v = obj.get(name)
            if type(v) is not str:
                if v is None or type(v) is dict or type(v) is list:
                    v = nested_get(obj, name, base)
                v = "" if v is None else as_text(v)
            if v != want:
                return None
        error = _numeric(obj, nums, base) if nums else ""
        if error is None:
            return None
        value = obj.get(unwrap)
        if value is None or type(value) is dict or type(value) is list:
            value = nested_get(obj, unwrap, base)
        if value is None or value == "":
            return None
        if type(value) is not int and type(value) is not float:
            try:
                value = float(as_text(value))
            except ValueError:
                error = "SampleExtractionErr"  # replaces a filter error, as the unwrap stage does
        if error:
            raise LogQLError(f"pipeline error: {error!r} on line {raw[:200]!r}; add a label filter such as "
                             "| __error__=\"\" to skip lines that fail (as Loki requires)")
        if single is not None:
            x = obj.get(single)
            if x is None or type(x) is dict or type(x) is list:
                x = nested_get(obj, single, base)
            return ts, ("" if x is None else x if type(x) is str else as_text(x),), float(value)
        return ts, _group_key(obj, by, f.labels, base), float(value)

    return extract


def _numeric(obj: dict, nums: list[tuple[str, Any]], base: frozenset[str]) -> str | None:
    """The numeric filters, in order: None drops the line; else "" (kept) or the Loki error it carries."""
    error = ""
    for name, (cmp, value) in nums:
        if error:
            break  # Loki: after an error only string matchers filter
        v = obj.get(name)
        if v is None or type(v) is dict or type(v) is list:
            v = nested_get(obj, name, base)
        if v is None or v == "":
            return None
        if type(v) is not int and type(v) is not float:
            try:
                v = float(as_text(v))
            except ValueError:
                error = "LabelFilterErr"
                continue
        if not cmp(v, value):
            return None
    return error


def _group_key(obj: dict, by: tuple[str, ...], file_labels: dict[str, str], base: frozenset[str]) -> tuple:
    key = []
    for b in by:
        if b in _FILE_LABELS and b in file_labels:
            key.append(file_labels[b])
            continue
        x = obj.get(b)
        if x is None or type(x) is dict or type(x) is list:
            x = nested_get(obj, b, base)
        key.append("" if x is None else as_text(x))
    return tuple(key)


def _conjuncts(f: A.LabelFilterExpr) -> list[tuple[str, str, Any]] | None:
    """An and-only filter as [(eq|num, name, value)], in order; None for anything else."""
    if isinstance(f, A.AndFilter):
        left, right = _conjuncts(f.left), _conjuncts(f.right)
        return None if left is None or right is None else left + right
    if isinstance(f, A.StringFilter) and f.matcher.op == "=":
        return [("eq", f.matcher.name, f.matcher.value)]
    if isinstance(f, A.NumericFilter):
        return [("num", f.name, (f.op, f.value))]
    return None
