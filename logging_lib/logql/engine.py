"""Evaluates parsed LogQL over local log files, streaming, with Loki's semantics.

Semantics we keep on purpose (so a query that works here works in Grafana, and vice versa):
- `| json` turns every scalar field into a label (numbers keep their text, null and arrays are
  skipped, nested objects are flattened with `_`); a field whose name is already a stream label
  becomes `<name>_extracted` (so `level` from the body is `level_extracted`).
- A numeric label filter drops lines missing the label, and marks lines whose value is not a number
  with `__error__="LabelFilterErr"`; a failed JSON parse sets `__error__="JSONParserErr"`.
- `unwrap x` drops samples where x is missing or empty, marks non-numbers with
  `__error__="SampleExtractionErr"`, and removes x from the series labels. A metric result that
  still carries `__error__` is an error, as in Loki: filter with `| __error__=""`.
- Without `by`, range aggregations keep every label, ids included (one series per request after
  `| json`); more than `max_series` series is an error, like Loki's `max_query_series`.
- Windows are left-open: a point at t covers (t - range, t]. An instant query is one point at
  `end`; a range query has points at start, start+step, ... <= end (Loki's query_range).
"""

from __future__ import annotations

import heapq
from array import array
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from logging_lib.logql import ast as A
from logging_lib.logql.parser import LogQLError, parse
from logging_lib.logql.source import STREAM_LABELS, LogFile, discover, overlaps, parse_ts

DEFAULT_MAX_SERIES = 500
MAX_INNER_SERIES = 100_000  # series one range aggregation may hold before an outer aggregation reduces them
_LOADS = orjson.loads
_JSONDecodeError = orjson.JSONDecodeError
_SAFE_LITERAL = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:- ")


# ---------------------------------------------------------------------------------------------
# results
@dataclass
class Series:
    labels: dict[str, str]
    points: list[tuple[int, float]]  # (epoch ms, value)


@dataclass
class MetricResult:
    series: list[Series]
    start_ms: int
    end_ms: int
    step_ms: int
    instant: bool
    kind: str = "metric"


@dataclass
class LogEntry:
    ts_ms: int
    labels: dict[str, str]
    line: str


@dataclass
class LogResult:
    entries: list[LogEntry]
    limit: int
    truncated: bool = False
    kind: str = "log"


@dataclass
class Window:
    """Where a query looks: points at start + k*step (k < n); each covers (t - range, t]."""

    start_ms: int
    end_ms: int
    step_ms: int
    n: int = field(init=False)

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise LogQLError("the query's end is before its start")
        if self.step_ms <= 0:
            raise LogQLError("step must be positive")
        self.n = (self.end_ms - self.start_ms) // self.step_ms + 1
        if self.n > 11_000:
            raise LogQLError(f"{self.n} points: more than Loki's 11000 per query; use a larger --step")

    def times(self) -> list[int]:
        return [self.start_ms + k * self.step_ms for k in range(self.n)]


# ---------------------------------------------------------------------------------------------
# label values: kept as parsed (str/int/float) and turned into text only when compared or output
def as_text(v: Any) -> str:
    t = type(v)
    if t is str:
        return v
    if t is bool:
        return "true" if v else "false"
    if t is float:
        return repr(v) if math.isfinite(v) else str(v)
    return str(v)


_sanitized: dict[str, str] = {}


def _sanitize(key: str) -> str:
    """A JSON key as a label name (Loki: anything but [A-Za-z0-9_] becomes '_')."""
    out = _sanitized.get(key)
    if out is None:
        out = "".join(c if (c.isascii() and (c.isalnum() or c == "_")) else "_" for c in key)
        out = "_" + out if out[:1].isdigit() else out
        if len(_sanitized) < 10_000:
            _sanitized[key] = out
    return out


def _flatten(obj: dict, prefix: str, base: frozenset[str], out: dict[str, Any]) -> None:
    for k, v in obj.items():
        name = prefix + _sanitize(k)
        if type(v) is dict:
            _flatten(v, name + "_", base, out)
            continue
        if v is None or type(v) is list:
            continue
        if name in base:
            name += "_extracted"
        if name in out and prefix:
            continue  # a flattened a_b never replaces a field already named a_b (first wins)
        out[name] = ("true" if v else "false") if type(v) is bool else v


