"""The parser's cursor over tokens: look, advance, expect, and errors that point at a token.

Queries are untrusted input, so nesting is counted here (`nested`) and refused past MAX_DEPTH.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from logging_lib.logql.errors import LogQLError
from logging_lib.logql.lexer import Tok, tokenize

MAX_DEPTH = 64  # nesting levels; real dashboards use < 10, and evaluation recurses once per level
KNOWN_UNSUPPORTED = {
    "topk", "bottomk", "stddev", "stdvar", "sort", "sort_desc", "stddev_over_time", "stdvar_over_time",
    "absent_over_time", "rate_counter", "label_replace", "vector", "logfmt", "regexp", "pattern", "unpack",
    "label_format", "drop", "keep", "decolorize", "offset", "on", "ignoring", "group_left", "group_right",
    "and", "or", "unless", "ip", "duration", "bytes", "duration_seconds", "approx_topk",
}


def too_deep() -> str:
    return (f"query nested more than {MAX_DEPTH} levels deep (parentheses, aggregations, operator chains or "
            "label filters); split it into simpler queries")


class TokenCursor:
    def __init__(self, query: str) -> None:
        self.query = query
        self.toks = tokenize(query)
        self.i = 0
        self.depth = 0

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

    def nested(self, parse: Callable[..., Any], *args: Any) -> Any:
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

