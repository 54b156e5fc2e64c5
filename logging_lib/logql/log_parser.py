"""Parsing a log query: `{selector} stage*` (line filters, json, line_format, label filters, unwrap)."""

from __future__ import annotations

import re

from logging_lib.logql import ast as A
from logging_lib.logql.cursor import KNOWN_UNSUPPORTED, TokenCursor
from logging_lib.logql.errors import LogQLError
from logging_lib.logql.lexer import Tok

_TEMPLATE = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_TEMPLATE_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")
_COMPARISONS = ("=", "!=", "=~", "!~", "==", ">", ">=", "<", "<=")


class LogQueryParser(TokenCursor):
    """The log-query grammar; Parser (parser.py) extends it with metrics."""

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
            if self.tok.kind == "dur":
                if not allow_range:
                    raise self.error("a [range] belongs inside a range aggregation such as count_over_time(...)")
                if range_ms is not None:
                    raise self.error("a second [range]")
                range_ms = int(self.advance().value)  # type: ignore[arg-type]
            elif self.is_op("|=", "!=", "|~", "!~"):
                if unwrapped:
                    raise self.error("line filters cannot follow unwrap")
                stages.append(self.parse_line_filter())
            elif self.is_op("|"):
                self.advance()
                stages.append(self.parse_pipe_stage(allow_range, unwrapped))
                unwrapped = unwrapped or isinstance(stages[-1], A.Unwrap)
            else:
                return A.LogQuery(matchers, tuple(stages)), range_ms

    def parse_line_filter(self) -> A.LineFilter:
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
        return A.LineFilter(op, value, regex)

    def parse_pipe_stage(self, allow_range: bool, unwrapped: bool) -> A.Stage:
        """What follows a `|`: json, line_format, unwrap, or a label filter."""
        t = self.tok
        if t.kind == "ident" and t.text == "json":
            if unwrapped:
                raise self.error("a parser cannot follow unwrap")
            self.advance()
            if self.tok.kind == "ident" and self.peek().kind == "op" and self.peek().text == "=":
                raise self.error("json with parameters (| json a=\"b\") is not supported; use plain | json")
            return A.JsonStage()
        if t.kind == "ident" and t.text == "line_format":
            self.advance()
            tpl_tok = self.tok
            tpl = self.expect_string("line_format")
            return A.LineFormat(tpl, self._template_parts(tpl, tpl_tok))
        if t.kind == "ident" and t.text == "unwrap":
            return self.parse_unwrap(allow_range, unwrapped)
        if t.kind == "ident" and t.text in KNOWN_UNSUPPORTED and not (
                self.peek().kind == "op" and self.peek().text in _COMPARISONS):
            raise self.unsupported(t)
        return A.LabelFilter(self.parse_label_or())

    def parse_unwrap(self, allow_range: bool, unwrapped: bool) -> A.Unwrap:
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
        return A.Unwrap(self.advance().text)

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
