"""A recursive-descent parser for the LogQL subset `mlops logs query` evaluates.

Grammar (a subset of Loki's; anything else is an error that points at its position):

    query      := log_query | metric
    log_query  := selector stage*
    selector   := '{' name ('='|'!='|'=~'|'!~') string (',' ...)* '}'
    stage      := ('|=' | '!=' | '|~' | '!~') string           line filter
                | '|' 'json'                                   all fields -> labels
                | '|' 'line_format' string                     {{.name}}, {{__line__}}, {{__timestamp__}}
                | '|' 'unwrap' name                            only inside a range aggregation
                | '|' label_expr                               name op value, with and/or/','/parens
    metric     := range_fn '(' [number ','] log_query '[' duration ']' ')' [grouping]
                | vec_op [grouping] '(' metric ')' [grouping]
                | metric binop metric | number | '(' metric ')'
    range_fn   := rate count_over_time bytes_over_time bytes_rate sum_over_time avg_over_time
                  max_over_time min_over_time first_over_time last_over_time quantile_over_time
    vec_op     := sum avg max min count
    binop      := ^ * / % + - == != > >= < <=  ([bool] after a comparison)

Queries are untrusted input (`mlops logs query`, rule files): nesting (parentheses, aggregations,
operator chains, label filter groups) is limited to MAX_DEPTH levels, and a line_format template
must be one Loki's Go template parser accepts, so any input ends in an AST or a LogQLError.

The parser is three layers: lexer.py (tokens), cursor.py (moving over them, nesting limits),
log_parser.py (`{selector} stage*`); this module adds the metric grammar on top.
"""

from __future__ import annotations

from logging_lib.logql import ast as A
from logging_lib.logql.cursor import KNOWN_UNSUPPORTED, MAX_DEPTH, too_deep
from logging_lib.logql.errors import LogQLError
from logging_lib.logql.lexer import parse_duration
from logging_lib.logql.log_parser import LogQueryParser
from logging_lib.logql.walk import ast_depth, query_info

__all__ = ["KNOWN_UNSUPPORTED", "MAX_DEPTH", "LogQLError", "Parser", "parse", "parse_duration", "query_info"]

RANGE_FNS = {
    "rate", "count_over_time", "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time",
    "max_over_time", "min_over_time", "first_over_time", "last_over_time", "quantile_over_time",
}
UNWRAP_FNS = RANGE_FNS - {"count_over_time", "bytes_over_time", "bytes_rate"}  # rate works both ways
NEEDS_UNWRAP = UNWRAP_FNS - {"rate"}
VECTOR_OPS = {"sum", "avg", "max", "min", "count"}


