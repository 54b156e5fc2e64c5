"""The stages of a log pipeline, each compiled to a closure over one reused per-line state.

A stage takes the line's state and returns False to drop the line. Semantics are Loki's:
- `| json` turns every scalar field into a label (see labels.py); a failed parse sets
  `__error__="JSONParserErr"`.
- A numeric label filter drops lines missing the label, and marks lines whose value is not a
  number with `__error__="LabelFilterErr"` (after an error only string matchers filter).
- `unwrap x` drops lines where x is missing or empty and marks non-numbers with
  `__error__="SampleExtractionErr"`; the sample is kept in the `__value__` label.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from logging_lib.logql import ast as A
from logging_lib.logql.labels import as_text, flatten

_LOADS = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError


class LineState:
    """One line on its way through the stages: its bytes (line_format rewrites them), labels and time."""

    __slots__ = ("line", "labels", "ts", "key", "value")

    def __init__(self, line: bytes, labels: dict[str, Any], ts: int) -> None:
        self.line = line
        self.labels = labels
        self.ts = ts
        self.key: tuple = ()
        self.value = 0.0


def label_filter_stage(f: A.LabelFilterExpr) -> Callable[[LineState], bool]:
    if isinstance(f, A.AndFilter):
        left, right = label_filter_stage(f.left), label_filter_stage(f.right)
        return lambda st: left(st) and right(st)
    if isinstance(f, A.OrFilter):
        left, right = label_filter_stage(f.left), label_filter_stage(f.right)
        return lambda st: left(st) or right(st)
    if isinstance(f, A.StringFilter):
        m = f.matcher
        name, value = m.name, m.value
        if m.op == "=":
            def eq(st: LineState) -> bool:
                v = st.labels.get(name)
                return (v if type(v) is str else "" if v is None else as_text(v)) == value
            return eq
        if m.op == "!=":
            def ne(st: LineState) -> bool:
                v = st.labels.get(name)
                return (v if type(v) is str else "" if v is None else as_text(v)) != value
            return ne
        matches = m.matches
        return lambda st: matches(as_text(st.labels.get(name, "")))
    name, op, value = f.name, f.op, f.value
    cmp: Callable[[float], bool] = {
        "==": lambda x: x == value, "!=": lambda x: x != value, ">": lambda x: x > value,
        ">=": lambda x: x >= value, "<": lambda x: x < value, "<=": lambda x: x <= value,
    }[op]

    def numeric(st: LineState) -> bool:
        labels = st.labels
        if "__error__" in labels:  # Loki: after an error only string matchers filter
            return True
        v = labels.get(name)
        if v is None or v == "":
            return False
        t = type(v)
        if t is not int and t is not float:
            try:
                v = float(v)
            except ValueError:
                labels["__error__"] = "LabelFilterErr"
                return True
        return cmp(v)
    return numeric



def json_object(st: LineState) -> dict[str, Any] | None:
    """The line as a JSON object, or None with Loki's `__error__` label set."""
    try:
        obj = _LOADS(st.line)
    except _JSONDecodeError:
        obj = None
    if type(obj) is not dict:
        st.labels["__error__"] = "JSONParserErr"
        return None
    return obj


def json_stage(base: frozenset[str], wanted: frozenset[str] | None) -> Callable[[LineState], bool]:
    if wanted is None:
        def parse_all(st: LineState) -> bool:
            obj = json_object(st)
            if obj is not None:
                flatten(obj, "", base, st.labels)
            return True
        return parse_all

    # only the wanted labels: (json key, label name); names ending in _extracted map back
    pairs = []
    for name in sorted(wanted):
        if name.endswith("_extracted") and name[:-10] in base:
            pairs.append((name[:-10], name))
        elif name not in base and name != "__error__":
            pairs.append((name, name))

    def parse_some(st: LineState) -> bool:
        obj = json_object(st)
        if obj is None:
            return True
        labels = st.labels
        if st.line.find(b"{", 1) != -1:  # maybe nested: flatten exactly as the fused path does
            flat: dict[str, Any] = {}
            flatten(obj, "", base, flat)
            for _key, name in pairs:
                if name in flat:
                    labels[name] = flat[name]
            return True
        for key, name in pairs:
            v = obj.get(key)
            if v is None:
                continue
            t = type(v)
            if t is dict or t is list:
                continue
            labels[name] = ("true" if v else "false") if t is bool else v
        return True
    return parse_some


def line_format_stage(s: A.LineFormat) -> Callable[[LineState], bool]:
    parts = s.parts

    def render(st: LineState) -> bool:
        out = []
        for kind, value in parts:
            if kind == "text":
                out.append(value)
            elif kind == "label":
                v = st.labels.get(value)
                out.append("" if v is None else as_text(v))
            elif kind == "line":
                out.append(st.line.decode("utf-8", "replace"))
            else:
                out.append(str(st.ts * 1_000_000))
        st.line = "".join(out).encode()
        return True
    return render


def unwrap_stage(name: str) -> Callable[[LineState], bool]:
    def unwrap(st: LineState) -> bool:
        labels = st.labels
        v = labels.get(name)
        if v is None or v == "":
            return False  # Loki drops lines without the unwrapped label
        t = type(v)
        if t is int or t is float:
            labels["__value__"] = float(v)
        else:
            try:
                labels["__value__"] = float(v)
            except ValueError:
                labels["__value__"] = 0.0
                labels["__error__"] = "SampleExtractionErr"
        return True
    return unwrap
