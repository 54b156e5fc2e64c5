"""Thin Prefect tasks the pipeline and benchmark flows need besides each stage's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task

from configs.pipeline import PipelineConfig


@task(name="load-config")
def load_config_task(config_path: str, overrides: list[str], flow_run_name: str | None = None) -> PipelineConfig:
    """Validated once, here; a bad file fails the flow before any work with file, field and fix."""
    from configs.loader import load_config
    from tasks.pipeline.run_config import with_run_name

    path = Path(config_path)
    if not path.is_absolute():
        path = Path(__file__).resolve().parents[2] / path
    return with_run_name(load_config(path, overrides), flow_run_name)


@task(name="champion-quality", retries=2, retry_delay_seconds=[2, 10])
def champion_quality_task(tracking_uri: str, name: str, alias: str) -> float | None:
    from tasks.pipeline.run_config import champion_quality

    return champion_quality(tracking_uri, name, alias)


@task(name="record-benchmark", retries=2, retry_delay_seconds=[2, 10])
def record_benchmark_task(tracking_uri: str, name: str, version: str, summary: dict[str, Any],
                          decision: dict[str, Any] | None) -> None:
    from tasks.pipeline.run_config import record_benchmark

    record_benchmark(tracking_uri, name, version, summary, decision)


@task(name="publish-report")
def publish_report_task(summary: dict[str, Any], decision: dict[str, Any] | None, model_ref: str | None,
                        tracking_uri: str, name: str | None, version: str | None, label: str) -> str:
    """A table of the metrics and a markdown report as Prefect artifacts; returns the report path."""
    import orjson
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from tasks.pipeline.run_config import report_markdown

    result = orjson.loads(Path(summary["result_file"]).read_bytes())
    merged = {**{k: v for k, v in result.items() if not isinstance(v, (list, dict))}, **summary}
    keys = ("completed", "failed", "duration", "request_throughput", "output_throughput", "total_token_throughput",
            "mean_ttft_ms", "median_ttft_ms", "p99_ttft_ms", "mean_tpot_ms", "p99_tpot_ms", "mean_itl_ms",
            "p99_itl_ms", "mean_e2el_ms", "p99_e2el_ms", "goodput", "quality")
    rows = [{"metric": k, "value": merged[k]} for k in keys if merged.get(k) is not None]
    key = "".join(c if c.isalnum() else "-" for c in label.lower()).strip("-")[:40] or "benchmark"
    create_table_artifact(rows, key=f"{key}-metrics", description=f"Benchmark metrics: {label}")
    markdown = report_markdown(merged, decision, model_ref, tracking_uri, name=name, version=version)
    create_markdown_artifact(markdown, key=f"{key}-report", description=f"Benchmark report: {label}")
    path = Path(summary["result_file"]).with_name("report.md")
    path.write_text(markdown)
    return str(path)