class Parser(LogQueryParser):
    """The metric grammar on top of the log-query grammar: aggregations, binary operators, scalars."""

    def parse(self) -> A.Expr:
        expr = self.parse_expr(0)
        if self.tok.kind != "eof":
            if self.tok.kind == "ident" and self.tok.text in KNOWN_UNSUPPORTED:
                raise self.unsupported(self.tok)
            raise self.error(f"unexpected {self.tok.text!r}")
        if ast_depth(expr) > MAX_DEPTH:  # long operator chains nest without recursing while parsing
            raise LogQLError(too_deep(), self.query, 0)
        return expr

    _PREC = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, ">": 3, ">=": 3, "<": 3, "<=": 3,
             "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "^": 6}

    def parse_expr(self, min_prec: int) -> A.Expr:
        left = self.parse_unary()
        while True:
            t = self.tok
            op = t.text if t.kind in ("op", "ident") else ""
            prec = self._PREC.get(op)
            if prec is None or prec < min_prec or (t.kind == "ident" and op not in ("and", "or", "unless")):
                return left
            if op in ("and", "or", "unless"):
                raise self.unsupported(t)
            self.advance()
            bool_mod = False
            if self.tok.kind == "ident" and self.tok.text == "bool":
                if op not in ("==", "!=", ">", ">=", "<", "<="):
                    raise self.error("'bool' only follows a comparison operator")
                bool_mod = True
                self.advance()
            if self.tok.kind == "ident" and self.tok.text in ("on", "ignoring"):
                raise self.unsupported(self.tok)
            right = self.nested(self.parse_expr, prec + 1 if op != "^" else prec)
            for side, node in (("left", left), ("right", right)):
                if isinstance(node, A.LogQuery):
                    raise LogQLError(f"the {side} side of {op!r} is a log query; binary operators need metric "
                                     "queries (wrap it in count_over_time(...[5m]) or similar)", self.query, t.pos)
            left = A.BinOp(op, left, right, bool_mod)  # type: ignore[arg-type]

    def parse_unary(self) -> A.Expr:
        t = self.tok
        if self.is_op("-") and self.peek().kind == "num":
            self.advance()
            return A.Scalar(-float(self.advance().value))  # type: ignore[arg-type]
        if t.kind == "num":
            self.advance()
            return A.Scalar(float(t.value))  # type: ignore[arg-type]
        if self.is_op("("):
            self.advance()
            inner = self.nested(self.parse_expr, 0)
            self.expect_op(")", "to close '('")
            return inner
        if self.is_op("{"):
            return self.parse_log_query(allow_range=False)[0]
        if t.kind == "ident":
            if t.text in RANGE_FNS:
                return self.parse_range_agg()
            if t.text in VECTOR_OPS:
                return self.parse_vector_agg()
            if t.text in KNOWN_UNSUPPORTED:
                raise self.unsupported(t)
            raise self.error(f"unknown function or keyword {t.text!r}")
        raise self.error(f"expected a query, got {t.text or 'end of query'!r}")

    def parse_grouping(self) -> A.Grouping | None:
        if not (self.tok.kind == "ident" and self.tok.text in ("by", "without")):
            return None
        without = self.advance().text == "without"
        self.expect_op("(", "after by/without")
        labels: list[str] = []
        while not self.is_op(")"):
            if self.tok.kind != "ident":
                raise self.error("expected a label name in the grouping")
            labels.append(self.advance().text)
            if self.is_op(","):
                self.advance()
            elif not self.is_op(")"):
                raise self.error("expected ',' or ')' in the grouping")
        self.advance()
        return A.Grouping(without, tuple(labels))

    def parse_range_agg(self) -> A.RangeAgg:
        fn_tok = self.advance()
        fn = fn_tok.text
        self.expect_op("(", f"after {fn}")
        param = None
        if fn == "quantile_over_time":
            if self.tok.kind != "num":
                raise self.error("quantile_over_time needs a quantile first, e.g. quantile_over_time(0.95, ...)")
            param = float(self.advance().value)  # type: ignore[arg-type]
            if not 0 <= param <= 1:
                raise self.error("the quantile must be between 0 and 1", self.toks[self.i - 1])
            self.expect_op(",", "after the quantile")
        wrapped = self.is_op("(")
        if wrapped:
            self.advance()
        query, range_ms = self.parse_log_query(allow_range=True)
        if wrapped:
            self.expect_op(")", "to close the log query")
            if range_ms is None and self.tok.kind == "dur":
                range_ms = int(self.advance().value)  # type: ignore[arg-type]
        if self.tok.kind == "ident" and self.tok.text == "offset":
            raise self.unsupported(self.tok)
        if range_ms is None:
            raise self.error(f"{fn} needs a [range], e.g. [5m], after the log query")
        self.expect_op(")", f"to close {fn}(")
        has_unwrap = any(isinstance(s, A.Unwrap) for s in query.stages)
        if fn in NEEDS_UNWRAP and not has_unwrap:
            raise LogQLError(f"{fn} needs '| unwrap <field>' (e.g. | json | unwrap latency_ms)", self.query,
                             fn_tok.pos)
        if fn not in UNWRAP_FNS and has_unwrap:
            raise LogQLError(f"{fn} counts lines and cannot take unwrap; use sum_over_time or avg_over_time",
                             self.query, fn_tok.pos)
        grouping = self.parse_grouping()
        if grouping is not None and fn in ("rate", "count_over_time", "bytes_over_time", "bytes_rate") \
                and not has_unwrap:
            raise LogQLError(f"{fn} takes no by/without; group with an outer aggregation, e.g. "
                             f"sum by (...) ({fn}(...))", self.query, fn_tok.pos)
        return A.RangeAgg(fn, query, range_ms, param, grouping)

    def parse_vector_agg(self) -> A.VectorAgg:
        op_tok = self.advance()
        grouping = self.parse_grouping()
        self.expect_op("(", f"after {op_tok.text}")
        if self.tok.kind == "num":
            raise self.error(f"{op_tok.text} takes no parameter")
        inner = self.nested(self.parse_expr, 0)
        if isinstance(inner, A.LogQuery):
            raise LogQLError(f"{op_tok.text}(...) aggregates a metric query, not log lines; e.g. "
                             f"{op_tok.text}(count_over_time(... [5m]))", self.query, op_tok.pos)
        self.expect_op(")", f"to close {op_tok.text}(")
        after = self.parse_grouping()
        if grouping and after:
            raise self.error("grouping given twice")
        return A.VectorAgg(op_tok.text, inner, grouping or after)  # type: ignore[arg-type]


def parse(query: str) -> A.Expr:
    """Parse a LogQL query; raises LogQLError (with the position) for anything unsupported."""
    if not query or not query.strip():
        raise LogQLError("empty query")
    return Parser(query).parse()
