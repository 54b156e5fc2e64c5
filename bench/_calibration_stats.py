"""Rates of the gates' decisions with their 95% intervals, and the side-by-side table.

The interval of a rate k/n is Wilson's score interval: unlike k/n +- 1.96 se it stays inside
[0, 1] and is not a point at 0/n or n/n (0/20 still allows a true rate up to ~0.16).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from bench._calibration_gates import Outcome
from configs.promotion import QUALITY_METRICS


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate k/n."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"a rate needs 0 <= k <= n and n > 0, got k={k}, n={n}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)    # exact ends: no rounding residue at 0/n, n/n
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Rate:
    k: int
    n: int

    @property
    def value(self) -> float:
        return self.k / self.n

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.k, self.n)

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"k": self.k, "n": self.n, "rate": self.value, "low": low, "high": high}

    def __str__(self) -> str:
        low, high = self.interval
        return f"{self.k:>2}/{self.n:<2} {self.value:4.0%} [{low:3.0%},{high:4.0%}]"


@dataclass(frozen=True)
class Row:
    """One scenario x size: what the new gate said (worse, any rejection) and the old gate's rejections."""

    scenario: str
    size: int
    new_worse: Rate
    new_reject: Rate
    old_reject: Rate
    reasons: dict[str, int]   # metrics the new gate failed on, how many runs each
    by_quality: Rate          # runs the new gate rejected on a quality metric
    by_latency: Rate          # ... on a latency metric (or the failure rate, or an error)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "size": self.size, "new_worse": self.new_worse.to_dict(),
                "new_reject": self.new_reject.to_dict(), "old_reject": self.old_reject.to_dict(),
                "new_reject_on_quality": self.by_quality.to_dict(), "new_reject_on_latency": self.by_latency.to_dict(),
                "new_failed_metrics": self.reasons}


def summarize(outcomes: Iterable[Outcome]) -> list[Row]:
    """One row per (scenario, size), in the order first seen."""
    groups: dict[tuple[str, int], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.scenario, o.size), []).append(o)
    rows = []
    for (scenario, size), group in groups.items():
        n = len(group)
        reasons: dict[str, int] = {}
        for o in group:
            for metric in o.new_failed:
                reasons[metric] = reasons.get(metric, 0) + 1
        on_quality = sum(any(m in QUALITY_METRICS for m in o.new_failed) for o in group)
        on_latency = sum(any(m not in QUALITY_METRICS for m in o.new_failed) for o in group)
        rows.append(Row(scenario, size, Rate(sum(o.new_worse for o in group), n),
                        Rate(sum(not o.new_passed for o in group), n), Rate(sum(not o.old_passed for o in group), n),
                        dict(sorted(reasons.items(), key=lambda kv: -kv[1])), Rate(on_quality, n),
                        Rate(on_latency, n)))
    return rows


def table(rows: Sequence[Row], expected: dict[str, str]) -> str:
    """The side-by-side table; `expected` says per scenario what the right decision is."""
    head = (f"{'scenario':<16} {'size':>4}  {'right answer':<12} {'new: says worse':<22} "
            f"{'new: rejects':<22} {'old: rejects':<22} new gate failed on")
    lines = [head, "-" * len(head)]
    for r in rows:
        reasons = ", ".join(f"{m} {k}" for m, k in list(r.reasons.items())[:3]) or "-"
        lines.append(f"{r.scenario:<16} {r.size:>4}  {expected.get(r.scenario, '?'):<12} {str(r.new_worse):<22} "
                     f"{str(r.new_reject):<22} {str(r.old_reject):<22} {reasons}")
    lines.append("rates: k/n, share, [95% Wilson interval]; size: items (quality) or requests per model (latency)")
    return "\n".join(lines)
