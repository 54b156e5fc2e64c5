"""Promotion section: what a candidate must meet to become `champion`.

With a champion in the registry (and `head_to_head` on), the candidate is compared with it
head to head: both served by one vLLM, the same held-out items and the same interleaved load,
and each metric decided by a bootstrap confidence interval against a non-inferiority margin.
With no champion yet, the absolute thresholds (`max_p99_ttft_ms`, quality present) apply.
Latencies here are the benchmark's vLLM-compatible ones, counted from each request's actual
send: a benchmark client that fell behind its schedule does not fail the model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

QUALITY_METRICS = ("exact_match", "json_valid", "field_accuracy")
LATENCY_METRICS = ("ttft", "tpot", "e2el")
LATENCY_STATS = ("median", "p95")


def latency_metric_names(metrics: tuple[str, ...] = LATENCY_METRICS,
                         stats: tuple[str, ...] = LATENCY_STATS) -> tuple[str, ...]:
    """`median_ttft`, `p95_ttft`, ...: the names latency comparisons and margins go by."""
    return tuple(f"{stat}_{metric}" for metric in metrics for stat in stats)


class PromotionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # -- absolute thresholds: the first promotion (no champion), and the candidate's failure rate always
    max_p99_ttft_ms: float = Field(2000.0, gt=0, description="no champion yet: the candidate's p99 TTFT at most "
                                   "(ms, from each request's actual send: the result's p99_ttft_ms)")
    max_failure_rate: float = Field(0.05, ge=0, le=1, description="share of failed benchmark requests at most")
    min_quality_vs_champion: float = Field(
        0.0, description="head_to_head off: candidate quality must be >= the champion's recorded quality + this")
    require_quality: bool = Field(True, description="fail when the benchmark has no quality score")
    alias: str = "champion"

    # -- head to head with the champion
    head_to_head: bool = Field(True, description="with a champion: serve it beside the candidate on one vLLM and "
                                                 "decide by confidence intervals; false: the absolute thresholds")
    quality_margin: float = Field(0.02, ge=0, le=1, description="non-inferiority: the whole interval of candidate "
                                  "minus champion (mean per-item score) must lie above -this")
    latency_ratio_margin: float = Field(1.10, gt=1, description="non-inferiority: the whole interval of candidate / "
                                        "champion latency must lie below this")
    margins: dict[str, float] = Field(default_factory=dict, description="per-metric margin overrides, e.g. "
                                      "{exact_match: 0.05, p95_ttft: 1.25}")
    quality_metrics: tuple[str, ...] = Field(QUALITY_METRICS, description="per-item scores compared (those the "
                                             "eval set has; JSON metrics only for JSON references)")
    latency_metrics: tuple[str, ...] = Field(LATENCY_METRICS, description="latencies compared: ttft, tpot, e2el")
    latency_stats: tuple[str, ...] = Field(LATENCY_STATS, description="statistics of each latency: median, p95")
    advisory_metrics: tuple[str, ...] = Field((), description="metrics shown with their interval and verdict but "
                                              "not deciding, e.g. [p95_tpot] where a few stalls make it unmeasurable")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="two-sided confidence of every interval")
    bootstrap_resamples: int = Field(2000, ge=2000, le=1_000_000, description="paired bootstrap resamples")
    bootstrap_seed: int = Field(0, description="seeds the bootstrap and the interleaving order")
    power: float = Field(0.8, gt=0.5, lt=1, description="for the smallest detectable difference the gate states")
    head_to_head_requests: int | None = Field(None, gt=0, description="requests per model in the interleaved "
                                              "latency run; none = benchmark.num_prompts")
    min_capacity_ratio: float | None = Field(None, gt=0, le=1, description="head to head, with a `capacity` "
                                             "section: both are swept on the same vLLM and the candidate's capacity "
                                             "at the SLO must be at least this share of the champion's (e.g. 0.9); "
                                             "none = capacity is recorded, not checked")

    @field_validator("quality_metrics")
    @classmethod
    def _known_quality(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [m for m in value if m not in QUALITY_METRICS]
        if bad:
            raise ValueError(f"promotion.quality_metrics: unknown {bad}; use some of {list(QUALITY_METRICS)}")
        return value

    @field_validator("latency_metrics")
    @classmethod
    def _known_latency(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [m for m in value if m not in LATENCY_METRICS]
        if bad:
            raise ValueError(f"promotion.latency_metrics: unknown {bad}; use some of {list(LATENCY_METRICS)}")
        return value

    @field_validator("latency_stats")
    @classmethod
    def _known_stats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [s for s in value if s not in LATENCY_STATS]
        if bad:
            raise ValueError(f"promotion.latency_stats: unknown {bad}; use some of {list(LATENCY_STATS)}")
        return value

    @field_validator("advisory_metrics")
    @classmethod
    def _known_advisory(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = set(QUALITY_METRICS) | set(latency_metric_names())
        bad = sorted(set(value) - known)
        if bad:
            raise ValueError(f"promotion.advisory_metrics: unknown metric(s) {bad}; use some of {sorted(known)}")
        return value

    @field_validator("margins")
    @classmethod
    def _known_margins(cls, value: dict[str, float]) -> dict[str, float]:
        known = set(QUALITY_METRICS) | set(latency_metric_names())
        bad = sorted(set(value) - known)
        if bad:
            raise ValueError(f"promotion.margins: unknown metric(s) {bad}; use some of {sorted(known)}")
        for name, margin in value.items():
            if name in QUALITY_METRICS and not 0 <= margin <= 1:
                raise ValueError(f"promotion.margins.{name}: a quality margin is a drop in [0, 1], got {margin}")
            if name not in QUALITY_METRICS and margin <= 1:
                raise ValueError(f"promotion.margins.{name}: a latency margin is a ratio above 1, got {margin}")
        return value

    def margin(self, metric: str) -> float:
        """Quality: the largest drop allowed (positive); latency: the largest ratio allowed (> 1)."""
        if metric in self.margins:
            return self.margins[metric]
        return self.quality_margin if metric in QUALITY_METRICS else self.latency_ratio_margin
