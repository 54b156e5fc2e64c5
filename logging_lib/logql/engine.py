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

How a query flows (docs/architecture.md, "The LogQL engine", has the picture): `parse` (parser.py) gives an
AST (ast.py); `evaluate` below finds the files (source.py) and walks the AST with `Evaluator`:
range aggregations (range_agg.py) compile their log query into a Pipeline (pipeline.py, stages
in stages.py, or the fused extractor in fused.py) fed by the one file reader (scan.py); vector
aggregations and operators (vector.py) combine the results (results.py).
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

from logging_lib.logql import ast as A
from logging_lib.logql.errors import LogQLError
from logging_lib.logql.labels import as_text
from logging_lib.logql.parser import parse
from logging_lib.logql.pipeline import compile_pipeline
from logging_lib.logql.range_agg import Vector, quantile, range_agg
from logging_lib.logql.results import LogEntry, LogResult, MetricResult, Series, Window
from logging_lib.logql.source import LogFile, discover
from logging_lib.logql.vector import binop, vector_agg

__all__ = ["DEFAULT_MAX_SERIES", "Evaluator", "LogEntry", "LogResult", "MetricResult", "Series", "Window",
           "discover", "evaluate", "quantile"]

DEFAULT_MAX_SERIES = 500
# an outer aggregation that gives the same numbers when the range aggregation groups its samples first
_PUSHABLE = {"sum": ("count_over_time", "rate", "sum_over_time", "bytes_over_time", "bytes_rate"),
             "max": ("max_over_time",), "min": ("min_over_time",)}


class Evaluator:
    """Walks a metric AST over one set of files and one window; `fused=False` forces the staged
    pipeline (tests compare the two)."""

    def __init__(self, files: list[LogFile], window: Window, max_series: int = DEFAULT_MAX_SERIES,
                 fused: bool = True) -> None:
        self.fused = fused
        self.files = files
        self.w = window
        self.max_series = max_series

    def eval(self, e: A.MetricExpr) -> Vector | float:
        if isinstance(e, A.Scalar):
            return e.value
        if isinstance(e, A.RangeAgg):
            return range_agg(e, e.grouping, self.files, self.w, self.fused)
        if isinstance(e, A.VectorAgg):
            inner = e.expr
            g = e.grouping or A.Grouping(False, ())
            if not g.without and isinstance(inner, A.RangeAgg) and inner.grouping is None \
                    and inner.fn in _PUSHABLE.get(e.op, ()):  # same numbers, far fewer series
                return range_agg(inner, g, self.files, self.w, self.fused)
            vec = self.eval(inner)
            if not isinstance(vec, dict):
                raise LogQLError(f"{e.op}(...) needs a vector, got a scalar")
            return vector_agg(e.op, g, vec)
        if isinstance(e, A.BinOp):
            return binop(e, self.eval(e.left), self.eval(e.right))
        raise LogQLError(f"cannot evaluate {type(e).__name__} as a metric")


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
    for st in p.lines(files, after_ms, until_ms):
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

