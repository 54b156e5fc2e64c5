"""Small decisions the flows need, as plain functions: unique run names, the benchmark
config a run uses, the champion's quality, and what a benchmark writes back to the registry."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from configs.benchmark import BenchmarkConfig
from configs.benchmark_request import BenchmarkRequest
from configs.pipeline import PipelineConfig

QUALITY_TAG = "bench_quality"
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # relative paths in a request mean this checkout


def with_run_name(cfg: PipelineConfig, flow_run_name: str | None) -> PipelineConfig:
    """A run folder per flow run: a Prefect retry of the same run resumes its checkpoints,
    while the next nightly run starts fresh instead of resuming a finished run."""
    if not flow_run_name:
        return cfg
    suffix = re.sub(r"[^A-Za-z0-9._-]+", "-", flow_run_name).strip("-")
    return cfg.model_copy(update={"train": cfg.train.model_copy(update={"run_name": f"{cfg.train.run_name}-{suffix}"})})


def benchmark_config(cfg: PipelineConfig, eval_path: str | None, request: BenchmarkRequest | None = None,
                     measure_quality: bool = True) -> BenchmarkConfig:
    """The config's benchmark section, with the request's overrides and the eval set for quality."""
    updates: dict[str, Any] = dict(request.benchmark_fields()) if request else {}
    if "dataset_path" in updates:
        updates["dataset_path"] = resolve_under(Path(updates["dataset_path"]), PROJECT_ROOT)
    if measure_quality and cfg.benchmark.eval_path is None and eval_path:
        updates["eval_path"] = Path(eval_path)
    if not measure_quality:
        updates["eval_path"] = None
    merged = {**cfg.benchmark.model_dump(), **updates}
    return BenchmarkConfig.model_validate(merged)


def resolve_under(path: Path, root: Path) -> Path:
    return path if path.is_absolute() else (root / path).resolve()


def result_dir(cfg: PipelineConfig, label: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "run"
    return cfg.paths.data_dir / "benchmarks" / f"{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_{safe}"


def champion_quality(tracking_uri: str, name: str, alias: str = "champion") -> float | None:
    """The benchmark quality recorded on the current champion, if there is one."""
    from tasks.registry.versions import client_for, get_alias_version

    version = get_alias_version(tracking_uri, name, alias)
    if version is None:
        return None
    tags = client_for(tracking_uri).get_model_version(name, version).tags
    try:
        return float(tags[QUALITY_TAG])
    except (KeyError, ValueError):
        return None


def record_benchmark(tracking_uri: str, name: str, version: str, summary: dict[str, Any],
                     decision: dict[str, Any] | None) -> None:
    """Benchmark headline numbers and the gate's verdict as tags on the model version."""
    from tasks.registry.versions import client_for

    client = client_for(tracking_uri)
    tags = {f"bench_{k}": v for k, v in summary.items()
            if k in ("quality", "p99_ttft_ms", "median_e2el_ms", "request_throughput", "completed", "failed")
            and v is not None}
    tags["bench_result_file"] = summary.get("result_file")
    if decision is not None:
        tags["gate_passed"] = decision["passed"]
        tags["gate_summary"] = decision["summary"][:4000]
    for key, value in tags.items():
        if value is not None:
            # repr() keeps every digit: the next candidate is compared against this exact value
            client.set_model_version_tag(name, version, key, repr(value) if isinstance(value, float) else str(value))


def report_markdown(summary: dict[str, Any], decision: dict[str, Any] | None, model_ref: str | None,
                    tracking_uri: str, ui_url: str | None = None, name: str | None = None,
                    version: str | None = None) -> str:
    lines = ["# Benchmark report", ""]
    if model_ref:
        link = (f"[{model_ref}]({ui_url.rstrip('/')}/#/models/{name}/versions/{version})"
                if ui_url and name and version else f"`{model_ref}`")
        lines.append(f"Model: {link} (MLflow tracking: `{tracking_uri}`)")
    lines += ["", "| metric | value |", "|---|---|"]
    for key in ("completed", "failed", "request_throughput", "output_throughput", "p99_ttft_ms", "median_ttft_ms",
                "median_tpot_ms", "median_e2el_ms", "quality"):
        if summary.get(key) is not None:
            value = summary[key]
            lines.append(f"| {key} | {value:.4g} |" if isinstance(value, float) else f"| {key} | {value} |")
    lines += ["", f"Result JSON: `{summary.get('result_file')}`", f"Latency plot: `{summary.get('plot_file')}`"]
    if decision is not None:
        verdict = "PASSED: promoted to champion" if decision.get("promoted") else (
            "PASSED" if decision["passed"] else f"FAILED ({', '.join(decision['failed'])}); stays candidate")
        lines += ["", f"## Promotion gate: {verdict}", "", decision["summary"]]
    return "\n".join(lines) + "\n"
