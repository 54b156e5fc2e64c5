"""The sampler takes one sample per interval for the window, into logs/system/."""

from __future__ import annotations

import json

import pytest

from configs.sampling import GPUSamplingConfig
from tasks.housekeeping.sampling import sample_metrics


class _FakeTime:
    def __init__(self) -> None:
        self.now, self.sleeps = 100.0, []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_one_sample_per_interval_for_the_window(log_dir):
    t = _FakeTime()

    result = sample_metrics(log_dir, GPUSamplingConfig(sample_interval_s=10, window_s=60), sleep=t.sleep, clock=t.clock)

    assert result["samples"] == 6 and t.sleeps == [10.0] * 5
    events = [json.loads(line) for line in open(result["log_file"])]
    assert [e["message"] for e in events].count("system_metrics") == 6
    assert result["log_file"].startswith(str(log_dir / "system" / "gpu_sampling_"))
    if result["gpus"] == 0:  # machines without a GPU say why, once
        assert [e["message"] for e in events].count("gpu_unavailable") == 1


@pytest.mark.gpu
def test_on_a_gpu_machine_every_sample_reports_each_gpu(log_dir):
    t = _FakeTime()

    result = sample_metrics(log_dir, GPUSamplingConfig(sample_interval_s=1, window_s=3), sleep=t.sleep, clock=t.clock)

    events = [json.loads(line) for line in open(result["log_file"])]
    gpu = [e for e in events if e["message"] == "gpu_metrics"]
    assert result["gpus"] >= 1 and len(gpu) == 3 * result["gpus"]
    assert all(e["gpu_memory_total"] > 0 and 0 <= e["gpu_utilization"] <= 100 for e in gpu)
