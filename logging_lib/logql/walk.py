"""Walks over a parsed query: its nesting depth, and the labels and events it reads."""

from __future__ import annotations

from logging_lib.logql import ast as A
from logging_lib.logql.cursor import MAX_DEPTH


def ast_depth(expr: A.Expr) -> int:
    """Nesting depth of a parsed query, counted without recursion (the input may be hostile)."""
    deepest = 0
    stack: list[tuple[object, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, (A.BinOp, A.AndFilter, A.OrFilter)):
            stack += [(node.left, depth + 1), (node.right, depth + 1)]
        elif isinstance(node, A.VectorAgg):
            stack.append((node.expr, depth + 1))
        elif isinstance(node, A.RangeAgg):
            stack.append((node.query, depth + 1))
        elif isinstance(node, A.LogQuery):
            stack += [(s.expr, depth + 1) for s in node.stages if isinstance(s, A.LabelFilter)]
        if depth > MAX_DEPTH:
            break
    return deepest


def query_info(expr: A.Expr) -> A.QueryInfo:
    """Every label a query reads and every event name it compares `message` with."""
    info = A.QueryInfo()

    def walk_filter(f: A.LabelFilterExpr) -> None:
        if isinstance(f, (A.AndFilter, A.OrFilter)):
            walk_filter(f.left)
            walk_filter(f.right)
        elif isinstance(f, A.NumericFilter):
            info.labels.add(f.name)
        else:
            info.labels.add(f.matcher.name)
            if f.matcher.name == "message" and f.matcher.op == "=":
                info.events.add(f.matcher.value)
            if f.matcher.name == "message" and f.matcher.op == "=~":
                info.events.update(v for v in f.matcher.value.split("|") if v)

    def walk(e: A.Expr) -> None:
        if isinstance(e, A.LogQuery):
            for m in e.matchers:
                info.labels.add(m.name)
            for s in e.stages:
                if isinstance(s, A.LabelFilter):
                    walk_filter(s.expr)
                elif isinstance(s, A.Unwrap):
                    info.labels.add(s.name)
                    info.unwrapped.add(s.name)
                elif isinstance(s, A.LineFormat):
                    info.labels.update(name for kind, name in s.parts if kind == "label")
        elif isinstance(e, A.RangeAgg):
            walk(e.query)
            if e.grouping:
                info.labels.update(e.grouping.labels)
        elif isinstance(e, A.VectorAgg):
            walk(e.expr)
            if e.grouping:
                info.labels.update(e.grouping.labels)
        elif isinstance(e, A.BinOp):
            walk(e.left)
            walk(e.right)

    walk(expr)
    return info
