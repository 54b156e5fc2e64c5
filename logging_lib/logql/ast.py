"""The syntax tree of the LogQL subset we evaluate (see parser.py for the grammar)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Matcher:
    """`name op "value"` in a stream selector or a string label filter; regexes are anchored."""

    name: str
    op: str  # = != =~ !~
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, actual: str) -> bool:
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = self.regex.fullmatch(actual) is not None  # type: ignore[union-attr]
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class LineFilter:
    op: str  # |= != |~ !~
    value: str
    regex: re.Pattern[bytes] | None = None


@dataclass(frozen=True)
class JsonStage:
    pass


@dataclass(frozen=True)
class LineFormat:
    template: str
    parts: tuple[tuple[str, str], ...]  # ("text", s) | ("label", name) | ("line", "") | ("ts", "")


@dataclass(frozen=True)
class NumericFilter:
    name: str
    op: str  # == != > >= < <=
    value: float


@dataclass(frozen=True)
class StringFilter:
    matcher: Matcher


@dataclass(frozen=True)
class AndFilter:
    left: "LabelFilterExpr"
    right: "LabelFilterExpr"


@dataclass(frozen=True)
class OrFilter:
    left: "LabelFilterExpr"
    right: "LabelFilterExpr"


LabelFilterExpr = Union[NumericFilter, StringFilter, AndFilter, OrFilter]


@dataclass(frozen=True)
class LabelFilter:
    expr: LabelFilterExpr


@dataclass(frozen=True)
class Unwrap:
    name: str


Stage = Union[LineFilter, JsonStage, LineFormat, LabelFilter, Unwrap]


@dataclass(frozen=True)
class LogQuery:
    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class Grouping:
    without: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class RangeAgg:
    fn: str
    query: LogQuery  # its stages may end with Unwrap (+ label filters after it)
    range_ms: int
    param: float | None = None
    grouping: Grouping | None = None


@dataclass(frozen=True)
class VectorAgg:
    op: str
    expr: "MetricExpr"
    grouping: Grouping | None = None
    param: float | None = None


@dataclass(frozen=True)
class Scalar:
    value: float


@dataclass(frozen=True)
class BinOp:
    op: str
    left: "MetricExpr"
    right: "MetricExpr"
    bool_modifier: bool = False


MetricExpr = Union[RangeAgg, VectorAgg, Scalar, BinOp]
Expr = Union[LogQuery, MetricExpr]


@dataclass
class QueryInfo:
    """What a query references: used by tests that check queries against the event schemas."""

    labels: set[str] = field(default_factory=set)  # every label/field name a query reads
    events: set[str] = field(default_factory=set)  # values compared with `message` (event names)
    unwrapped: set[str] = field(default_factory=set)
