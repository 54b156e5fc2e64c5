"""The rate search, apart from how a rate is measured (`measure(rate, step) -> SweepStep`).

Up geometrically from the start rate (x growth_factor) until a step does not pass or the max
rate passes; if the very first step fails, down (/ growth_factor) until one passes or the min
rate fails too; then geometric bisection between the last passing and the first failing rate
until fail/pass <= 1 + resolution. A failing step is an upper bound: no higher rate is tried
after it, so a saturated server is never pushed further.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from configs.capacity import CapacityConfig
from tasks.benchmark.sweep_result import BRACKETED, LOWER_BOUND, NONE_FOUND, SweepStep

Measure = Callable[[float, int], SweepStep]


@dataclass(frozen=True)
class SearchOutcome:
    rows: tuple[SweepStep, ...]
    passing_rate_per_s: float | None   # highest rate that passed
    failing_rate_per_s: float | None   # lowest rate above it that did not
    bound: str
    stop_reason: str


class _Search:
    def __init__(self, cap: CapacityConfig, measure: Measure) -> None:
        self.cap, self.measure = cap, measure
        self.rows: list[SweepStep] = []
        self.lo: SweepStep | None = None   # highest passing step
        self.hi: SweepStep | None = None   # lowest failing step

    def budget_left(self) -> bool:
        return len(self.rows) < self.cap.max_steps

    def run(self, rate: float) -> SweepStep:
        step = self.measure(rate, len(self.rows) + 1)
        self.rows.append(step)
        if step.passed:
            if self.lo is None or rate > self.lo.request_rate_per_s:
                self.lo = step
        elif self.hi is None or rate < self.hi.request_rate_per_s:
            self.hi = step
        return step

    def up(self) -> str | None:
        rate = self.cap.start_rate_per_s
        while self.budget_left():
            if not self.run(rate).passed:
                return None
            if rate >= self.cap.max_rate_per_s:
                return f"the max rate {rate:g} requests/s met the SLO; higher rates were not tried"
            rate = min(rate * self.cap.growth_factor, self.cap.max_rate_per_s)
        return None

    def down(self) -> str | None:
        while self.lo is None and self.hi is not None and self.budget_left():
            failing = self.hi.request_rate_per_s
            if failing <= self.cap.min_rate_per_s:
                return f"even the min rate {failing:g} requests/s missed the SLO"
            self.run(max(failing / self.cap.growth_factor, self.cap.min_rate_per_s))
        return None

    def narrow(self) -> None:
        while self.budget_left() and self.ratio() > 1 + self.cap.resolution:
            self.run(math.sqrt(self.lo.request_rate_per_s * self.hi.request_rate_per_s))

    def ratio(self) -> float:
        """fail/pass; inf until both are known."""
        if self.lo is None or self.hi is None:
            return math.inf
        return self.hi.request_rate_per_s / self.lo.request_rate_per_s


def search_capacity(cap: CapacityConfig, measure: Measure) -> SearchOutcome:
    s = _Search(cap, measure)
    reason = s.up()
    if reason is not None:  # the max rate passed
        return _outcome(s, LOWER_BOUND, reason)
    reason = s.down()
    if s.lo is None:
        return _outcome(s, NONE_FOUND, reason or f"max_steps ({cap.max_steps}) reached before a rate met the SLO")
    if s.hi is None:
        return _outcome(s, LOWER_BOUND, f"max_steps ({cap.max_steps}) reached before a rate missed the SLO")
    s.narrow()
    if s.hi.saturation.kind == "client":
        return _outcome(s, LOWER_BOUND, f"at {s.hi.request_rate_per_s:g} requests/s {s.hi.saturation.reason}; "
                                        "the server may serve more than this client could send")
    if s.ratio() > 1 + cap.resolution:
        return _outcome(s, BRACKETED, f"max_steps ({cap.max_steps}) reached at fail/pass = {s.ratio():.3f}")
    return _outcome(s, BRACKETED, f"resolution reached: fail/pass = {s.ratio():.3f} <= {1 + cap.resolution:g}")


def _outcome(s: _Search, bound: str, reason: str) -> SearchOutcome:
    lo = s.lo.request_rate_per_s if s.lo is not None else None
    hi = s.hi.request_rate_per_s if s.hi is not None else None
    return SearchOutcome(tuple(s.rows), lo, hi, bound, reason)
