"""GPUMonitor on this (GPU-less) machine, and against a fake NVML for the GPU path."""

from __future__ import annotations

import sys
import time
import types
from types import SimpleNamespace

import pytest

from logging_lib import GPUMonitor
from logging_lib.schemas import validate_file
from tests.unit.logging_lib.helpers import read_events


def _fake_nvml(power_supported: bool = True) -> types.ModuleType:
    nv = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    nv.NVMLError = NVMLError
    nv.NVML_TEMPERATURE_GPU = 0
    nv.nvmlInit = lambda: None
    nv.nvmlShutdown = lambda: None
    nv.nvmlDeviceGetCount = lambda: 2
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    mib = 1024 * 1024
    nv.nvmlDeviceGetMemoryInfo = lambda h: SimpleNamespace(used=(1000 + h) * mib, total=8000 * mib)
    nv.nvmlDeviceGetUtilizationRates = lambda h: SimpleNamespace(gpu=50 + h)
    nv.nvmlDeviceGetTemperature = lambda h, kind: 60 + h

    def power(h):
        if not power_supported:
            raise NVMLError("Not Supported")
        return 250_000 + h

    nv.nvmlDeviceGetPowerUsage = power
    return nv


def test_without_nvml_logs_one_gpu_unavailable_and_keeps_sampling_the_system(log_dir):
    with GPUMonitor(log_dir=log_dir, interval=0.1) as monitor:
        time.sleep(0.45)
    assert monitor.samples_taken >= 3
    events = read_events(log_dir, "system")
    unavailable = [e for e in events if e["message"] == "gpu_unavailable"]
    system = [e for e in events if e["message"] == "system_metrics"]
    if "pynvml" in sys.modules and monitor.gpu_count:  # pragma: no cover - a GPU machine
        pytest.skip("this machine has a GPU")
    assert len(unavailable) == 1 and unavailable[0]["level"] == "WARNING" and unavailable[0]["reason"]
    assert len(system) == monitor.samples_taken
    s = system[-1]
    assert 0 <= s["cpu_percent"] <= 100 and s["memory_total_mib"] > 0 and 0 < s["memory_percent"] < 100
    assert s["disk_total_gib"] > 0
    assert not [e for e in events if e["level"] == "ERROR"]
    (path,) = (log_dir / "system").glob("*.log")
    assert validate_file(path).ok


def test_stop_monitoring_stops_the_thread_promptly(log_dir):
    monitor = GPUMonitor(log_dir=log_dir, interval=30).start_monitoring()
    time.sleep(0.1)
    t0 = time.monotonic()
    monitor.stop_monitoring()
    assert time.monotonic() - t0 < 1.0
    count = monitor.samples_taken
    time.sleep(0.2)
    assert monitor.samples_taken == count == 1


def test_fake_nvml_gives_per_gpu_metrics_and_skips_unsupported_ones(log_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(power_supported=False))
    monitor = GPUMonitor(log_dir=log_dir, interval=10)
    sample = monitor.log_all_metrics()
    monitor.close()
    assert [g["gpu_id"] for g in sample["gpus"]] == [0, 1]
    gpus = [e for e in read_events(log_dir, "system") if e["message"] == "gpu_metrics"]
    assert gpus[1]["gpu_memory_used"] == 1001 and gpus[1]["gpu_memory_total"] == 8000
    assert gpus[1]["gpu_memory_percent"] == pytest.approx(12.51, abs=0.01)
    assert gpus[1]["gpu_utilization"] == 51 and gpus[1]["temperature"] == 61
    assert "power_watts" not in gpus[1]


def test_fake_nvml_power_in_watts(log_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    monitor = GPUMonitor(log_dir=log_dir, interval=10)
    monitor.log_all_metrics()
    monitor.close()
    gpus = [e for e in read_events(log_dir, "system") if e["message"] == "gpu_metrics"]
    assert gpus[0]["power_watts"] == 250.0


def test_a_failing_sample_is_reported_once_and_monitoring_continues(log_dir, monkeypatch):
    monitor = GPUMonitor(log_dir=log_dir, interval=0.05)
    calls = {"n": 0}
    real = monitor._psutil.virtual_memory

    def flaky():
        calls["n"] += 1
        if calls["n"] % 2:
            raise OSError("proc unreadable")
        return real()

    monkeypatch.setattr(monitor._psutil, "virtual_memory", flaky)
    with monitor:
        time.sleep(0.5)
    events = read_events(log_dir, "system")
    errors = [e for e in events if e["message"] == "monitor_error"]
    assert len(errors) == 1 and "proc unreadable" in errors[0]["error"]
    assert sum(e["message"] == "system_metrics" for e in events) >= 2


def test_bad_interval_is_refused(log_dir):
    with pytest.raises(ValueError, match="interval"):
        GPUMonitor(log_dir=log_dir, interval=0)
