"""Thin Prefect tasks over tasks.housekeeping.sampling and tasks.housekeeping.retention (prefect is imported here, so the CLI
imports those modules, never this one). Each returns a small JSON-ready dict and sends a
summary to the Prefect run log; the typed-logger events carry the run ids by themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from configs.errors import RetentionError
from configs.retention import RetentionConfig
from configs.sampling import GPUSamplingConfig


@task(name="sample-gpu-metrics", cache_policy=NO_CACHE)
def sample_gpu_task(log_dir: str, config: GPUSamplingConfig) -> dict[str, Any]:
    from tasks.housekeeping.sampling import sample_metrics

    result = sample_metrics(Path(log_dir), config)
    get_run_logger().info("took %d samples of %d GPU(s) and the host over %.1f s into %s",
                          result["samples"], result["gpus"], result["duration_s"], result["log_file"])
    return result


@task(name="archive-old-logs", cache_policy=NO_CACHE)
def retention_task(log_dir: str, config: RetentionConfig, destination_url: str, dry_run: bool = False) -> dict[str, Any]:
    """Transient S3 failures are retried inside (with backoff); a failed run raises RetentionError."""
    from tasks.housekeeping.retention import retention_run

    logger = get_run_logger()
    report = retention_run(Path(log_dir), config, destination_url, dry_run=dry_run, progress=logger.info,
                           on_retry=logger.warning)
    if not report.ok:
        raise RetentionError(report.summary())
    logger.info(report.summary())
    return report.to_dict()
