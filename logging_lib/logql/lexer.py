"""The LogQL lexer: a query's text as tokens (strings, numbers, names, operators, [ranges]).

Durations are read here too (`parse_duration`), since a `[5m]` range is one token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logging_lib.logql.errors import LogQLError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000,
                "y": 365 * 86_400_000}
_DURATION_LIT = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+")


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
        elif c == "#":  # comment to end of line
            end = query.find("\n", i)
            i = n if end < 0 else end
        elif c == '"':
            i = _read_quoted(query, i, toks)
        elif c == "`":
            end = query.find("`", i + 1)
            if end < 0:
                raise LogQLError("unterminated `raw string`", query, i)
            toks.append(Tok("str", query[i:end + 1], i, query[i + 1:end]))
            i = end + 1
        elif c == "[":
            i = _read_range(query, i, toks)
        elif (c.isdigit() or c == ".") and (num := _NUMBER.match(query, i)):
            i = _read_number(query, num, toks)
        else:
            i = _read_name_or_op(query, i, toks)
    toks.append(Tok("eof", "", n))
    return toks


def _read_quoted(query: str, start: int, toks: list[Tok]) -> int:
    """A double-quoted string with Go's escapes; returns the index after its closing quote."""
    n = len(query)
    i, out = start + 1, []
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
    return i + 1


def _read_range(query: str, i: int, toks: list[Tok]) -> int:
    """A `[duration]` range, read verbatim as one token."""
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
    return end + 1


def _read_number(query: str, m: re.Match[str], toks: list[Tok]) -> int:
    """A number, or a duration literal such as 5m (which the parser refuses as a value)."""
    n, i = len(query), m.start()
    d = _DURATION_LIT.match(query, i)
    if d and not (d.end() < n and (query[d.end()].isalnum() or query[d.end()] == "_")):
        toks.append(Tok("durlit", d.group(0), i))
        return d.end()
    j = m.end()
    if j < n and (query[j].isalpha() or query[j] == "_"):
        raise LogQLError("durations and byte sizes are not supported as values here", query, i)
    toks.append(Tok("num", m.group(0), i, float(m.group(0))))
    return j


def _read_name_or_op(query: str, i: int, toks: list[Tok]) -> int:
    m = _IDENT.match(query, i)
    if m:
        toks.append(Tok("ident", m.group(0), i))
        return m.end()
    for op in _OPS:
        if query.startswith(op, i):
            toks.append(Tok("op", op, i))
            return i + len(op)
    raise LogQLError(f"unexpected character {query[i]!r}", query, i)
