"""What a query returns (series of points, or log lines) and the time window it looks at."""

from __future__ import annotations

from dataclasses import dataclass, field

from logging_lib.logql.errors import LogQLError

MAX_POINTS = 11_000  # Loki's limit of points per query


@dataclass
class Series:
    labels: dict[str, str]
    points: list[tuple[int, float]]  # (epoch ms, value)


@dataclass
class MetricResult:
    series: list[Series]
    start_ms: int
    end_ms: int
    step_ms: int
    instant: bool
    kind: str = "metric"


@dataclass
class LogEntry:
    ts_ms: int
    labels: dict[str, str]
    line: str


@dataclass
class LogResult:
    entries: list[LogEntry]
    limit: int
    truncated: bool = False
    kind: str = "log"


@dataclass
class Window:
    """Where a query looks: points at start + k*step (k < n); each covers (t - range, t]."""

    start_ms: int
    end_ms: int
    step_ms: int
    n: int = field(init=False)

    def __post_init__(self) -> None:
        if self.end_ms < self.start_ms:
            raise LogQLError("the query's end is before its start")
        if self.step_ms <= 0:
            raise LogQLError("step must be positive")
        self.n = (self.end_ms - self.start_ms) // self.step_ms + 1
        if self.n > MAX_POINTS:
            raise LogQLError(f"{self.n} points: more than Loki's {MAX_POINTS} per query; use a larger --step")

    def times(self) -> list[int]:
        return [self.start_ms + k * self.step_ms for k in range(self.n)]
