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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logging_lib.errors import PipelineError
from logging_lib.logql import ast as A


_SHOWN = 120  # characters of the query quoted in an error


class LogQLError(PipelineError):
    """A query we cannot evaluate faithfully; the message shows where."""

    def __init__(self, message: str, query: str = "", pos: int | None = None) -> None:
        self.reason = message
        self.query = query
        self.pos = pos
        if query and pos is not None:
            pos = min(max(pos, 0), len(query))
            flat = query.replace("\n", " ")
            start = max(0, min(pos - _SHOWN // 2, len(flat) - _SHOWN))  # a window around pos, not a 50 KB echo
            shown = ("..." if start else "") + flat[start:start + _SHOWN] + ("..." if start + _SHOWN < len(flat) else "")
            caret = pos - start + (3 if start else 0)
            message = f"{message} at position {pos}:\n  {shown}\n  {' ' * caret}^"
        super().__init__(message)


RANGE_FNS = {
    "rate", "count_over_time", "bytes_over_time", "bytes_rate", "sum_over_time", "avg_over_time",
    "max_over_time", "min_over_time", "first_over_time", "last_over_time", "quantile_over_time",
}
UNWRAP_FNS = RANGE_FNS - {"count_over_time", "bytes_over_time", "bytes_rate"}  # rate works both ways
NEEDS_UNWRAP = UNWRAP_FNS - {"rate"}
VECTOR_OPS = {"sum", "avg", "max", "min", "count"}
KNOWN_UNSUPPORTED = {
    "topk", "bottomk", "stddev", "stdvar", "sort", "sort_desc", "stddev_over_time", "stdvar_over_time",
    "absent_over_time", "rate_counter", "label_replace", "vector", "logfmt", "regexp", "pattern", "unpack",
    "label_format", "drop", "keep", "decolorize", "offset", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "ip", "duration", "bytes", "duration_seconds", "approx_topk",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
                "y": 365 * 86_400_000}
_DURATION_LIT = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+")
_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
MAX_DEPTH = 64  # nesting levels; real dashboards use < 10, and evaluation recurses once per level
_TEMPLATE_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")


def parse_duration(text: str) -> int:
    """'5m', '1h30m', '500ms' -> milliseconds (raises ValueError on anything else)."""
    pos, total = 0, 0
    for m in _DURATION.finditer(text):
        if m.start() != pos or len(m.group(1)) > 15:  # more digits than any real range: not a duration
            raise ValueError(text)
        total += int(float(m.group(1)) * _DURATION_MS[m.group(2)])
        pos = m.end()
    if pos != len(text) or not text or total <= 0:
        raise ValueError(text)
    return total


@dataclass
class Tok:
    kind: str  # str, num, ident, op, dur, eof
    text: str
    pos: int
    value: object = None


_OPS = ["|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",", "|", "=", ">", "<",
        "+", "-", "*", "/", "%", "^"]
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


def tokenize(query: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
            continue
        if c == "#":  # comment to end of line
            while i < n and query[i] != "\n":
                i += 1
            continue
        if c == '"':
            start, i, out = i, i + 1, []
            while i < n and query[i] != '"':
                if query[i] == "\\":
                    if i + 1 >= n:
                        break
                    esc = query[i + 1]
                    if esc not in _ESCAPES:
                        # Go keeps "\d" etc. invalid in interpreted strings; regexes need "\\d" or `\d`
                        raise LogQLError(f"invalid escape \\{esc} in a double-quoted string (write \\\\{esc} "
                                         f"or use a `backtick` string)", query, i)
                    out.append(_ESCAPES[esc])
                    i += 2
                    continue
                out.append(query[i])
                i += 1
            if i >= n:
                raise LogQLError("unterminated string", query, start)
            toks.append(Tok("str", query[start:i + 1], start, "".join(out)))
            i += 1
            continue
        if c == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise LogQLError("unterminated `raw string`", query, i)
            toks.append(Tok("str", query[i:end + 1], i, query[i + 1:end]))
            i = end + 1
            continue
        if c == "[":  # a range: read the duration verbatim
            end = query.find("]", i)
            if end < 0:
                raise LogQLError("unclosed '['", query, i)
            text = query[i + 1:end].strip()
            try:
                ms = parse_duration(text)
            except ValueError:
                raise LogQLError(f"invalid range [{text}]: use a duration such as [5m], [30s] or [1h]; "
                                 f"Grafana variables like $__interval must be substituted first", query, i) from None
            toks.append(Tok("dur", query[i:end + 1], i, ms))
            i = end + 1
            continue
        m = _NUMBER.match(query, i)
        if m and (c.isdigit() or c == "."):
            j = m.end()
            d = _DURATION_LIT.match(query, i)
            if d and not (d.end() < n and (query[d.end()].isalnum() or query[d.end()] == "_")):
                toks.append(Tok("durlit", d.group(0), i))
                i = d.end()
                continue
            if j < n and (query[j].isalpha() or query[j] == "_"):
                raise LogQLError("durations and byte sizes are not supported as values here", query, i)
            toks.append(Tok("num", m.group(0), i, float(m.group(0))))
            i = j
            continue
        m = _IDENT.match(query, i)
        if m:
            toks.append(Tok("ident", m.group(0), i))
            i = m.end()
            continue
        for op in _OPS:
            if query.startswith(op, i):
                toks.append(Tok("op", op, i))
                i += len(op)
                break
        else:
            raise LogQLError(f"unexpected character {c!r}", query, i)
    toks.append(Tok("eof", "", n))
    return toks


class Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = tokenize(query)
        self.i = 0
        self.depth = 0

    # -- helpers -----------------------------------------------------------------------------
    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def peek(self, k: int = 1) -> Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def error(self, message: str, tok: Tok | None = None) -> LogQLError:
        return LogQLError(message, self.query, (tok or self.tok).pos)

    def advance(self) -> Tok:
        t = self.tok
        self.i += 1
        return t

    def is_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect_op(self, op: str, what: str = "") -> Tok:
        if not self.is_op(op):
            got = self.tok.text or "end of query"
            raise self.error(f"expected {op!r}{' ' + what if what else ''}, got {got!r}")
        return self.advance()

    def expect_string(self, what: str) -> str:
        if self.tok.kind != "str":
            raise self.error(f"expected a quoted string for {what}, got {self.tok.text or 'end of query'!r}")
        return str(self.advance().value)

    def nested(self, parse, *args):
        """Call a parse method one nesting level deeper, refusing to go past MAX_DEPTH."""
        if self.depth >= MAX_DEPTH:
            raise self.error(too_deep())
        self.depth += 1
        try:
            return parse(*args)
        finally:
            self.depth -= 1

    def unsupported(self, tok: Tok) -> LogQLError:
        return self.error(f"{tok.text!r} is valid LogQL but not supported by this evaluator "
                          "(see docs/observability.md for the supported subset)", tok)

    # -- entry -------------------------------------------------------------------------------
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

    # -- log queries -------------------------------------------------------------------------
    def parse_selector(self) -> tuple[A.Matcher, ...]:
        open_tok = self.expect_op("{", "to start a stream selector")
        matchers: list[A.Matcher] = []
        while not self.is_op("}"):
            matchers.append(self.parse_matcher("stream selector"))
            if self.is_op(","):
                self.advance()
            elif not self.is_op("}"):
                raise self.error("expected ',' or '}' in the stream selector")
        self.advance()
        if not matchers:
            raise LogQLError("a stream selector needs at least one matcher, e.g. {job=\"inference\"}",
                             self.query, open_tok.pos)
        if all(m.matches("") for m in matchers):
            raise LogQLError("queries require at least one matcher that does not match the empty string "
                             "(Loki rejects this selector too), e.g. job=\"inference\"", self.query, open_tok.pos)
        return tuple(matchers)

    def parse_matcher(self, where: str) -> A.Matcher:
        if self.tok.kind != "ident":
            raise self.error(f"expected a label name in the {where}")
        name_tok = self.advance()
        if not self.is_op("=", "!=", "=~", "!~"):
            raise self.error(f"expected =, !=, =~ or !~ after {name_tok.text!r}")
        op = self.advance().text
        value_tok = self.tok
        value = self.expect_string(f"the value of {name_tok.text!r}")
        return A.Matcher(name_tok.text, op, value, self.matcher_regex(op, value, value_tok))

    def matcher_regex(self, op: str, value: str, value_tok) -> re.Pattern[str] | None:
        """The compiled pattern of a regex matcher (=~, !~); None for = and !=."""
        if op not in ("=~", "!~"):
            return None
        try:
            return re.compile(value)
        except (re.error, RecursionError, OverflowError) as exc:
            raise self.error(f"invalid regular expression: {exc}", value_tok) from None

    def parse_log_query(self, allow_range: bool) -> tuple[A.LogQuery, int | None]:
        matchers = self.parse_selector()
        stages: list[A.Stage] = []
        range_ms: int | None = None
        unwrapped = False
        while True:
            t = self.tok
            if t.kind == "dur":
                if not allow_range:
                    raise self.error("a [range] belongs inside a range aggregation such as count_over_time(...)")
                if range_ms is not None:
                    raise self.error("a second [range]")
                range_ms = int(t.value)  # type: ignore[arg-type]
                self.advance()
                continue
            if self.is_op("|=", "!=", "|~", "!~"):
                if unwrapped:
                    raise self.error("line filters cannot follow unwrap")
                op = self.advance().text
                value_tok = self.tok
                value = self.expect_string("the line filter")
                if self.tok.kind == "ident" and self.tok.text == "or":
                    raise self.unsupported(self.tok)
                regex = None
                if op in ("|~", "!~"):
                    try:
                        regex = re.compile(value.encode())
                    except (re.error, RecursionError, OverflowError) as exc:
                        raise self.error(f"invalid regular expression: {exc}", value_tok) from None
                stages.append(A.LineFilter(op, value, regex))
                continue
            if self.is_op("|"):
                self.advance()
                t = self.tok
                if t.kind == "ident" and t.text == "json":
                    if unwrapped:
                        raise self.error("a parser cannot follow unwrap")
                    self.advance()
                    if self.tok.kind == "ident" and self.peek().kind == "op" and self.peek().text == "=":
                        raise self.error("json with parameters (| json a=\"b\") is not supported; "
                                         "use plain | json")
                    stages.append(A.JsonStage())
                    continue
                if t.kind == "ident" and t.text == "line_format":
                    self.advance()
                    tpl_tok = self.tok
                    tpl = self.expect_string("line_format")
                    stages.append(A.LineFormat(tpl, self._template_parts(tpl, tpl_tok)))
                    continue
                if t.kind == "ident" and t.text == "unwrap":
                    if not allow_range:
                        raise self.error("unwrap is only valid inside a range aggregation, e.g. "
                                         "avg_over_time({job=\"inference\"} | json | unwrap latency_ms [5m])")
                    if unwrapped:
                        raise self.error("a second unwrap")
                    self.advance()
                    if self.tok.kind != "ident":
                        raise self.error("expected a label name after unwrap")
                    if self.peek().kind == "op" and self.peek().text == "(":
                        raise self.unsupported(self.tok)
                    stages.append(A.Unwrap(self.advance().text))
                    unwrapped = True
                    continue
                if t.kind == "ident" and t.text in KNOWN_UNSUPPORTED and not (
                        self.peek().kind == "op" and self.peek().text in ("=", "!=", "=~", "!~", "==", ">", ">=",
                                                                           "<", "<=")):
                    raise self.unsupported(t)
                stages.append(A.LabelFilter(self.parse_label_or()))
                continue
            break
        return A.LogQuery(matchers, tuple(stages)), range_ms

    def _template_parts(self, tpl: str, tok: Tok) -> tuple[tuple[str, str], ...]:
        parts: list[tuple[str, str]] = []
        pos = 0
        for m in _TEMPLATE.finditer(tpl):
            if m.start() > pos:
                parts.append(("text", tpl[pos:m.start()]))
            action = m.group(1)
            if action == "__line__":
                parts.append(("line", ""))
            elif action == "__timestamp__":
                parts.append(("ts", ""))
            else:
                f = _TEMPLATE_FIELD.fullmatch(action)
                if not f:
                    raise LogQLError(f"line_format action {{{{{action}}}}} is not supported; only "
                                     "{{.label}}, {{__line__}} and {{__timestamp__}}", self.query, tok.pos)
                parts.append(("label", f.group(1)))
            pos = m.end()
        if pos < len(tpl):
            parts.append(("text", tpl[pos:]))
        for kind, text in parts:
            if kind == "text" and "{{" in text:
                raise LogQLError("line_format template has an unclosed action: '{{' without '}}' (Loki rejects "
                                 "the template too); close it, e.g. {{.path}}", self.query, tok.pos)
        return tuple(parts)

    def parse_label_or(self) -> A.LabelFilterExpr:
        left = self.parse_label_and()
        while self.tok.kind == "ident" and self.tok.text == "or":
            self.advance()
            left = A.OrFilter(left, self.parse_label_and())
        return left

    def parse_label_and(self) -> A.LabelFilterExpr:
        left = self.parse_label_atom()
        while True:
            if self.tok.kind == "ident" and self.tok.text == "and" or self.is_op(","):
                self.advance()
            elif self.tok.kind == "ident" and self.peek().kind == "op" and self.tok.text not in ("or",) and \
                    self.peek().text in ("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="):
                pass  # `| a="x" b="y"`: whitespace means and
            else:
                return left
            left = A.AndFilter(left, self.parse_label_atom())

    def parse_label_atom(self) -> A.LabelFilterExpr:
        if self.is_op("("):
            self.advance()
            inner = self.nested(self.parse_label_or)
            self.expect_op(")", "to close the label filter group")
            return inner
        if self.tok.kind != "ident":
            raise self.error(f"expected a label filter (name op value), got {self.tok.text or 'end of query'!r}")
        name_tok = self.advance()
        if self.is_op("(") and name_tok.text in KNOWN_UNSUPPORTED:
            raise self.unsupported(name_tok)
        if not self.is_op("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<="):
            raise self.error(f"expected a comparison after {name_tok.text!r}")
        op_tok = self.advance()
        op = op_tok.text
        neg = False
        if self.is_op("-") and self.peek().kind == "num":
            self.advance()
            neg = True
        if self.tok.kind == "num":
            value = float(self.advance().value)  # type: ignore[arg-type]
            if op in ("=~", "!~"):
                raise self.error(f"{op} needs a quoted regular expression", op_tok)
            return A.NumericFilter(name_tok.text, "==" if op == "=" else op, -value if neg else value)
        if self.tok.kind == "str":
            if op in (">", ">=", "<", "<=", "=="):
                raise self.error(f"{op} compares numbers; drop the quotes (e.g. {name_tok.text} {op} 500)",
                                 self.tok)
            value_tok = self.tok
            value = str(self.advance().value)
            return A.StringFilter(A.Matcher(name_tok.text, op, value, self.matcher_regex(op, value, value_tok)))
        if self.tok.kind == "ident" and self.tok.text in ("duration", "bytes", "ip"):
            raise self.unsupported(self.tok)
        if self.tok.kind == "durlit":
            raise self.error("durations and byte sizes are not supported as values here")
        raise self.error(f"expected a number or a quoted string after {op!r}")

    # -- metric queries ----------------------------------------------------------------------
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


def too_deep() -> str:
    return (f"query nested more than {MAX_DEPTH} levels deep (parentheses, aggregations, operator chains or "
            "label filters); split it into simpler queries")


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