# ---------------------------------------------------------------------------------------------
# the pipeline of one log query, compiled to closures over a small per-line state
class _Line:
    __slots__ = ("line", "labels", "ts", "key", "value")

    def __init__(self, line: bytes, labels: dict[str, Any], ts: int) -> None:
        self.line = line
        self.labels = labels
        self.ts = ts
        self.key: tuple = ()
        self.value = 0.0


def _compile_label_filter(f: A.LabelFilterExpr) -> Callable[[_Line], bool]:
    if isinstance(f, A.AndFilter):
        left, right = _compile_label_filter(f.left), _compile_label_filter(f.right)
        return lambda st: left(st) and right(st)
    if isinstance(f, A.OrFilter):
        left, right = _compile_label_filter(f.left), _compile_label_filter(f.right)
        return lambda st: left(st) or right(st)
    if isinstance(f, A.StringFilter):
        m = f.matcher
        name, value = m.name, m.value
        if m.op == "=":
            def eq(st: _Line) -> bool:
                v = st.labels.get(name)
                return (v if type(v) is str else "" if v is None else as_text(v)) == value
            return eq
        if m.op == "!=":
            def ne(st: _Line) -> bool:
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

    def numeric(st: _Line) -> bool:
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


def _and_literals(f: A.LabelFilterExpr) -> list[A.Matcher]:
    if isinstance(f, A.AndFilter):
        return _and_literals(f.left) + _and_literals(f.right)
    if isinstance(f, A.StringFilter) and f.matcher.op == "=":
        return [f.matcher]
    return []


@dataclass
class Pipeline:
    """A log query's stages, ready to run on raw lines."""

    selector: tuple[A.Matcher, ...]
    stages: list[Callable[[_Line], bool]]
    needles: list[bytes]  # byte strings every surviving line must contain
    wanted: frozenset[str] | None  # labels `| json` must extract (None: all)
    needs_level: bool
    level_matchers: list[A.Matcher]
    unwrap: str | None = None
    drop_unwrapped: bool = True
    # (raw line, file labels) -> (group key, value) | None: the fused form of
    # `| json | a="x" | b > 1 | unwrap c` grouped by (...), the shape of our dashboards and alerts
    fast: Callable[[bytes, dict[str, str]], tuple[tuple, float] | None] | None = None


def compile_pipeline(q: A.LogQuery, wanted: frozenset[str] | None, *, range_grouped: bool = False,
                     by: tuple[str, ...] | None = None) -> Pipeline:
    """`wanted`: the labels anything downstream reads (None: all of them, e.g. series identity)."""
    base = frozenset(STREAM_LABELS)
    stages: list[Callable[[_Line], bool]] = []
    needles: list[bytes] = []
    line_changed = False
    parsed = False
    unwrap_name: str | None = None
    referenced: set[str] = set()
    json_slots: list[int] = []

    for s in q.stages:
        if isinstance(s, A.LineFilter):
            needle = s.value.encode()
            if s.op == "|=":
                if not line_changed:
                    if needle:
                        needles.append(needle)
                    continue  # checked on the raw line before anything else (scan's needles)
                stages.append(lambda st, n=needle: n in st.line)
            elif s.op == "!=":
                stages.append(lambda st, n=needle: n not in st.line)
            elif s.op == "|~":
                stages.append(lambda st, r=s.regex: r.search(st.line) is not None)  # type: ignore[union-attr]
            else:
                stages.append(lambda st, r=s.regex: r.search(st.line) is None)  # type: ignore[union-attr]
        elif isinstance(s, A.JsonStage):
            parsed = True
            json_slots.append(len(stages))
            stages.append(_json_stage(base, None))  # replaced below once `wanted` is final
        elif isinstance(s, A.LineFormat):
            line_changed = True
            referenced.update(name for kind, name in s.parts if kind == "label")
            stages.append(_line_format_stage(s))
        elif isinstance(s, A.LabelFilter):
            referenced.update(_filter_labels(s.expr))
            if parsed and unwrap_name is None:
                for m in _and_literals(s.expr):
                    if m.name not in base and m.name != "__error__" and _literal_needle(m.value):
                        needles.append(m.value.encode())
            stages.append(_compile_label_filter(s.expr))
        elif isinstance(s, A.Unwrap):
            unwrap_name = s.name
            referenced.add(s.name)
            stages.append(_unwrap_stage(s.name))

    if wanted is not None:
        wanted = frozenset(wanted | referenced | {"__error__"})
    for i in json_slots:
        stages[i] = _json_stage(base, wanted)
    level_matchers = [m for m in q.matchers if m.name == "level"]
    needs_level = wanted is None or "level" in wanted or bool(level_matchers)
    needles = list(dict.fromkeys(needles))
    fast = _fast_extractor(q, base, by) if by is not None and not level_matchers else None
    return Pipeline(q.matchers, stages, needles, wanted, needs_level, level_matchers, unwrap_name,
                    not range_grouped, fast)


