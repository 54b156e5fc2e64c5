"""Vector aggregations (sum/avg/max/min/count by|without) and binary operators, with Prometheus' rules.

A vector is {series key: {point index: value}}; a series key is a sorted tuple of (label, value).
Vector-vector operators match series with identical label sets; a comparison without `bool`
filters (keeps the left value where true), with `bool` it yields 0/1.
"""

from __future__ import annotations

import math

from logging_lib.logql import ast as A
from logging_lib.logql.errors import LogQLError
from logging_lib.logql.range_agg import Vector

COMPARISONS = ("==", "!=", ">", ">=", "<", "<=")


def vector_agg(op: str, g: A.Grouping, vec: Vector) -> Vector:
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


def binop(e: A.BinOp, left: Vector | float, right: Vector | float) -> Vector | float:
    filtering = e.op in COMPARISONS and not e.bool_modifier  # keep the vector's value where true
    if not isinstance(left, dict) and not isinstance(right, dict):
        if filtering:
            raise LogQLError("comparisons between two scalars need 'bool'")
        return _apply(e.op, left, right)
    if isinstance(left, dict) and isinstance(right, dict):
        out: Vector = {}
        for key, lpts in left.items():
            rpts = right.get(key)
            if rpts is not None:
                res = _points(e.op, filtering, {k: (lv, rpts[k]) for k, lv in lpts.items() if k in rpts}, True)
                if res:
                    out[key] = res
        return out
    vec, scalar, vec_left = (left, right, True) if isinstance(left, dict) else (right, left, False)
    out = {}
    for key, pts in vec.items():  # type: ignore[union-attr]
        pairs = {k: (v, scalar) if vec_left else (scalar, v) for k, v in pts.items()}
        res = _points(e.op, filtering, pairs, vec_left)  # type: ignore[arg-type]
        if res:
            out[key] = res
    return out


def _points(op: str, filtering: bool, pairs: dict[int, tuple[float, float]], vec_left: bool) -> dict[int, float]:
    """op over each point's (left, right); a filtering comparison keeps the vector side's value."""
    res: dict[int, float] = {}
    for k, (a, b) in pairs.items():
        val = _apply(op, a, b)
        if not filtering:
            res[k] = val
        elif val:
            res[k] = a if vec_left else b
    return res


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
