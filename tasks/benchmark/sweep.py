"""Capacity at an SLO: the highest request rate at which `attainment` of ALL requests (failed ones
are misses) meet every latency SLO, found by open-loop runs at rates chosen by `sweep_search`.

Each step is one `run_benchmark` at `request_rate=r` with `num_prompts = max(min_requests,
ceil(r * duration_s))` and the bench config's other fields (the same seed each step, so the
arrival pattern is the same one, scaled: steps differ by rate, not by luck). Its attainment is
`goodput.good_fraction` under the sweep's SLOs; `sweep_saturation` judges whether it could be
sustained. The result (`sweep_result.SweepResult`) is written as JSON, and `plot_sweep` draws
attainment and p50/p99 TTFT against rate with the capacity marked, from that same value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig
from logging_lib import InferenceLogger
from tasks.benchmark.bench import run_benchmark
from tasks.benchmark.results import BenchmarkResult
from tasks.benchmark.sweep_result import (LOWER_BOUND, SweepResult, SweepStep, read_sweep, step_line,
                                          write_sweep)
from tasks.benchmark.sweep_saturation import detect_saturation
from tasks.benchmark.sweep_search import search_capacity

__all__ = ["SweepResult", "SweepStep", "plot_sweep", "read_sweep", "run_sweep", "step_config", "step_line",
           "write_sweep"]


def step_config(bench_cfg: BenchmarkConfig, cap: CapacityConfig, rate_per_s: float) -> BenchmarkConfig:
    """The bench config of the step at `rate_per_s`: its rate and size, the sweep's SLOs as goodput."""
    # open loop: a client-side concurrency cap would queue requests before they are sent, so the
    # server's queueing would never show in their latency and the capacity would be overstated
    updates = {"request_rate": rate_per_s, "num_prompts": max(cap.min_requests, math.ceil(rate_per_s * cap.duration_s)),
               "max_concurrency": None,
               **{f"goodput_{name}_ms": None for name in ("ttft", "tpot", "e2el")},
               **{f"goodput_{name}_ms": ms for name, ms in cap.slos_ms().items()}}
    return BenchmarkConfig.model_validate({**bench_cfg.model_dump(), **updates})


def judge_step(result: BenchmarkResult, cap: CapacityConfig, step: int) -> SweepStep:
    """The verdict on one step's run: attainment against the target, and saturation."""
    goodput = result.metrics.goodput
    attainment = goodput.good_fraction if goodput is not None else 0.0
    return SweepStep(step=step, request_rate_per_s=result.request_rate_per_s, slo_attainment=attainment,
                     meets_slo=attainment >= cap.attainment,
                     saturation=detect_saturation(result.requests, result.request_rate_per_s, cap),
                     metrics=result.flat())


def run_sweep(bench_cfg: BenchmarkConfig, cap: CapacityConfig, base_url: str, model: str, *,
              logger: InferenceLogger | None = None, api_key: str | None = None, result_file: Path | None = None,
              progress: Callable[[SweepStep], None] | None = None) -> SweepResult:
    """Search the capacity; write `result_file` if given; return the result."""
    started = datetime.now(timezone.utc)

    def measure(rate: float, step: int) -> SweepStep:
        result = run_benchmark(step_config(bench_cfg, cap, rate), base_url, model, logger=logger, api_key=api_key,
                               check_success=False)  # failed requests are SLO misses, not an error
        judged = judge_step(result, cap, step)
        if progress is not None:
            progress(judged)
        return judged

    found = search_capacity(cap, measure)
    result = SweepResult(max_rate_meeting_slo_per_s=found.passing_rate_per_s,
                         min_rate_missing_slo_per_s=found.failing_rate_per_s, bound=found.bound,
                         stop_reason=found.stop_reason, slos_ms=cap.slos_ms(), attainment_target=cap.attainment,
                         model_id=model, base_url=base_url, date=started.strftime("%Y%m%d-%H%M%S"),
                         settings=cap.model_dump(mode="json"), rows=found.rows)
    if result_file is not None:
        write_sweep(result, Path(result_file))
    return result


def sweep_figure(result: SweepResult) -> Any:
    """Attainment (top) and p50/p99 TTFT (bottom) against rate, log scale; the capacity marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(result.rows, key=lambda r: r.request_rate_per_s)
    rates = [r.request_rate_per_s for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    top.plot(rates, [r.slo_attainment for r in rows], "-", color="#4c72b0")
    for r in rows:
        top.plot(r.request_rate_per_s, r.slo_attainment, "o" if r.passed else "x",
                 color="#2a9d4b" if r.passed else "#c0392b")
    top.axhline(result.attainment_target, color="k", linestyle=":", label=f"target {result.attainment_target:.1%}")
    top.set_ylabel("SLO attainment")
    bottom.plot(rates, [_p50_ttft(r) for r in rows], "o-", label="p50 TTFT")
    bottom.plot(rates, [r.metric("p99_ttft_ms") for r in rows], "s-", label="p99 TTFT")
    if "ttft" in result.slos_ms:
        bottom.axhline(result.slos_ms["ttft"], color="k", linestyle=":", label=f"SLO {result.slos_ms['ttft']:g} ms")
    bottom.set_ylabel("TTFT (ms)")
    bottom.set_xlabel("request rate (requests/s)")
    bottom.set_xscale("log")
    from matplotlib.ticker import FuncFormatter

    for which in ("major", "minor"):  # 40, not 4x10^1
        getattr(bottom.xaxis, f"set_{which}_formatter")(FuncFormatter(lambda v, _: f"{v:g}"))
    cap = result.max_rate_meeting_slo_per_s
    if cap is not None:
        label = f"{'>= ' if result.bound == LOWER_BOUND else ''}{cap:.3g} req/s"
        for ax in (top, bottom):
            ax.axvline(cap, color="#2a9d4b", linestyle="--", label=f"capacity {label}")
    top.legend(fontsize=8)
    bottom.legend(fontsize=8)
    fig.suptitle(f"{result.model_id}: capacity {'none found' if cap is None else label}")
    fig.tight_layout()
    return fig


def _p50_ttft(step: SweepStep) -> float | None:
    value = step.metric("p50_ttft_ms")
    return value if value is not None else step.metric("median_ttft_ms")


def plot_sweep(result: SweepResult, path: Path) -> Path:
    from tasks.benchmark.report import save_figure

    return save_figure(sweep_figure(result), path)