def _fast_extractor(q: A.LogQuery, base: frozenset[str], by: tuple[str, ...]) -> Any:
    """The fused extractor, when the query has exactly the shape it handles (else None).

    Same results as the staged pipeline: a line that is not JSON is dropped by the first
    `name="non-empty"` filter (required), numeric filters keep Loki's error rules, and the
    query fails when a kept sample carries an error.
    """
    stages = [s for s in q.stages if not (isinstance(s, A.LineFilter) and s.op == "|=")]
    if len(stages) < 3 or not isinstance(stages[0], A.JsonStage) or not isinstance(stages[-1], A.Unwrap):
        return None
    ops: list[tuple[str, str, Any]] = []
    for s in stages[1:-1]:
        if not isinstance(s, A.LabelFilter):
            return None
        flat = _conjuncts(s.expr)
        if flat is None:
            return None
        ops.extend(flat)
    unwrap = stages[-1].name  # type: ignore[union-attr]
    names = [name for _k, name, _v in ops] + [unwrap] + [b for b in by if b not in ("job", "service", "host",
                                                                                    "filename")]
    if any(n in base or n.startswith("__") for n in names):
        return None
    if not any(kind == "eq" and value for kind, _n, value in ops):
        return None
    cmps = {"==": lambda x, y: x == y, "!=": lambda x, y: x != y, ">": lambda x, y: x > y,
            ">=": lambda x, y: x >= y, "<": lambda x, y: x < y, "<=": lambda x, y: x <= y}
    steps = [(kind, name, value if kind == "eq" else (cmps[value[0]], value[1])) for kind, name, value in ops]
    from_file = [(i, b) for i, b in enumerate(by) if b in ("job", "service", "host", "filename")]
    loads, decode_error = _LOADS, _JSONDecodeError

    single = by[0] if len(by) == 1 and not from_file else None

    def extract(raw: bytes, file_labels: dict[str, str]) -> tuple[tuple, float] | None:
        try:
            obj = loads(raw)
        except decode_error:
            return None  # no labels: the required name="x" filter drops it
        if type(obj) is not dict:
            return None
        if raw.find(b"{", 1) != -1:  # maybe nested: flatten as `| json` does (later keys win on clashes)
            flat: dict[str, Any] = {}
            _flatten(obj, "", base, flat)
            obj = flat
        error = ""
        for kind, name, arg in steps:
            v = obj.get(name)
            if v is None or type(v) is dict or type(v) is list:
                v = _nested_get(obj, name, base)
            if kind == "eq":
                if (v if type(v) is str else "" if v is None else as_text(v)) != arg:
                    return None
                continue
            if error:
                continue
            if v is None or v == "":
                return None
            t = type(v)
            if t is not int and t is not float:
                try:
                    v = float(as_text(v))
                except ValueError:
                    error = "LabelFilterErr"
                    continue
            if not arg[0](v, arg[1]):
                return None
        v = obj.get(unwrap)
        if v is None or type(v) is dict or type(v) is list:
            v = _nested_get(obj, unwrap, base)
        if v is None or v == "":
            return None
        t = type(v)
        if t is int or t is float:
            value = float(v)
        else:
            try:
                value = float(as_text(v))
            except ValueError:
                value, error = 0.0, "SampleExtractionErr"
        if error:
            raise LogQLError(f"pipeline error: {error!r} on line {raw[:200]!r}; add a label filter such as "
                             "| __error__=\"\" to skip lines that fail (as Loki requires)")
        if single is not None:
            x = obj.get(single)
            if x is None or type(x) is dict or type(x) is list:
                x = _nested_get(obj, single, base)
            return ("" if x is None else x if type(x) is str else as_text(x),), value
        key = []
        for b in by:
            if b in file_labels and (b == "job" or b == "service" or b == "host" or b == "filename"):
                key.append(file_labels[b])
                continue
            x = obj.get(b)
            if x is None or type(x) is dict or type(x) is list:
                x = _nested_get(obj, b, base)
            key.append("" if x is None else as_text(x))
        return tuple(key), value

    return extract


