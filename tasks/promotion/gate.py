"""The promotion gate: does a benchmarked candidate become `champion`?

`decide` is pure (benchmark result + thresholds + champion quality, or a head-to-head
`Comparison` with the champion -> decision listing every check and which failed);
`apply_decision` moves the alias through the registry only on pass.

Two modes. `absolute` (no champion yet, or head_to_head off): the candidate's p99 TTFT under a
fixed bound and its quality at least the champion's recorded number. `head_to_head`: every
compared metric's interval must clear its non-inferiority margin (comparison.judge); the
absolute p99 bound is dropped (the champion, measured beside it under the same load, is the
reference), the candidate's failure rate is still checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from configs.promotion import PromotionConfig
from tasks.benchmark.results import BenchmarkResult
from tasks.promotion.comparison import QUALITY, Comparison, MetricComparison

ABSOLUTE, HEAD_TO_HEAD = "absolute", "head_to_head"


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float | None
    passed: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    passed: bool
    checks: list[Check] = field(default_factory=list)
    mode: str = ABSOLUTE
    comparison: Comparison | None = None

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def summary(self) -> str:
        how = " (head to head with the champion)" if self.mode == HEAD_TO_HEAD else ""
        if self.passed:
            return f"promotion gate passed{how}: " + "; ".join(c.reason for c in self.checks)
        return f"promotion gate failed{how}: " + "; ".join(c.reason for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "checks": [asdict(c) for c in self.checks],
                "summary": self.summary(), "mode": self.mode,
                "comparison": self.comparison.to_dict() if self.comparison is not None else None}


def decide(result: BenchmarkResult, cfg: PromotionConfig, champion_quality: float | None,
           comparison: Comparison | None = None, capacity: dict[str, Any] | None = None) -> Decision:
    """Head to head when a comparison with the champion is given, else the absolute thresholds.
    `capacity`: both sweeps' answers ({"candidate": {...}, "champion": {...}}, each with
    `max_rate_meeting_slo` and `bound`), checked head to head when `min_capacity_ratio` is set."""
    m = result.metrics
    failures = failure_rate_check(m.failed, m.completed + m.failed, cfg)
    if comparison is not None:
        decision = decide_head_to_head(comparison, failures)
        if capacity is None or cfg.min_capacity_ratio is None:
            return decision
        checks = [*decision.checks, capacity_check(capacity["candidate"], capacity["champion"], cfg.min_capacity_ratio)]
        return Decision(all(c.passed for c in checks), checks, HEAD_TO_HEAD, comparison)
    checks = [_p99_check(result, cfg), failures, _quality_check(result, cfg, champion_quality)]
    return Decision(all(c.passed for c in checks), checks)


def capacity_check(candidate: dict[str, Any], champion: dict[str, Any], min_ratio: float) -> Check:
    """The candidate's capacity at the SLO against the champion's, both swept on the same server
    the same night. A champion that met the SLO at no rate sets no floor; a candidate that met
    it at none fails against a champion that did; two lower bounds (both passed the top rate)
    are not told apart, so the candidate passes."""
    mine, theirs = candidate.get("max_rate_meeting_slo"), champion.get("max_rate_meeting_slo")
    if theirs is None:
        return Check("capacity", mine, None, True, "capacity: the champion met the SLO at no rate tried")
    need = theirs * min_ratio
    if mine is None:
        return Check("capacity", None, need, False,
                     f"capacity: no rate met the SLO (champion {theirs:.3g} req/s)")
    ok = mine >= need or candidate.get("bound") == champion.get("bound") == "lower_bound"
    return Check("capacity", mine, need, ok,
                 f"capacity {mine:.3g} req/s {'>=' if ok else '<'} {min_ratio:g} x champion {theirs:.3g} req/s"
                 + (" (both at least the top rate tried)" if ok and mine < need else ""))


def decide_head_to_head(comparison: Comparison, failures: Check) -> Decision:
    """Every compared metric's verdict (comparison.judge) plus the candidate's failure rate."""
    checks = [failures] + [metric_check(m) for m in comparison.metrics]
    if comparison.skipped:  # stated, not held against the candidate: failures are checked above
        checks.append(Check("not_compared", None, None, True,
                            "not compared: " + ", ".join(sorted(comparison.skipped))))
    if not any(m.decides for m in comparison.metrics):
        checks.append(Check("head_to_head", None, None, False, "the comparison has no metric to decide by"))
    return Decision(all(c.passed for c in checks), checks, HEAD_TO_HEAD, comparison)


def metric_check(m: MetricComparison) -> Check:
    """One compared metric as a check; its reason reads as the table row does."""
    if m.kind == QUALITY:
        shown = f"{m.metric} {m.estimate:+.4f} [{m.low:+.4f}, {m.high:+.4f}] vs margin > {m.bound:+.4f}"
    else:
        shown = f"{m.metric} x{m.estimate:.3f} [{m.low:.3f}, {m.high:.3f}] vs margin < x{m.bound:.3f}"
    if m.advisory:
        return Check(m.metric, m.estimate, m.bound, True, f"{shown}: {m.verdict} (advisory, not deciding)")
    return Check(m.metric, m.estimate, m.bound, m.passed, f"{shown}: {m.verdict}")


def _p99_check(result: BenchmarkResult, cfg: PromotionConfig) -> Check:
    p99 = result.metrics.ttft.p99_ms
    if result.metrics.completed == 0:
        return Check("p99_ttft_ms", p99, cfg.max_p99_ttft_ms, False, "no successful request, so no TTFT")
    ok = p99 <= cfg.max_p99_ttft_ms
    return Check("p99_ttft_ms", p99, cfg.max_p99_ttft_ms, ok,
                 f"p99 TTFT {p99:.1f} ms {'<=' if ok else '>'} {cfg.max_p99_ttft_ms:g} ms")


def failure_rate_check(failed: int, total: int, cfg: PromotionConfig) -> Check:
    rate = failed / total if total else 1.0
    ok = total > 0 and rate <= cfg.max_failure_rate
    return Check("failure_rate", rate, cfg.max_failure_rate, ok,
                 f"failure rate {rate:.2%} {'<=' if ok else '>'} {cfg.max_failure_rate:.2%}")


def _quality_check(result: BenchmarkResult, cfg: PromotionConfig, champion_quality: float | None) -> Check:
    quality = result.quality
    if quality is None:
        return Check("quality", None, None, not cfg.require_quality,
                     "no quality score in the benchmark result" + (" (required)" if cfg.require_quality else ""))
    if champion_quality is None:
        return Check("quality", quality, None, True, f"quality {quality:.4f}; no champion yet")
    need = champion_quality + cfg.min_quality_vs_champion
    ok = quality >= need
    return Check("quality", quality, need, ok,
                 f"quality {quality:.4f} {'>=' if ok else '<'} champion {champion_quality:.4f}"
                 + (f" + {cfg.min_quality_vs_champion:g}" if cfg.min_quality_vs_champion else ""))


Promote = Callable[..., Any]


def apply_decision(decision: Decision, tracking_uri: str, name: str, version: str | int, cfg: PromotionConfig,
                   promote: Promote | None = None) -> dict[str, Any]:
    """On pass, give `version` the alias (default `champion`); on fail, leave it as it is."""
    out = {**decision.to_dict(), "model": name, "version": str(version), "promoted": False}
    if not decision.passed:
        return out
    if promote is None:
        from tasks.registry.versions import promote as registry_promote

        promote = registry_promote
    promote(tracking_uri, name, version, alias=cfg.alias)
    out["promoted"] = True
    return out
