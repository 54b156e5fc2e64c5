"""A small structural parser for Grafana Alloy (River) configs, so CI can check ours.

It reads blocks (`name.path "label" { ... }`), attributes (`key = value`) and values (strings,
numbers, bools, null, lists, objects, references like `local.file_match.mlops.targets`, calls
like `env("X")`), and reports the first syntax error with line:column. It does not know each
component's schema; the tests check the parts we rely on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class AlloySyntaxError(ValueError):
    pass


@dataclass
class Ref:
    path: str


@dataclass
class Call:
    name: str
    args: list[Any]


@dataclass
class Block:
    name: str
    label: str | None
    attrs: dict[str, Any] = field(default_factory=dict)
    blocks: list["Block"] = field(default_factory=list)
    line: int = 0

    def find(self, name: str) -> list["Block"]:
        return [b for b in self.blocks if b.name == name]


_TOKEN = re.compile(r'''
    (?P<ws>[ \t\r\n]+) | (?P<comment>//[^\n]*|/\*.*?\*/|\#[^\n]*)
  | (?P<str>"(?:[^"\\\n]|\\.)*") | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[{}\[\](),.=:])
''', re.X | re.S)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            line = text.count("\n", 0, pos) + 1
            col = pos - text.rfind("\n", 0, pos)
            raise AlloySyntaxError(f"{line}:{col}: unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind not in ("ws", "comment"):
            out.append((kind, m.group(0), pos))
        pos = m.end()
    out.append(("eof", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def where(self, pos: int | None = None) -> str:
        pos = self.toks[self.i][2] if pos is None else pos
        return f"{self.text.count(chr(10), 0, pos) + 1}:{pos - self.text.rfind(chr(10), 0, pos)}"

    def peek(self, k: int = 0) -> tuple[str, str, int]:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def take(self, kind: str, text: str | None = None) -> str:
        k, t, _p = self.peek()
        if k != kind or (text is not None and t != text):
            raise AlloySyntaxError(f"{self.where()}: expected {text or kind}, got {t or 'end of file'!r}")
        self.i += 1
        return t

    def body(self, end: str) -> tuple[dict[str, Any], list[Block]]:
        attrs: dict[str, Any] = {}
        blocks: list[Block] = []
        while not (self.peek()[0] == ("eof" if end == "eof" else "punct") and self.peek()[1] == ("" if end == "eof" else end)):
            if self.peek()[0] == "eof":
                raise AlloySyntaxError(f"{self.where()}: missing '}}'")
            start = self.peek()[2]
            name = self.take("ident")
            while self.peek() == ("punct", ".", self.peek()[2]):
                self.i += 1
                name += "." + self.take("ident")
            if self.peek()[1] == "=":
                self.i += 1
                if name in attrs:
                    raise AlloySyntaxError(f"{self.where(start)}: attribute {name} set twice")
                attrs[name] = self.value()
                continue
            label = None
            if self.peek()[0] == "str":
                label = _unquote(self.take("str"))
            self.take("punct", "{")
            a, b = self.body("}")
            self.take("punct", "}")
            blocks.append(Block(name, label, a, b, self.text.count("\n", 0, start) + 1))
        return attrs, blocks

    def value(self) -> Any:
        kind, text, _pos = self.peek()
        if kind == "str":
            self.i += 1
            return _unquote(text)
        if kind == "raw":
            self.i += 1
            return text[1:-1]
        if kind == "num":
            self.i += 1
            return float(text) if any(c in text for c in ".eE") else int(text)
        if kind == "punct" and text == "[":
            self.i += 1
            items = []
            while self.peek()[1] != "]":
                items.append(self.value())
                if self.peek()[1] == ",":
                    self.i += 1
                elif self.peek()[1] != "]":
                    raise AlloySyntaxError(f"{self.where()}: expected ',' or ']' in a list")
            self.i += 1
            return items
        if kind == "punct" and text == "{":
            self.i += 1
            obj: dict[str, Any] = {}
            while self.peek()[1] != "}":
                k = _unquote(self.take("str")) if self.peek()[0] == "str" else self.take("ident")
                self.take("punct", "=")
                obj[k] = self.value()
                if self.peek()[1] == ",":
                    self.i += 1
                elif self.peek()[1] != "}":
                    raise AlloySyntaxError(f"{self.where()}: expected ',' or '}}' in an object")
            self.i += 1
            return obj
        if kind == "ident":
            if text in ("true", "false", "null"):
                self.i += 1
                return {"true": True, "false": False, "null": None}[text]
            path = self.take("ident")
            while self.peek()[1] == ".":
                self.i += 1
                path += "." + self.take("ident")
            if self.peek()[1] == "(":
                self.i += 1
                args = []
                while self.peek()[1] != ")":
                    args.append(self.value())
                    if self.peek()[1] == ",":
                        self.i += 1
                    elif self.peek()[1] != ")":
                        raise AlloySyntaxError(f"{self.where()}: expected ',' or ')' in a call")
                self.i += 1
                return Call(path, args)
            return Ref(path)
        raise AlloySyntaxError(f"{self.where()}: expected a value, got {text or 'end of file'!r}")


def _unquote(s: str) -> str:
    import json

    try:
        return json.loads(s)
    except ValueError as exc:
        raise AlloySyntaxError(f"bad string {s}: {exc}") from None


def parse_alloy(text: str) -> list[Block]:
    """Top-level blocks of an Alloy config; raises AlloySyntaxError with line:column."""
    p = _Parser(text)
    attrs, blocks = p.body("eof")
    if attrs:
        raise AlloySyntaxError(f"top-level attributes are not allowed: {sorted(attrs)}")
    return blocks


def references(value: Any) -> list[str]:
    """Every component reference inside a value (through lists, objects and call arguments)."""
    if isinstance(value, Ref):
        return [value.path]
    if isinstance(value, Call):
        return [r for a in value.args for r in references(a)]
    if isinstance(value, list):
        return [r for v in value for r in references(v)]
    if isinstance(value, dict):
        return [r for v in value.values() for r in references(v)]
    return []
