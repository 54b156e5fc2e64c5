"""Scheduled housekeeping: `gpu-sampling` and `log-retention` (deployed from deployments/prefect.yaml)."""

from __future__ import annotations

from typing import Any

from prefect import flow

from configs.retention import RetentionConfig
from configs.sampling import GPUSamplingConfig
from logging_lib import resolve_log_dir
from tasks.housekeeping.tasks import retention_task, sample_gpu_task


@flow(name="gpu-sampling")
def gpu_sampling(sampling: GPUSamplingConfig = GPUSamplingConfig(), log_dir: str | None = None) -> dict[str, Any]:
    """Sample GPU and host metrics every `sample_interval_s` for `window_s` into `<log_dir>/system/`.

    Args:
        sampling: interval and window of the sampling.
        log_dir: log root; empty: $MLOPS_LOG_DIR, else ./logs of the working directory.
    """
    return sample_gpu_task(str(resolve_log_dir(log_dir)), sampling)


@flow(name="log-retention")
def log_retention(retention: RetentionConfig = RetentionConfig(), log_dir: str | None = None,
                  dry_run: bool = False) -> dict[str, Any]:
    """Archive logs older than `retention_days` to the destination, verify, then delete them locally.

    Args:
        retention: retention age, destination URL, backup pruning.
        log_dir: log root; empty: $MLOPS_LOG_DIR, else ./logs of the working directory.
        dry_run: list what would happen and change nothing.
    """
    return retention_task(str(resolve_log_dir(log_dir)), retention, retention.destination_url(), dry_run)