def _nested_get(obj: dict, name: str, base: frozenset[str]) -> Any:
    """A label that is not a top-level scalar: maybe a flattened nested field (a_b), else None."""
    if not any(type(x) is dict for x in obj.values()):
        return None
    flat: dict[str, Any] = {}
    _flatten(obj, "", base, flat)
    return flat.get(name)


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


def _json_object(st: _Line) -> dict[str, Any] | None:
    """The line as a JSON object, or None with Loki's `__error__` label set."""
    try:
        obj = _LOADS(st.line)
    except _JSONDecodeError:
        obj = None
    if type(obj) is not dict:
        st.labels["__error__"] = "JSONParserErr"
        return None
    return obj


def _json_stage(base: frozenset[str], wanted: frozenset[str] | None) -> Callable[[_Line], bool]:
    if wanted is None:
        def parse_all(st: _Line) -> bool:
            obj = _json_object(st)
            if obj is not None:
                _flatten(obj, "", base, st.labels)
            return True
        return parse_all

    # only the wanted labels: (json key, label name); names ending in _extracted map back
    pairs = []
    for name in sorted(wanted):
        if name.endswith("_extracted") and name[:-10] in base:
            pairs.append((name[:-10], name))
        elif name not in base and name != "__error__":
            pairs.append((name, name))

    def parse_some(st: _Line) -> bool:
        obj = _json_object(st)
        if obj is None:
            return True
        labels = st.labels
        if st.line.find(b"{", 1) != -1:  # maybe nested: flatten exactly as the fused path does
            flat: dict[str, Any] = {}
            _flatten(obj, "", base, flat)
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


def _line_format_stage(s: A.LineFormat) -> Callable[[_Line], bool]:
    parts = s.parts

    def render(st: _Line) -> bool:
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


def _unwrap_stage(name: str) -> Callable[[_Line], bool]:
    def unwrap(st: _Line) -> bool:
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


# ---------------------------------------------------------------------------------------------
# reading files
def _selector_file_ok(f: LogFile, matchers: tuple[A.Matcher, ...]) -> bool:
    for m in matchers:
        if m.name == "level":
            continue
        if not m.matches(f.labels.get(m.name, "")):
            return False
    return True


