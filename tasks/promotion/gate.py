"""The promotion gate: does a benchmarked candidate become `champion`?

`decide` is pure (benchmark result + thresholds + champion quality -> decision listing every
check and which failed); `apply_decision` moves the alias through the registry only on pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from configs.promotion import PromotionConfig
from tasks.benchmark.results import BenchmarkResult


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

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return "promotion gate passed: " + "; ".join(c.reason for c in self.checks)
        return "promotion gate failed: " + "; ".join(c.reason for c in self.checks if not c.passed)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "failed": self.failed, "checks": [asdict(c) for c in self.checks],
                "summary": self.summary()}


def decide(result: BenchmarkResult, cfg: PromotionConfig, champion_quality: float | None) -> Decision:
    checks = []
    p99 = result.metrics.ttft.p99_ms
    completed, failed = result.metrics.completed, result.metrics.failed
    if completed == 0:
        checks.append(Check("p99_ttft_ms", p99, cfg.max_p99_ttft_ms, False, "no successful request, so no TTFT"))
    else:
        ok = p99 <= cfg.max_p99_ttft_ms
        checks.append(Check("p99_ttft_ms", p99, cfg.max_p99_ttft_ms, ok,
                            f"p99 TTFT {p99:.1f} ms {'<=' if ok else '>'} {cfg.max_p99_ttft_ms:g} ms"))
    total = completed + failed
    rate = failed / total if total else 1.0
    ok = total > 0 and rate <= cfg.max_failure_rate
    checks.append(Check("failure_rate", rate, cfg.max_failure_rate, ok,
                        f"failure rate {rate:.2%} {'<=' if ok else '>'} {cfg.max_failure_rate:.2%}"))
    quality = result.quality
    if quality is None:
        checks.append(Check("quality", None, None, not cfg.require_quality,
                            "no quality score in the benchmark result" + (" (required)" if cfg.require_quality else "")))
    elif champion_quality is None:
        checks.append(Check("quality", quality, None, True, f"quality {quality:.4f}; no champion yet"))
    else:
        need = champion_quality + cfg.min_quality_vs_champion
        ok = quality >= need
        checks.append(Check("quality", quality, need, ok,
                            f"quality {quality:.4f} {'>=' if ok else '<'} champion {champion_quality:.4f}"
                            + (f" + {cfg.min_quality_vs_champion:g}" if cfg.min_quality_vs_champion else "")))
    return Decision(all(c.passed for c in checks), checks)


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
