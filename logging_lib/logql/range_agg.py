"""Range aggregations (`count_over_time`, `rate`, `avg_over_time`, ...): samples into windows.

Samples come from the staged pipeline or the fused extractor as (ts, series key, value); each
lands in every point whose window (t - range, t] holds it, in one accumulator per (series key,
point index). Without `by`, every label but the unwrapped one is part of the series key (ids
included, as in Loki), so memory is bounded: at most MAX_INNER_SERIES series per aggregation.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator
from typing import Any

from logging_lib.logql import ast as A
from logging_lib.logql.errors import LogQLError
from logging_lib.logql.labels import as_text
from logging_lib.logql.pipeline import Pipeline, compile_pipeline
from logging_lib.logql.results import Window
from logging_lib.logql.scan import scan
from logging_lib.logql.source import LogFile

MAX_INNER_SERIES = 100_000  # series one range aggregation may hold before an outer aggregation reduces them
Vector = dict[tuple, dict[int, float]]  # series key -> {point index: value}
Sample = tuple[int, tuple, float]  # (ts, series key, value)

_KIND = {"rate": "count", "count_over_time": "count", "bytes_over_time": "sum", "bytes_rate": "sum",
         "sum_over_time": "sum", "avg_over_time": "avg", "max_over_time": "max", "min_over_time": "min",
         "first_over_time": "first", "last_over_time": "last", "quantile_over_time": "all"}


def range_agg(e: A.RangeAgg, grouping: A.Grouping | None, files: list[LogFile], w: Window,
              fused: bool = True) -> Vector:
    """`grouping`: the range aggregation's own by/without, or an outer sum/max/min's pushed down."""
    by = None if grouping is None or grouping.without else grouping.labels
    without = frozenset(grouping.labels) if grouping is not None and grouping.without else frozenset()
    p = compile_pipeline(e.query, frozenset(by) if by is not None else None, range_grouped=by is not None,
                         by=by if fused else None)
    kind = "sum" if e.fn == "rate" and p.unwrap else _KIND[e.fn]
    after, until = w.start_ms - e.range_ms, w.end_ms
    samples: Iterator[Sample]
    if p.fast is not None:
        samples = filter(None, map(p.fast, scan(files, p.selector, p.needles, after, until)))  # type: ignore[arg-type]
    else:
        samples = _staged_samples(p, files, after, until, _key_fn(by, p, without),
                                  e.fn in ("bytes_over_time", "bytes_rate"))
    acc = _accumulate(samples, w, e, _UPDATERS[kind])
    out: Vector = {}
    for (key, k), a in acc.items():
        full_key = key if by is None else tuple((name, x) for name, x in sorted(zip(by, key)) if x != "")
        out.setdefault(full_key, {})[k] = _final(e, kind, a)
    return out


def _key_fn(by: tuple[str, ...] | None, p: Pipeline, without: frozenset[str]) -> Callable[[dict], tuple]:
    """A line's series key from its labels: the `by` values, or every label that stays."""
    if by is not None and len(by) == 1:
        only = by[0]
        return lambda labels: (as_text(labels.get(only, "")),)
    if by is not None:
        return lambda labels: tuple(as_text(labels.get(name, "")) for name in by)
    drop = {"__value__"} | without | ({p.unwrap} if p.unwrap and p.drop_unwrapped else set())
    return lambda labels: tuple(sorted((k, as_text(x)) for k, x in labels.items() if k not in drop and x != ""))


def _staged_samples(p: Pipeline, files: list[LogFile], after_ms: int, until_ms: int,
                    key_of: Callable[[dict], tuple], byte_count: bool) -> Iterator[Sample]:
    unwrap = p.unwrap
    for st in p.lines(files, after_ms, until_ms):
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
        yield st.ts, key_of(labels), v


def _accumulate(samples: Iterator[Sample], w: Window, e: A.RangeAgg,
                update: Callable[[dict, tuple, float, int], None]) -> dict[tuple, Any]:
    """{(series key, point index): accumulator}; a sample at ts feeds every point t with t - range < ts <= t."""
    acc: dict[tuple, Any] = {}
    start, step, n, r = w.start_ms, w.step_ms, w.n, e.range_ms
    max_slots = MAX_INNER_SERIES * n
    if n == 1:  # an instant query (alerts, `mlops logs query`): one point, no window arithmetic
        for ts, key, v in samples:
            if len(acc) > max_slots:
                max_slots = _check_inner(acc, e, max_slots)
            update(acc, (key, 0), v, ts)
        samples = iter(())
    for ts, key, v in samples:
        if len(acc) > max_slots:
            max_slots = _check_inner(acc, e, max_slots)
        lo = max(0, -((start - ts) // step))  # ceil((ts - start) / step)
        hi = min(n - 1, -((start - ts - r) // step) - 1)  # last k with t_k < ts + r
        for k in range(lo, hi + 1):
            update(acc, (key, k), v, ts)
    _check_inner(acc, e, max_slots)
    return acc


def _check_inner(acc: dict, e: A.RangeAgg, max_slots: int) -> int:
    """Memory stays bounded: a range aggregation may hold at most MAX_INNER_SERIES series."""
    if len(acc) <= max_slots:
        return max_slots
    n = len({key for key, _k in acc})
    if n > MAX_INNER_SERIES:
        raise LogQLError(f"{e.fn}(...) makes more than {MAX_INNER_SERIES} series (one per distinct label set; "
                         "after | json ids such as request_id are labels): group it with by (...)")
    return max(max_slots, 2 * len(acc))


def _final(e: A.RangeAgg, kind: str, a: Any) -> float:
    if e.fn == "rate" or e.fn == "bytes_rate":
        return a / (e.range_ms / 1000.0)
    if kind == "avg":
        return a[0] / a[1]
    if kind in ("first", "last"):
        return a[1]
    if kind == "all":
        return quantile(e.param or 0.0, a)
    return a


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


def _fmt_labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


# accumulators: update(acc, (series key, point index), value, ts)
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