_TS_PREFIX = b'{"timestamp":"'
_LEVEL_AT = b'"level":"'
_VLLM_LEVEL = re.compile(rb"^(DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def scan(files: list[LogFile], p: Pipeline, after_ms: int, until_ms: int) -> Iterator[_Line]:
    """Lines with after_ms < ts <= until_ms that pass the pipeline, as (possibly rewritten) states."""
    needle0 = p.needles[0] if p.needles else None
    more_needles = p.needles[1:]
    stages = p.stages
    st = _Line(b"", {}, 0)  # one state, reused: consumers copy what they keep before the next line
    level_matchers = p.level_matchers
    needs_level = p.needs_level
    for f in files:
        if not _selector_file_ok(f, p.selector) or not overlaps(f, after_ms, until_ms):
            continue
        base = f.labels
        is_vllm = base["job"] == "vllm"
        last_ts = f.created_ms if f.created_ms is not None else f.mtime_ms
        last_sec = b""
        sec_base = 0
        with open(f.path, "rb") as fh:
            for raw in fh:
                if needle0 is not None:
                    if needle0 not in raw:
                        continue
                    if more_needles:
                        skip = False
                        for n in more_needles:
                            if n not in raw:
                                skip = True
                                break
                        if skip:
                            continue
                if raw[-1:] == b"\n":
                    raw = raw[:-1]
                if not raw:
                    continue
                obj = None
                if raw.startswith(_TS_PREFIX) and raw[37:39] == b'Z"' and raw[33:34] == b".":
                    sec = raw[14:33]  # '2026-11-26T08:15:22': one calendar sum per second, not per line
                    if sec != last_sec:
                        t = parse_ts(sec + b".000Z")
                        if t is None:
                            t = last_ts
                        sec_base, last_sec = t, sec
                    try:
                        ts = sec_base + int(raw[34:37])
                    except ValueError:
                        ts = parse_ts(raw[14:38])
                else:
                    ts = None
                    try:
                        obj = _LOADS(raw)
                    except _JSONDecodeError:
                        obj = None
                    if type(obj) is dict and type(obj.get("timestamp")) is str:
                        ts = parse_ts(obj["timestamp"].encode())
                if ts is None:
                    ts = last_ts  # Alloy would stamp it at ingestion: about when it was written
                else:
                    last_ts = ts
                if ts <= after_ms or ts > until_ms:
                    continue
                labels = dict(base)
                if needs_level:
                    level = None
                    if raw[39:48] == _LEVEL_AT:
                        end = raw.find(b'"', 48)
                        level = raw[48:end].decode() if end > 0 else None
                    else:
                        if obj is None:
                            try:
                                obj = _LOADS(raw)
                            except _JSONDecodeError:
                                obj = None
                        if type(obj) is dict and type(obj.get("level")) is str:
                            level = obj["level"]
                        elif is_vllm:  # Alloy's stage.regex for vLLM's text log
                            m = _VLLM_LEVEL.match(raw)
                            level = m.group(1).decode() if m else None
                    if level:
                        labels["level"] = level
                    if level_matchers:
                        lv = level or ""
                        if not all(m.matches(lv) for m in level_matchers):
                            continue
                st.line = raw
                st.labels = labels
                st.ts = ts
                for stage in stages:
                    if not stage(st):
                        break
                else:
                    yield st


def scan_fast(files: list[LogFile], p: Pipeline, after_ms: int, until_ms: int,
              need_ts: bool = True) -> Iterator[tuple[int, tuple, float]]:
    """(ts, group key, value) per sample, through the fused extractor (same filters as scan).

    need_ts=False (an instant query that ignores sample times): a file created after `after_ms`
    and last written by `until_ms` holds only lines inside the window, so its lines' timestamps
    are not parsed (they are reported as until_ms).
    """
    fast = p.fast
    assert fast is not None  # callers check p.fast; a programming error otherwise
    needle0 = p.needles[0] if p.needles else None
    more_needles = p.needles[1:]
    for f in files:
        if not _selector_file_ok(f, p.selector) or not overlaps(f, after_ms, until_ms):
            continue
        base = f.labels
        last_ts = f.created_ms if f.created_ms is not None else f.mtime_ms
        last_sec = b""
        sec_base = 0
        if not need_ts and f.created_ms is not None and f.created_ms > after_ms and f.mtime_ms <= until_ms:
            with open(f.path, "rb") as fh:
                for raw in fh:
                    if needle0 is not None:
                        if needle0 not in raw:
                            continue
                        if more_needles and not all(n in raw for n in more_needles):
                            continue
                    sample = fast(raw, base)
                    if sample is not None:
                        yield until_ms, sample[0], sample[1]
            continue
        with open(f.path, "rb") as fh:
            for raw in fh:
                if needle0 is not None:
                    if needle0 not in raw:
                        continue
                    if more_needles and not all(n in raw for n in more_needles):
                        continue
                if raw[37:39] == b'Z"' and raw[33:34] == b"." and raw.startswith(_TS_PREFIX):
                    sec = raw[14:33]
                    if sec != last_sec:
                        t = parse_ts(sec + b".000Z")
                        sec_base, last_sec = (last_ts if t is None else t), sec
                    try:
                        ts = sec_base + int(raw[34:37])
                    except ValueError:
                        ts = last_ts
                else:
                    obj = None
                    try:
                        obj = _LOADS(raw)
                    except _JSONDecodeError:
                        pass
                    ts = None
                    if type(obj) is dict and type(obj.get("timestamp")) is str:
                        ts = parse_ts(obj["timestamp"].encode())
                    if ts is None:
                        ts = last_ts
                last_ts = ts
                if ts <= after_ms or ts > until_ms:
                    continue
                sample = fast(raw, base)
                if sample is not None:
                    yield ts, sample[0], sample[1]


# ---------------------------------------------------------------------------------------------
# metric evaluation: each node yields {series key: {point index: value}} plus the labels of each key
Vector = dict[tuple, dict[int, float]]


class Evaluator:
    def __init__(self, files: list[LogFile], window: Window, max_series: int = DEFAULT_MAX_SERIES,
                 fused: bool = True) -> None:
        self.fused = fused  # False: always the staged pipeline (tests compare the two)
        self.max_slots = MAX_INNER_SERIES * window.n
        self.files = files
        self.w = window
        self.max_series = max_series

    def eval(self, e: A.MetricExpr) -> Vector | float:
        if isinstance(e, A.Scalar):
            return e.value
        if isinstance(e, A.RangeAgg):
            return self.range_agg(e, e.grouping)
        if isinstance(e, A.VectorAgg):
            inner = e.expr
            g = e.grouping or A.Grouping(False, ())
            pushable = (not g.without and isinstance(inner, A.RangeAgg) and inner.grouping is None and (
                (e.op == "sum" and inner.fn in ("count_over_time", "rate", "sum_over_time", "bytes_over_time",
                                                  "bytes_rate"))
                or (e.op == "max" and inner.fn == "max_over_time")
                or (e.op == "min" and inner.fn == "min_over_time")))
            if pushable:  # same numbers, far fewer series: group the samples before aggregating
                return self.range_agg(inner, g)  # type: ignore[arg-type]
            vec = self.eval(inner)
            if not isinstance(vec, dict):
                raise LogQLError(f"{e.op}(...) needs a vector, got a scalar")
            return self.vector_agg(e.op, g, vec)
        if isinstance(e, A.BinOp):
            return self.binop(e, self.eval(e.left), self.eval(e.right))
        raise LogQLError(f"cannot evaluate {type(e).__name__} as a metric")

    # -- range aggregations -------------------------------------------------------------------
    def range_agg(self, e: A.RangeAgg, grouping: A.Grouping | None) -> Vector:
        w = self.w
        fn, r = e.fn, e.range_ms
        by = None if grouping is None or grouping.without else grouping.labels
        without = frozenset(grouping.labels) if grouping is not None and grouping.without else frozenset()
        wanted = frozenset(by) if by is not None else None
        p = compile_pipeline(e.query, wanted, range_grouped=by is not None, by=by if self.fused else None)
        unwrap = p.unwrap
        drop = {"__value__"}
        if unwrap and p.drop_unwrapped:
            drop.add(unwrap)
        drop |= without
        byte_count = fn in ("bytes_over_time", "bytes_rate")
        kind = {"rate": "sum" if unwrap else "count", "count_over_time": "count", "bytes_over_time": "sum",
                "bytes_rate": "sum", "sum_over_time": "sum", "avg_over_time": "avg", "max_over_time": "max",
                "min_over_time": "min", "first_over_time": "first", "last_over_time": "last",
                "quantile_over_time": "all"}[fn]
        acc: dict[tuple, Any] = {}
        start, step, n = w.start_ms, w.step_ms, w.n
        instant = n == 1
        update = _UPDATERS[kind]
        if by is not None and len(by) == 1:
            only = by[0]
            key_of: Callable[[dict], tuple] = lambda labels: (as_text(labels.get(only, "")),)
        elif by is not None:
            key_of = lambda labels: tuple(as_text(labels.get(name, "")) for name in by)
        else:
            key_of = lambda labels: tuple(sorted((k, as_text(x)) for k, x in labels.items()
                                                 if k not in drop and x != ""))
        if p.fast is not None:
            need_ts = not instant or kind in ("first", "last")
            for ts, key, v in scan_fast(self.files, p, start - r, w.end_ms, need_ts):
                if len(acc) > self.max_slots:
                    self._check_inner(acc, e)
                if instant:
                    update(acc, (key, 0), v, ts)
                    continue
                lo = max(0, -((start - ts) // step))
                hi = min(n - 1, -((start - ts - r) // step) - 1)
                for k in range(lo, hi + 1):
                    update(acc, (key, k), v, ts)
        for st in (() if p.fast is not None else scan(self.files, p, start - r, w.end_ms)):
            if len(acc) > self.max_slots:
                self._check_inner(acc, e)
            labels = st.labels
            if "__error__" in labels:  # Loki fails the query here, whatever aggregates it later
                shown = {k: as_text(x) for k, x in labels.items() if k != "__value__" and x != ""}
                raise LogQLError(f"pipeline error: {labels['__error__']!r} for series {_fmt_labels(shown)}; "
                                 "add a label filter such as | __error__=\"\" to skip lines that fail "
                                 "(as Loki requires)")
            if unwrap:
                v = labels["__value__"]
            else:
                v = float(len(st.line)) if byte_count else 1.0
            key = key_of(labels)
            if instant:
                update(acc, (key, 0), v, st.ts)
                continue
            ts = st.ts
            lo = max(0, -((start - ts) // step))  # ceil((ts - start) / step)
            hi = min(n - 1, -((start - ts - r) // step) - 1)  # last k with t_k < ts + r
            for k in range(lo, hi + 1):
                update(acc, (key, k), v, ts)
        self._check_inner(acc, e)
        out: Vector = {}
        secs = r / 1000.0
        for (key, k), a in acc.items():
            if fn == "rate" or fn == "bytes_rate":
                val = a / secs
            elif kind == "avg":
                val = a[0] / a[1]
            elif kind in ("first", "last"):
                val = a[1]
            elif kind == "all":
                val = quantile(e.param or 0.0, a)
            else:
                val = a
            full_key = key if by is None else tuple((name, x) for name, x in sorted(zip(by, key)) if x != "")
            out.setdefault(full_key, {})[k] = val
        return out

    def _check_inner(self, acc: dict, e: A.RangeAgg) -> None:
        """Memory stays bounded: a range aggregation may hold at most MAX_INNER_SERIES series."""
        if len(acc) <= self.max_slots:
            return
        n = len({key for key, _k in acc})
        if n > MAX_INNER_SERIES:
            raise LogQLError(f"{e.fn}(...) makes more than {MAX_INNER_SERIES} series (one per distinct label set; "
                             "after | json ids such as request_id are labels): group it with by (...)")
        self.max_slots = max(self.max_slots, 2 * len(acc))

    # -- vector aggregations and binary operators --------------------------------------------
    def vector_agg(self, op: str, g: A.Grouping, vec: Vector) -> Vector:
        names = frozenset(g.labels)
        groups: dict[tuple, dict[int, list[float]]] = {}
        for key, points in vec.items():
            if g.without:
                gk = tuple((k, v) for k, v in key if k not in names)
            else:
                gk = tuple((k, v) for k, v in key if k in names)
            slot = groups.setdefault(gk, {})
            for k, v in points.items():
                slot.setdefault(k, []).append(v)
        out: Vector = {}
        for gk, points in groups.items():
            res: dict[int, float] = {}
            for k, vals in points.items():
                if op == "sum":
                    res[k] = math.fsum(vals)
                elif op == "avg":
                    res[k] = math.fsum(vals) / len(vals)
                elif op == "max":
                    res[k] = max(vals)
                elif op == "min":
                    res[k] = min(vals)
                else:
                    res[k] = float(len(vals))
            out[gk] = res
        return out

    def binop(self, e: A.BinOp, left: Vector | float, right: Vector | float) -> Vector | float:
        op = e.op
        comparison = op in ("==", "!=", ">", ">=", "<", "<=")
        if not isinstance(left, dict) and not isinstance(right, dict):
            if comparison and not e.bool_modifier:
                raise LogQLError("comparisons between two scalars need 'bool'")
            return _apply(op, left, right)
        if isinstance(left, dict) and isinstance(right, dict):
            out: Vector = {}
            for key, lpts in left.items():
                rpts = right.get(key)
                if rpts is None:
                    continue
                res = {}
                for k, lv in lpts.items():
                    if k in rpts:
                        val = _apply(op, lv, rpts[k])
                        if comparison and not e.bool_modifier:
                            if val:
                                res[k] = lv
                        else:
                            res[k] = val
                if res:
                    out[key] = res
            return out
        vec, scalar, vec_left = (left, right, True) if isinstance(left, dict) else (right, left, False)
        out = {}
        for key, pts in vec.items():
            res = {}
            for k, v in pts.items():
                val = _apply(op, v, scalar) if vec_left else _apply(op, scalar, v)  # type: ignore[arg-type]
                if comparison and not e.bool_modifier:
                    if val:
                        res[k] = v
                else:
                    res[k] = val
            if res:
                out[key] = res
        return out


def _up_sum(acc: dict, slot: tuple, v: float, ts: int) -> None:
    acc[slot] = acc.get(slot, 0.0) + v


def _up_avg(acc: dict, slot: tuple, v: float, ts: int) -> None:
    cur = acc.get(slot)
    if cur is None:
        acc[slot] = [v, 1]
    else:
        cur[0] += v
        cur[1] += 1


def _up_max(acc: dict, slot: tuple, v: float, ts: int) -> None:
    cur = acc.get(slot)
    if cur is None or v > cur or math.isnan(cur):
        acc[slot] = v


def _up_min(acc: dict, slot: tuple, v: float, ts: int) -> None:
    cur = acc.get(slot)
    if cur is None or v < cur or math.isnan(cur):
        acc[slot] = v


def _up_first(acc: dict, slot: tuple, v: float, ts: int) -> None:
    cur = acc.get(slot)
    if cur is None or ts < cur[0]:
        acc[slot] = (ts, v)


def _up_last(acc: dict, slot: tuple, v: float, ts: int) -> None:
    cur = acc.get(slot)
    if cur is None or ts >= cur[0]:
        acc[slot] = (ts, v)


def _up_all(acc: dict, slot: tuple, v: float, ts: int) -> None:
    cur = acc.get(slot)
    if cur is None:
        acc[slot] = array("d", (v,))
    else:
        cur.append(v)


_UPDATERS = {"count": _up_sum, "sum": _up_sum, "avg": _up_avg, "max": _up_max, "min": _up_min, "first": _up_first,
             "last": _up_last, "all": _up_all}


def _apply(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
        return a / b
    if op == "%":
        return math.fmod(a, b) if b != 0 else math.nan
    if op == "^":
        return float(a ** b)
    return float({"==": a == b, "!=": a != b, ">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b}[op])


def quantile(q: float, values: list[float]) -> float:
    """Prometheus' (and Loki's) quantile: linear interpolation between closest ranks."""
    if not values:
        return math.nan
    vals = sorted(values)
    rank = q * (len(vals) - 1)
    lo = max(0, math.floor(rank))
    hi = min(len(vals) - 1, lo + 1)
    weight = rank - math.floor(rank)
    return vals[lo] * (1 - weight) + vals[hi] * weight


# ---------------------------------------------------------------------------------------------
def evaluate(
    query: str | A.Expr,
    log_dir: str | Path,
    *,
    end_ms: int,
    since_ms: int = 3_600_000,
    step_ms: int | None = None,
    limit: int = 1000,
    max_series: int = DEFAULT_MAX_SERIES,
    host: str | None = None,
) -> MetricResult | LogResult:
    """Run a query over `<log_dir>/<job>/*.log`.

    Log queries return the newest `limit` matching lines in (end - since, end], oldest first.
    Metric queries are an instant query at `end_ms` when `step_ms` is None, else a range query
    with points from end - since to end every `step_ms` (what Grafana panels and `--plot` use).
    """
    expr = parse(query) if isinstance(query, str) else query
    files = discover(Path(log_dir), host)
    if isinstance(expr, A.LogQuery):
        return _log_query(expr, files, end_ms - since_ms, end_ms, limit)
    if isinstance(expr, A.Scalar):
        raise LogQLError("a bare number is not a query")
    window = Window(end_ms, end_ms, 1) if step_ms is None else Window(end_ms - since_ms, end_ms, step_ms)
    ev = Evaluator(files, window, max_series)
    vec = ev.eval(expr)
    if not isinstance(vec, dict):
        raise LogQLError("the query evaluates to a scalar; query a metric")
    series: list[Series] = []
    times = window.times()
    for key in sorted(vec):
        labels = dict(key)
        series.append(Series(labels, [(times[k], v) for k, v in sorted(vec[key].items())]))
    if len(series) > max_series:
        raise LogQLError(f"maximum number of series ({max_series}) reached for a single query: {len(series)} "
                         "series. Aggregate with by (...) (ids such as request_id become labels after | json)")
    return MetricResult(series, window.start_ms, window.end_ms, window.step_ms, step_ms is None)


def _log_query(q: A.LogQuery, files: list[LogFile], after_ms: int, until_ms: int, limit: int) -> LogResult:
    p = compile_pipeline(q, None)
    heap: list[tuple[int, int, dict[str, Any], bytes]] = []
    seq = 0
    truncated = False
    for st in scan(files, p, after_ms, until_ms):
        seq += 1
        item = (st.ts, seq, st.labels, st.line)
        if len(heap) < limit:
            heapq.heappush(heap, item)
        else:
            truncated = True
            heapq.heappushpop(heap, item)
    entries = [LogEntry(ts, {k: as_text(v) for k, v in sorted(labels.items()) if v != ""},
                        line.decode("utf-8", "replace")) for ts, _s, labels, line in sorted(heap)]
    return LogResult(entries, limit, truncated)


def _fmt_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
