"""A head-to-head comparison of candidate and champion as one typed value (`comparison.json`).

Quality metrics are compared as the mean per-item difference (candidate - champion, higher is
better); latencies as the ratio of a statistic (candidate / champion, lower is better). Each
gets a bootstrap interval and one verdict, decided here only (`judge`):

- better:        the whole interval is on the good side of no change (0, or ratio 1);
- non-inferior:  the whole interval clears the margin, but not no change;
- worse:         the interval misses the margin and lies wholly on the bad side of no change;
- inconclusive:  the interval misses the margin but also reaches the good side: too few
                 items or requests to tell.

A metric passes when better or non-inferior; the comparison passes when every metric does,
except those the config names advisory (`promotion.advisory_metrics`): shown with their
interval and verdict, never deciding (a statistic the load shape makes unmeasurable, e.g.
p95 TPOT on a CPU server whose tail is a few prefill stalls).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

QUALITY, LATENCY = "quality", "latency"
VERDICTS = ("better", "non-inferior", "worse", "inconclusive")


def judge(kind: str, low: float, high: float, bound: float) -> tuple[str, bool]:
    """(verdict, passed) for an interval [low, high]. `bound`: for quality the lowest difference
    allowed (-margin, <= 0), for latency the highest ratio allowed (margin, > 1)."""
    if kind == QUALITY:
        passed, better, bad_side = low > bound, low > 0, high < 0
    elif kind == LATENCY:
        passed, better, bad_side = high < bound, high < 1, low > 1
    else:
        raise ValueError(f"kind must be {QUALITY!r} or {LATENCY!r}, got {kind!r}")
    if passed:
        return ("better" if better else "non-inferior"), True
    return ("worse" if bad_side else "inconclusive"), False


@dataclass(frozen=True)
class MetricComparison:
    """One metric: `estimate` and [`low`, `high`] are the difference (quality) or ratio (latency);
    `bound` the margin as a bound on them (quality -margin, latency the ratio margin);
    `detectable` the smallest true difference (quality) or ratio - 1 (latency) this many
    items/requests would detect with the configured power; `n` paired items or prompts."""

    metric: str
    kind: str
    champion_value: float
    candidate_value: float
    estimate: float
    low: float
    high: float
    bound: float
    verdict: str
    passed: bool
    n: int
    detectable: float
    advisory: bool = False         # shown, not deciding

    @property
    def decides(self) -> bool:
        return not self.advisory

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """What the gate saw and decided; `champion`/`candidate` are the served names."""

    champion: str
    candidate: str
    champion_version: str | None
    candidate_version: str | None
    confidence: float
    resamples: int
    seed: int
    quality_items: int
    latency_requests: int          # per model
    metrics: tuple[MetricComparison, ...]
    skipped: dict[str, str] = field(default_factory=dict)   # metric -> why it could not be compared

    @property
    def passed(self) -> bool:
        deciding = [m for m in self.metrics if m.decides]
        return bool(deciding) and all(m.passed for m in deciding)

    @property
    def failed(self) -> list[str]:
        return [m.metric for m in self.metrics if m.decides and not m.passed]

    def metric(self, name: str) -> MetricComparison:
        for m in self.metrics:
            if m.metric == name:
                return m
        raise KeyError(f"no comparison of {name!r}; have {[m.metric for m in self.metrics]}")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "metrics"}
        out["passed"] = self.passed
        out["failed"] = self.failed
        out["metrics"] = [m.to_dict() for m in self.metrics]
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        kw = {f.name: d[f.name] for f in fields(cls) if f.name not in ("metrics", "skipped")}
        kw["skipped"] = dict(d.get("skipped") or {})
        return cls(**kw, metrics=tuple(MetricComparison(**m) for m in d["metrics"]))
