"""GPU and host sampling for a fixed window: what the `gpu-sampling` flow runs.

Samples are taken on the calling thread (not GPUMonitor's background thread), so each event
carries the run context of its caller, Prefect flow/task run ids included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from configs.sampling import GPUSamplingConfig


def sample_metrics(
    log_dir: Path,
    config: GPUSamplingConfig,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Sample every `sample_interval_s` for `window_s` into `<log_dir>/system/`; return a small summary."""
    from logging_lib import GPUMonitor

    monitor = GPUMonitor(str(log_dir), interval=config.sample_interval_s, name=config.monitor_name)
    try:
        start = clock()
        n = 0
        while True:
            monitor.log_all_metrics()
            n += 1
            next_at = start + n * config.sample_interval_s
            if next_at - start >= config.window_s:
                break
            sleep(max(0.0, next_at - clock()))
        gpus = monitor.gpu_count
        path = str(monitor.system.path)
    finally:
        monitor.close()
    return {"samples": monitor.samples_taken, "gpus": gpus, "log_file": path,
            "duration_s": round(clock() - start, 3)}
