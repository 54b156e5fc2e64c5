"""The benchmark a run measures: the config's benchmark section with a request's overrides
and the held-out set for quality, and the folder its results go to."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from configs.benchmark import BenchmarkConfig
from configs.benchmark_request import BenchmarkRequest
from configs.capacity import CapacityConfig
from configs.errors import ConfigError
from configs.pipeline import PipelineConfig
from tasks.pipeline.run_config import PROJECT_ROOT, resolve_under


def benchmark_config(cfg: PipelineConfig, eval_path: str | None, request: BenchmarkRequest | None = None,
                     measure_quality: bool = True) -> BenchmarkConfig:
    """The config's benchmark section, with the request's overrides and the eval set for quality."""
    updates: dict[str, Any] = dict(request.benchmark_fields()) if request else {}
    if "dataset_path" in updates:
        updates["dataset_path"] = resolve_under(Path(updates["dataset_path"]), PROJECT_ROOT)
    if measure_quality and cfg.benchmark.eval_path is None and eval_path:
        updates["eval_path"] = Path(eval_path)
    if cfg.benchmark.eval_max_tokens is None:  # served answers as long as the trainer's evaluation lets them be
        updates["eval_max_tokens"] = cfg.eval.max_new_tokens
    if not measure_quality:
        updates["eval_path"] = None
    merged = {**cfg.benchmark.model_dump(), **updates}
    return BenchmarkConfig.model_validate(merged)


def result_dir(cfg: PipelineConfig, label: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-") or "run"
    return cfg.paths.data_dir / "benchmarks" / f"{time.strftime('%Y%m%d_%H%M%S', time.gmtime())}_{safe}"


def capacity_config(cfg: PipelineConfig, request: BenchmarkRequest) -> CapacityConfig | None:
    """The sweep a benchmark run asks for: the config's `capacity` section, if the request wants one."""
    if not request.capacity_sweep:
        return None
    if cfg.capacity is None:
        raise ConfigError(f"capacity_sweep needs a `capacity` section with at least one SLO in {request.config_path} "
                          "(or overrides such as capacity.slo_ttft_ms=2000 capacity.max_rate_per_s=16)")
    return cfg.capacity
