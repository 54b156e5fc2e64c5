"""Benchmark runs side by side: the first is the baseline, every other a candidate beside it.

    runs = [load_run(p) for p in paths]                   # compare_inputs.py: ours or vLLM's files
    c = compare_runs(runs, confidence=0.95, resamples=2000, seed=0)
    c.rows        # per metric: each run's value, candidate - baseline, candidate / baseline
    c.intervals   # median/p95 of TTFT, TPOT, E2EL: candidate / baseline with a bootstrap interval
    c.to_dict()   # the `--json` form; compare_report.format_comparison is the table

Computed once, rendered twice. The intervals are the promotion gate's statistics (the same
`statistic`, percentile interval and per-metric seed as `head_to_head`), but two result files did
not send the same prompts in pairs, so each run's requests are resampled on their own
(`bootstrap.unpaired_ratio`). A number a file lacks is None (n/a), never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from string import ascii_uppercase
from typing import Any

from configs.errors import BenchmarkError, PromotionError
from tasks.benchmark.compare_inputs import SAMPLED, SOURCES, LoadedRun
from tasks.promotion.bootstrap import STATS, metric_seed, statistic, unpaired_ratio

# (JSON key, label, unit, has a ratio): always shown, n/a where a file lacks them.
SCALARS = (("completed", "completed", "requests", False), ("failed", "failed", "requests", False),
           ("duration", "duration", "s", True), ("request_throughput", "request throughput", "req/s", True),
           ("output_throughput", "output throughput", "tok/s", True))
# Latencies: `{stat}_{name}_ms`, a row wherever any file has it. `sched_*` are ours only: the
# latency counted from each request's planned send time (docs/benchmark.md).
LATENCIES = (("ttft", "TTFT"), ("sched_ttft", "TTFT (from planned send)"), ("tpot", "TPOT"), ("itl", "ITL"),
             ("e2el", "E2EL"), ("sched_e2el", "E2EL (from planned send)"))
LATENCY_STATS = ("mean", "median", "p95", "p99")


@dataclass(frozen=True)
class MetricRow:
    key: str
    label: str
    unit: str
    values: tuple[float | None, ...]        # per run, baseline first
    differences: tuple[float | None, ...]   # per candidate: candidate - baseline
    ratios: tuple[float | None, ...]        # per candidate: candidate / baseline (None: not a ratio metric)


@dataclass(frozen=True)
class RatioInterval:
    metric: str          # `{stat}_{latency}`, as the gate names it: median_ttft, p95_e2el, ...
    candidate: str       # the candidate's label
    baseline_value_ms: float
    candidate_value_ms: float
    estimate: float
    low: float
    high: float
    baseline_n: int
    candidate_n: int

    @property
    def verdict(self) -> str:
        """Latency ratios: above 1 throughout is slower, below 1 throughout faster."""
        return "slower" if self.low > 1 else "faster" if self.high < 1 else "no clear difference"

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in self.__dataclass_fields__}, "verdict": self.verdict}


@dataclass(frozen=True)
class RunComparison:
    runs: tuple[LoadedRun, ...]
    labels: tuple[str, ...]
    rows: tuple[MetricRow, ...]
    intervals: tuple[RatioInterval, ...]
    skipped: dict[str, str]              # "B median_tpot" -> why that interval is absent
    confidence: float
    resamples: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        candidates = self.labels[1:]
        return {
            "baseline": self.labels[0], "confidence": self.confidence, "resamples": self.resamples, "seed": self.seed,
            "runs": [{"label": label, "path": run.path, "source": SOURCES[run.source],
                      "requests_sampled": run.requests_sampled, "no_samples": run.no_samples}
                     for label, run in zip(self.labels, self.runs)],
            "metrics": [{"metric": r.key, "label": r.label, "unit": r.unit, "values": dict(zip(self.labels, r.values)),
                         "differences": dict(zip(candidates, r.differences)),
                         "ratios": dict(zip(candidates, r.ratios)) if any(v is not None for v in r.ratios) else None}
                        for r in self.rows],
            "intervals": [i.to_dict() for i in self.intervals],
            "skipped": dict(self.skipped),
        }


def _row(key: str, label: str, unit: str, has_ratio: bool, runs: Sequence[LoadedRun]) -> MetricRow:
    values = tuple(run.value(key) for run in runs)
    base = values[0]
    diffs = tuple(None if base is None or v is None else v - base for v in values[1:])
    ratios = tuple(None if not has_ratio or base is None or v is None or base == 0 else v / base
                   for v in values[1:])
    return MetricRow(key, label, unit, values, diffs, ratios)


def metric_rows(runs: Sequence[LoadedRun]) -> list[MetricRow]:
    rows = [_row(key, label, unit, has_ratio, runs) for key, label, unit, has_ratio in SCALARS]
    for name, title in LATENCIES:
        for stat in LATENCY_STATS:
            key = f"{stat}_{name}_ms"
            if any(run.value(key) is not None for run in runs):
                rows.append(_row(key, f"{stat} {title}", "ms", True, runs))
    return rows


def _interval(base: LoadedRun, cand: LoadedRun, label: str, name: str, stat: str, *, confidence: float,
              resamples: int, seed: int) -> RatioInterval:
    metric = f"{stat}_{name}"
    a, b = base.samples.get(name, ()), cand.samples.get(name, ())
    for side, values in (("the baseline", a), (label, b)):
        if not values:
            raise BenchmarkError(f"{side} has no per-request {name.upper()}"
                                 + (" (every answer had one token)" if name == "tpot" else ""))
    r = unpaired_ratio(a, b, stat, confidence=confidence, resamples=resamples, seed=metric_seed(seed, metric))
    return RatioInterval(metric, label, float(statistic(a, stat)), float(statistic(b, stat)), r.estimate, r.low,
                         r.high, len(a), len(b))


def ratio_intervals(runs: Sequence[LoadedRun], labels: Sequence[str], *, confidence: float, resamples: int,
                    seed: int) -> tuple[list[RatioInterval], dict[str, str]]:
    """Every candidate x latency x statistic that both sides' samples allow; the rest with a reason."""
    out: list[RatioInterval] = []
    skipped: dict[str, str] = {}
    base = runs[0]
    for cand, label in zip(runs[1:], labels[1:]):
        lacking = next(((lbl, r.no_samples) for lbl, r in ((labels[0], base), (label, cand)) if r.no_samples), None)
        for name in SAMPLED:
            for stat in STATS:
                key = f"{label} {stat}_{name}"
                if lacking is not None:
                    skipped[key] = f"{lacking[0]} has no per-request samples: {lacking[1]}"
                    continue
                try:
                    out.append(_interval(base, cand, label, name, stat, confidence=confidence,
                                         resamples=resamples, seed=seed))
                except (BenchmarkError, PromotionError) as exc:  # this interval only; the rest still stand
                    skipped[key] = str(exc)
    return out, skipped


def compare_runs(runs: Sequence[LoadedRun], *, confidence: float, resamples: int, seed: int) -> RunComparison:
    if len(runs) < 2:
        raise BenchmarkError(f"compare needs a baseline and at least one more result file, got {len(runs)}")
    if len(runs) > len(ascii_uppercase):
        raise BenchmarkError(f"compare takes at most {len(ascii_uppercase)} result files, got {len(runs)}")
    if not 0 < confidence < 1:
        raise BenchmarkError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence}")
    if resamples < 1:
        raise BenchmarkError(f"resamples must be >= 1, got {resamples}")
    labels = tuple(ascii_uppercase[: len(runs)])
    intervals, skipped = ratio_intervals(runs, labels, confidence=confidence, resamples=resamples, seed=seed)
    return RunComparison(tuple(runs), labels, tuple(metric_rows(runs)), tuple(intervals), skipped, confidence,
                         resamples, seed)
