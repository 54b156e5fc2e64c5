"""A log query compiled for running: its stages, the needles that prefilter raw lines, and the run.

`compile_pipeline` turns the parsed stages into closures (stages.py), collects byte strings
every surviving line must contain (checked by scan before any parse), narrows `| json` to the
labels anything downstream reads, and, for the shape our dashboards and alerts use, also
builds the fused extractor (fused.py). `Pipeline.lines` runs the stages over `scan`'s lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from logging_lib.logql import ast as A
from logging_lib.logql.fused import Extractor, fused_extractor
from logging_lib.logql.scan import line_level, scan
from logging_lib.logql.source import STREAM_LABELS, LogFile
from logging_lib.logql.stages import (LineState, json_stage, label_filter_stage, line_format_stage,
                                      unwrap_stage)

Stage = Callable[[LineState], bool]
_SAFE_LITERAL = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:- ")


@dataclass
class Pipeline:
    """A log query's stages, ready to run on raw lines."""

    selector: tuple[A.Matcher, ...]
    stages: list[Stage]
    needles: list[bytes]  # byte strings every surviving line must contain
    wanted: frozenset[str] | None  # labels `| json` must extract (None: all)
    needs_level: bool
    level_matchers: list[A.Matcher]
    unwrap: str | None = None
    drop_unwrapped: bool = True
    fast: Extractor | None = None  # the fused form of the stages, when the query has its shape

    def lines(self, files: list[LogFile], after_ms: int, until_ms: int) -> Iterator[LineState]:
        """Lines with after_ms < ts <= until_ms that pass every stage, as (possibly rewritten) states.

        One state is reused: consumers copy what they keep before asking for the next line."""
        st = LineState(b"", {}, 0)
        stages, level_matchers, needs_level = self.stages, self.level_matchers, self.needs_level
        for f, ts, raw in scan(files, self.selector, self.needles, after_ms, until_ms):
            if raw[-1:] == b"\n":
                raw = raw[:-1]
            if not raw:
                continue
            labels = dict(f.labels)
            if needs_level:
                level = line_level(raw, f.labels["job"] == "vllm")
                if level:
                    labels["level"] = level
                if level_matchers and not all(m.matches(level or "") for m in level_matchers):
                    continue
            st.line, st.labels, st.ts = raw, labels, ts
            for stage in stages:
                if not stage(st):
                    break
            else:
                yield st


def compile_pipeline(q: A.LogQuery, wanted: frozenset[str] | None, *, range_grouped: bool = False,
                     by: tuple[str, ...] | None = None) -> Pipeline:
    """`wanted`: the labels anything downstream reads (None: all of them, e.g. series identity).

    `by`: the grouping of a range aggregation, given when the fused extractor may be built."""
    base = frozenset(STREAM_LABELS)
    stages: list[Stage] = []
    needles: list[bytes] = []
    line_changed = parsed = False
    unwrap_name: str | None = None
    referenced: set[str] = set()
    json_slots: list[int] = []
    for s in q.stages:
        if isinstance(s, A.LineFilter):
            if s.op == "|=" and not line_changed:
                needles.append(s.value.encode())  # checked on the raw line before anything else
            else:
                stages.append(_line_filter_stage(s))
        elif isinstance(s, A.JsonStage):
            parsed = True
            json_slots.append(len(stages))
            stages.append(json_stage(base, None))  # replaced below once `wanted` is final
        elif isinstance(s, A.LineFormat):
            line_changed = True
            referenced.update(name for kind, name in s.parts if kind == "label")
            stages.append(line_format_stage(s))
        elif isinstance(s, A.LabelFilter):
            referenced.update(_filter_labels(s.expr))
            if parsed and unwrap_name is None:
                needles += [m.value.encode() for m in _and_literals(s.expr)
                            if m.name not in base and m.name != "__error__" and _literal_needle(m.value)]
            stages.append(label_filter_stage(s.expr))
        elif isinstance(s, A.Unwrap):
            unwrap_name = s.name
            referenced.add(s.name)
            stages.append(unwrap_stage(s.name))
    if wanted is not None:
        wanted = frozenset(wanted | referenced | {"__error__"})
    for i in json_slots:
        stages[i] = json_stage(base, wanted)
    level_matchers = [m for m in q.matchers if m.name == "level"]
    needs_level = wanted is None or "level" in wanted or bool(level_matchers)
    needles = [n for n in dict.fromkeys(needles) if n]
    fast = fused_extractor(q, base, by) if by is not None and not level_matchers else None
    return Pipeline(q.matchers, stages, needles, wanted, needs_level, level_matchers, unwrap_name,
                    not range_grouped, fast)


def _line_filter_stage(s: A.LineFilter) -> Stage:
    needle = s.value.encode()
    if s.op == "|=":
        return lambda st: needle in st.line
    if s.op == "!=":
        return lambda st: needle not in st.line
    regex: Any = s.regex
    if s.op == "|~":
        return lambda st: regex.search(st.line) is not None
    return lambda st: regex.search(st.line) is None


def _and_literals(f: A.LabelFilterExpr) -> list[A.Matcher]:
    if isinstance(f, A.AndFilter):
        return _and_literals(f.left) + _and_literals(f.right)
    if isinstance(f, A.StringFilter) and f.matcher.op == "=":
        return [f.matcher]
    return []


def _literal_needle(value: str) -> bool:
    """Whether a JSON string value equal to `value` must appear verbatim in the raw line.

    Only plain words: no characters JSON may escape, and not number-like (a number's label text
    can differ from how the file spells it)."""
    if not value or not all(b in _SAFE_LITERAL for b in value.encode()):
        return False
    try:
        float(value)
    except ValueError:
        return any(c.isalpha() for c in value)
    return False


def _filter_labels(f: A.LabelFilterExpr) -> set[str]:
    if isinstance(f, (A.AndFilter, A.OrFilter)):
        return _filter_labels(f.left) | _filter_labels(f.right)
    return {f.name} if isinstance(f, A.NumericFilter) else {f.matcher.name}
