"""Both promotion gates on one head-to-head measurement, for bench/gate_calibration.py.

The new gate: `build_comparison` + `decide_head_to_head` (what `mlops promote --compare` runs).
Today's fixed-threshold gate: `gate.decide(result, cfg, champion_quality)` on a
`BenchmarkResult` built from the candidate's side of the same interleaved run (its requests,
as `run_benchmark` would have aggregated them) and the candidate's quality on the same items;
a comparison that cannot be built (PromotionError) is a rejection with its message kept, as
the promotion step fails then;
`champion_quality` is the champion's number as the registry tag holds it: its measurement from
an earlier run (another item subset).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from configs.errors import PromotionError
from configs.promotion import PromotionConfig
from tasks.benchmark.client import RequestOutput
from tasks.benchmark.metrics import calculate_metrics
from tasks.benchmark.results import BenchmarkResult, RequestRecord
from tasks.promotion.gate import decide, decide_head_to_head, failure_rate_check
from tasks.promotion.head_to_head import build_comparison

Row = dict[str, Any]


@dataclass(frozen=True)
class Outcome:
    """One comparison's decisions by both gates; `new_verdicts` maps metric -> verdict."""

    scenario: str
    size: int
    run: int
    new_passed: bool
    new_worse: bool
    new_failed: tuple[str, ...]
    new_verdicts: dict[str, str]
    old_passed: bool
    old_failed: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "size": self.size, "run": self.run,
                "new": {"passed": self.new_passed, "worse": self.new_worse, "failed": list(self.new_failed),
                        "verdicts": self.new_verdicts},
                "old": {"passed": self.old_passed, "failed": list(self.old_failed)}, **self.extra}


def candidate_result(latency_rows: list[Row], quality: float | None) -> BenchmarkResult:
    """The candidate's side of an interleaved run as the `BenchmarkResult` the old gate reads."""
    mine = [r for r in latency_rows if r["side"] == "candidate"]
    outputs = [RequestOutput(request_id=r["request_id"], success=bool(r["success"]), status=r["status"],
                             error=r["error"] or "", ttft=(r["ttft_ms"] or 0.0) / 1000.0,
                             latency=(r["e2el_ms"] or 0.0) / 1000.0, output_tokens=r["output_tokens"],
                             planned_s=r["planned_s"]) for r in mine]
    end_s = max((r["planned_s"] + (r["e2el_ms"] or 0.0) / 1000.0 for r in mine), default=0.0)
    metrics = calculate_metrics(outputs, max(end_s, 1e-3))
    records = tuple(RequestRecord(r["request_id"], bool(r["success"]), r["status"], r["error"], r["planned_s"], 0.0,
                                  r["ttft_ms"], r["e2el_ms"], r["tpot_ms"], None, r["output_tokens"]) for r in mine)
    return BenchmarkResult(
        date=time.strftime("%Y%m%d-%H%M%S", time.gmtime()), benchmark_run_id="gate-calibration", backend="openai-chat",
        base_url="", model_id=mine[0]["model"] if mine else "", num_prompts=len(mine), request_rate_per_s=float("inf"),
        burstiness=1.0, max_concurrency=None, max_tokens=0, seed=0, metrics=metrics,
        input_lens=tuple(None for _ in mine), output_lens=tuple(r["output_tokens"] for r in mine),
        ttfts=tuple((r["ttft_ms"] or 0.0) / 1000.0 for r in mine), itls=tuple(() for _ in mine),
        errors=tuple(r["error"] or "" for r in mine), quality=quality, requests=records)


def judge_both(cfg: PromotionConfig, quality_rows: list[Row], latency_rows: list[Row], *, scenario: str, size: int,
               run: int, quality: float | None, champion_quality: float | None,
               extra: dict[str, Any] | None = None) -> Outcome:
    """Both gates on the same rows. Without quality rows (latency-only scenarios) the old gate
    does not require a quality score, as the new one then decides by latency alone."""
    old_cfg = cfg if quality_rows else cfg.model_copy(update={"require_quality": False})
    old = decide(candidate_result(latency_rows, quality), old_cfg, champion_quality)
    extra = dict(extra or {})
    mine = [r for r in latency_rows if r["side"] == "candidate"]
    try:
        comparison = build_comparison(quality_rows, latency_rows, cfg, champion="champion", candidate="candidate",
                                      champion_version=None, candidate_version=None)
    except PromotionError as exc:  # the promotion step fails: no promotion, as in the flow
        extra["error"] = str(exc)
        return Outcome(scenario, size, run, False, False, ("error",), {}, old.passed, tuple(old.failed), extra)
    new = decide_head_to_head(comparison, failure_rate_check(sum(not r["success"] for r in mine), len(mine), cfg))
    verdicts = {m.metric: m.verdict for m in comparison.metrics}
    extra["intervals"] = {m.metric: {"estimate": m.estimate, "low": m.low, "high": m.high, "bound": m.bound,
                                     "detectable": m.detectable} for m in comparison.metrics}
    return Outcome(scenario, size, run, new.passed, "worse" in verdicts.values(), tuple(new.failed), verdicts,
                   old.passed, tuple(old.failed), extra)
