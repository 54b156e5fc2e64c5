"""Thin Prefect tasks around a benchmark run and its report."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from prefect import task

from configs.benchmark import BenchmarkConfig
from configs.capacity import CapacityConfig


@task(name="benchmark", retries=1, retry_delay_seconds=[5])  # safe: a retry rewrites the same result files
def benchmark_task(cfg: BenchmarkConfig, base_url: str, model: str, result_file: str, log_dir: str | None = None,
                   api_key: str | None = None, base_model: str | None = None,
                   champion_model: str | None = None) -> dict[str, Any]:
    """Run the load (plus quality, tuned and `base_model`, when cfg.eval_path is set); write the
    result JSON, `quality_items.jsonl` and the plot; return the headline numbers
    (`results.HEADLINE_METRICS`) and the file paths. With `champion_model` (its served name) the
    champion answers the same eval items too (`champion_*` columns of the per-item file)."""
    from logging_lib import InferenceLogger
    from tasks.benchmark.bench import run_benchmark
    from tasks.benchmark.quality import ITEMS_FILE, evaluate_quality
    from tasks.benchmark.report import plot_latencies

    run_id = uuid.uuid4().hex  # one per attempt: a retry's requests never reuse a first attempt's ids
    quality = None
    if cfg.eval_path is not None:
        quality = evaluate_quality(cfg.eval_path, base_url, model, base_model=base_model, run_id=run_id,
                                   items_file=Path(result_file).with_name(ITEMS_FILE),
                                   max_examples=cfg.eval_max_examples, endpoint=cfg.endpoint,
                                   others={"champion": champion_model} if champion_model else None,
                                   max_tokens=cfg.quality_max_tokens(), api_key=api_key,
                                   concurrency=cfg.max_concurrency or cfg.eval_max_examples)  # the server batches them
    with InferenceLogger("benchmark", log_dir) as logger:
        result = run_benchmark(cfg, base_url, model, logger=logger, api_key=api_key, quality=quality,
                               result_file=Path(result_file), run_id=run_id)
    plot = plot_latencies(result, Path(result_file).with_suffix(".png"))
    return {**result.headline(), "result_file": result_file, "plot_file": str(plot)}


@task(name="capacity-sweep")  # no retry: a rerun repeats every step (minutes of load)
def capacity_sweep_task(bench_cfg: BenchmarkConfig, cap: CapacityConfig, base_url: str, model: str,
                        result_file: str, log_dir: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """The highest rate meeting the SLO (`max_rate_meeting_slo`, requests/s, None when none did),
    the sweep JSON and its plot (beside it, .png), and how many rates were tried."""
    from logging_lib import InferenceLogger
    from tasks.benchmark.sweep import plot_sweep, run_sweep

    with InferenceLogger("benchmark", log_dir) as logger:
        result = run_sweep(bench_cfg, cap, base_url, model, logger=logger, api_key=api_key,
                           result_file=Path(result_file))
    plot = plot_sweep(result, Path(result_file).with_suffix(".png"))
    return {"max_rate_meeting_slo": result.max_rate_meeting_slo_per_s, "bound": result.bound,
            "result_file": result_file, "plot_file": str(plot), "steps": len(result.rows)}


@task(name="publish-report")
def publish_report_task(summary: dict[str, Any], decision: dict[str, Any] | None, model_ref: str | None,
                        tracking_uri: str, name: str | None, version: str | None, label: str,
                        head_to_head: dict[str, Any] | None = None) -> str:
    """Metrics table, markdown report and (head to head) the comparison table as Prefect
    artifacts; returns the report file's path."""
    from tasks.benchmark.publish import publish_report

    return publish_report(summary, decision, model_ref, tracking_uri, name, version, label, head_to_head)
